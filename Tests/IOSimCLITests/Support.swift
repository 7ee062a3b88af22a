import Foundation

/// The repository this test file is in, and the `iosim` binary built with these tests.
enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `$IOSIM_BINARY` when set; else the `iosim` beside the running test bundle (so that
    /// `swift build --scratch-path X` tests X's binary); else `.build/debug/iosim` of the checkout.
    static let iosim: URL = {
        if let path = ProcessInfo.processInfo.environment["IOSIM_BINARY"] { return URL(fileURLWithPath: path) }
        // The test bundle: on Linux the running .xctest executable; on macOS the .xctest bundle
        // that holds this class (its runner, Bundle.main, lives in Xcode).
        let places = [Bundle(for: BundleToken.self).bundleURL, Bundle.main.bundleURL,
                      URL(fileURLWithPath: Swift.CommandLine.arguments.first ?? "")]
        for place in places.map({ $0.resolvingSymlinksInPath() }) where place.path != "/" {
            // The bundle's folder (the bundle itself when it is one: Linux's Bundle.main).
            for folder in [place.deletingLastPathComponent(), place] {
                let candidate = folder.appendingPathComponent("iosim")
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue,
                   FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            }
        }
        return root.appendingPathComponent(".build/debug/iosim")
    }()

    private final class BundleToken {}

    /// Runs the built `iosim` (in `directory`, default the current one); returns (status, stdout, stderr).
    static func run(_ args: [String], in directory: URL? = nil) throws -> (status: Int32, out: String, err: String) {
        let proc = Process()
        proc.executableURL = iosim
        proc.arguments = args
        if let directory { proc.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        proc.standardOutput = out
        proc.standardError = err
        try proc.run()
        // stderr is read on another thread so that a chatty stderr cannot block the child.
        nonisolated(unsafe) var errData = Data()
        let reader = Thread { errData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        proc.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return (proc.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// A fresh temporary folder.
    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("iosim-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
