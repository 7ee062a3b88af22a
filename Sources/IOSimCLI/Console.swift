import ArgumentParser
import Foundation
import IOSim
import Synchronization

/// Where the command line writes: the process's standard output and error, or, while a command
/// runs in-process (``IOSimCommand/runInProcess(_:)``, for tests), that run's own buffers. Every
/// line iosim prints goes through here, so that a run in a test sees exactly what a user would.
enum Console {
    /// The two streams of one in-process run.
    final class Capture: Sendable {
        private let streams = Mutex((out: "", err: ""))
        var out: String { streams.withLock { $0.out } }
        var err: String { streams.withLock { $0.err } }
        func write(out text: String) { streams.withLock { $0.out += text } }
        func write(err text: String) { streams.withLock { $0.err += text } }
    }

    /// The capture of the run in progress on this task, if it runs in-process.
    @TaskLocal static var capture: Capture?

    /// `Swift.print` of one value to standard output.
    static func print(_ item: Any, terminator: String = "\n") {
        guard let capture else { return Swift.print(item, terminator: terminator) }
        capture.write(out: "\(item)" + terminator)
    }

    /// Text to standard error as it is (progress lines rewrite themselves with `\r`).
    static func error(_ text: String) {
        guard let capture else { return FileHandle.standardError.write(Data(text.utf8)) }
        capture.write(err: text)
    }
}

/// Writes one line to standard error, with any control character in it (from a file name or a
/// file's contents echoed in the message) escaped so that the line stays one line and cannot
/// drive the terminal.
func printError(_ line: String) {
    Console.error(TerminalText.escape(line) + "\n")
}

extension IOSimCommand {
    /// Parses and runs `arguments` in this process, its output captured rather than printed,
    /// and returns what `iosim` would have exited with and printed: the same parse, the same
    /// exit statuses and error lines as ``runMain(_:)``, without starting a process (tests).
    /// Interrupt handling is the process's own and is not installed.
    public static func runInProcess(_ arguments: [String]) -> (status: Int32, out: String, err: String) {
        let capture = Console.Capture()
        let status = Console.$capture.withValue(capture) { execute(arguments) }
        return (status, capture.out, capture.err)
    }

    /// The subcommand `arguments` name first, if any (nil: the default, simulate).
    static func subcommand(of arguments: [String]) -> String? {
        arguments.first.flatMap { subcommandNames.contains($0) ? $0 : nil }
    }
}
