import Foundation

/// Where iosim's data files (Models, Notebooks, Reports/gpu) are found from any working directory.
public enum Resources {
    /// The version `iosim --version` prints.
    public static let version = "0.5.0"

    /// Folders that may be the repository root, nearest first: the real executable's folder and
    /// its four parents (a build in `.build/<triple>/<config>/iosim` sits four levels below the
    /// checkout), then the checkout this file was compiled in.
    public static func installRoots() -> [String] {
        var roots: [String] = []
        var exe = executableURL().deletingLastPathComponent()
        for _ in 0..<5 {
            roots.append(exe.path)
            exe = exe.deletingLastPathComponent()
        }
        // Sources/IOSim/Hardware/Resources.swift → the checkout.
        var source = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { source = source.deletingLastPathComponent() }
        roots.append(source.path)
        var seen = Set<String>()
        return roots.filter { seen.insert($0).inserted }
    }

    /// The first root holding `relative` (a file or folder), if any.
    public static func locate(_ relative: String) -> String? {
        installRoots().map { $0 + "/" + relative }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The running executable, symlinks resolved (Linux: /proc/self/exe; else argv[0]).
    static func executableURL() -> URL {
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: target)
        }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
    }
}
