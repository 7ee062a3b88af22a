import Foundation

/// The repository this test file is in, and the `iosim` binary `swift build` made there.
enum Repo {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let iosim = root.appendingPathComponent(".build/debug/iosim")

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
