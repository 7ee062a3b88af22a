import Foundation

/// The repository these tests are in: its folders, the `iosim` binary built with them, and
/// running programs. Every path of the test targets starts here (one `#filePath`).
public enum Repo {
    /// The checkout's root (this file is `Tests/TestSupport/Repo.swift`).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A path relative to the root, e.g. `url("Reports/gpu/traffic.csv")`.
    public static func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }

    /// The same, as a file-system path.
    public static func path(_ relativePath: String) -> String { url(relativePath).path }

    /// `Models/` (hardware and workload files).
    public static let models = url("Models")

    /// `Models/hardware/<name>.json`, e.g. `hardwareModel("h100-sxm")`.
    public static func hardwareModel(_ name: String) -> URL { models.appendingPathComponent("hardware/\(name).json") }

    /// `Models/workloads/<name>.json`.
    public static func workloadModel(_ name: String) -> URL { models.appendingPathComponent("workloads/\(name).json") }

    /// `Reports/gpu/` (measurements and recordings from the GPU).
    public static let gpuReports = url("Reports/gpu")

    /// The `iosim` binary: `$IOSIM_BINARY` when set; else the `iosim` beside the running test
    /// bundle (so that `swift build --scratch-path X` tests X's binary); else `.build/debug/iosim`.
    public static let iosim: URL = {
        if let path = ProcessInfo.processInfo.environment["IOSIM_BINARY"] { return URL(fileURLWithPath: path) }
        // The test bundle: on Linux the running .xctest executable; on macOS the .xctest bundle
        // that holds this class (its runner, Bundle.main, lives in Xcode).
        let places = [
            Bundle(for: BundleToken.self).bundleURL, Bundle.main.bundleURL,
            URL(fileURLWithPath: CommandLine.arguments.first ?? ""),
        ]
        for place in places.map({ $0.resolvingSymlinksInPath() }) where place.path != "/" {
            // The bundle's folder (the bundle itself when it is one: Linux's Bundle.main).
            for folder in [place.deletingLastPathComponent(), place] {
                let candidate = folder.appendingPathComponent("iosim")
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory),
                    !isDirectory.boolValue, FileManager.default.isExecutableFile(atPath: candidate.path)
                {
                    return candidate
                }
            }
        }
        return url(".build/debug/iosim")
    }()

    private final class BundleToken {}

    /// Runs the built `iosim` (in `directory`, default the current one); returns its status and
    /// its stdout and stderr as text.
    public static func run(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:])
        throws -> (status: Int32, out: String, err: String)
    {
        let r = try execute(arguments, in: directory, environment: environment)
        return (r.status, r.out, r.err)
    }

    /// Runs the built `iosim`; the whole output, stdout as bytes.
    public static func execute(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:])
        throws -> ProcessOutput
    {
        try runProcess(iosim, arguments, in: directory, environment: environment)
    }

    /// A fresh folder under the temporary directory (not removed: see `TemporaryFolder`).
    public static func tempDir(prefix: String = "iosim-test") throws -> URL {
        try TemporaryFolder(prefix: prefix).url
    }
}

/// What a finished process left: its exit status (or signal), stdout and stderr.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: Data
    public var out: String { String(decoding: stdout, as: UTF8.self) }
    public var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs `executable` to completion; `environment` is added to this process's own.
public func runProcess(
    _ executable: URL, _ arguments: [String], in directory: URL? = nil,
    environment: [String: String] = [:]
) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // stderr is read on another thread so that a chatty stderr cannot block the child.
    let errors = DataBox(), reader = err.fileHandleForReading, group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errors.data = reader.readDataToEndOfFile() }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    group.wait()
    return ProcessOutput(status: process.terminationStatus, stdout: stdout, stderr: errors.data)
}

/// Runs a program found on `PATH` (through `/usr/bin/env`).
public func runTool(
    _ name: String, _ arguments: [String], in directory: URL? = nil,
    environment: [String: String] = [:]
) throws -> ProcessOutput {
    try runProcess(URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments, in: directory, environment: environment)
}

private final class DataBox: @unchecked Sendable {
    var data = Data()  // written by one thread, read after `group.wait()`
}

/// A fresh folder under the temporary directory; `remove()` deletes it with its contents.
public struct TemporaryFolder: Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(prefix: String = "iosim-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the folder.
    public func file(_ name: String) -> String { path + "/" + name }

    /// The names in the folder (empty when it cannot be read).
    public var contents: Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []) }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}
