import ArgumentParser
import Foundation
import IOSim
import NpyIO

/// The `iosim` root command: `simulate` runs when no subcommand is named.
public struct IOSimCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "iosim",
        abstract: "HBM↔SRAM traffic of tiled attention schedules, their I/O lower bound, and an exact attention reference.",
        discussion: """
            Examples:
              iosim --N 4096 --M 100KB
              iosim --N 4096 --d 128 --M 228KiB --schedule fa2 --format json
              iosim sweep --N 1K...64K --M 100KB --schedule fa2
              iosim verify --N 300 --d 64 --M 64KiB --dtype fp16 --causal
              iosim attention --q q.npy --k k.npy --v v.npy --out o.npy --lse lse.npy --causal

            Exit codes:
              0   success (help and --version too)
              64  a usage error: an unknown flag or value, a missing or malformed
                  value, a value out of range or inconsistent with another (the
                  argument parser's own code for its validation errors)
              1   a failed check (verify or --mode data found a mismatch, or verify
                  checked nothing), no schedule able to run, or a runtime failure
                  (a file that cannot be read or written, a model file with an
                  error, data mode refusing a problem larger than memory)
            Every error is one line on standard error, starting "iosim: ".
            """,
        version: Resources.version,
        subcommands: [
            Simulate.self, Sweep.self, Verify.self, Attention.self, CheckCommand.self, Compare.self, FP8Error.self, Report.self, KVMemory.self,
        ],
        defaultSubcommand: Simulate.self
    )

    public init() {}

    /// Parses and runs; any error becomes one line on stderr (the parser's usage text is left out)
    /// and a non-zero exit: the parser's own code for usage errors (`ExitCode.validationFailure`,
    /// EX_USAGE = 64: parse errors and `ValidationError`s from `validate()`), 1 for everything else
    /// (``RunFailure``, file and model errors). Help and `--version` print as usual and exit 0.
    public static func runMain(_ arguments: [String]? = nil) -> Never {
        Interrupts.install()
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Foundation_exit(0)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit { exit(withError: error) }
            var message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            printError("iosim: " + message)
            Foundation_exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}

/// Writes one line to standard error, with any control character in it (from a file name or a
/// file's contents echoed in the message) escaped so that the line stays one line and cannot
/// drive the terminal.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((TerminalText.escape(line) + "\n").utf8))
}

func Foundation_exit(_ code: Int32) -> Never { exit(code) }

/// A failure found while running (a check that failed, a file that cannot be written, nothing
/// able to run): one line on stderr and exit 1. Mistakes on the command line are `ValidationError`s
/// thrown from `validate()` instead (exit 64).
struct RunFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
