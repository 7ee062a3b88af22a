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
                  error, data mode refusing a problem larger than the memory this
                  process may use: half the machine, free memory, ulimit -v/-d,
                  cgroup limits)
              130, 143  interrupted (Ctrl-C, SIGTERM): one line, no output half-written
            Every error is one line on standard error, starting "iosim: ".
            """,
        version: Resources.version,
        subcommands: [
            Simulate.self, Sweep.self, Verify.self, Attention.self, Check.self, Compare.self, FP8Error.self, Report.self, KVMemory.self,
        ],
        defaultSubcommand: Simulate.self
    )

    public init() {}

    /// Parses and runs; any error becomes at most one line on stderr (the parser's usage text is
    /// left out) and the exit status ``ExitStatus/of(_:command:parserCode:parserMessage:)`` gives it.
    /// Help and `--version` print as usual and exit 0.
    public static func runMain(_ arguments: [String]? = nil) -> Never {
        Interrupts.install()
        Foundation_exit(execute(arguments ?? Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses and runs `arguments`, writing through ``Console``; returns the exit status. The one
    /// path of both the process (``runMain(_:)``) and the tests' in-process runs
    /// (``runInProcess(_:)``).
    static func execute(_ arguments: [String]) -> Int32 {
        if let word = arguments.first, let message = unknownSubcommand(word) {
            printError("iosim: " + message)
            return ExitStatus.usage
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return ExitStatus.success
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit {
                // Help and --version: the parser's text on standard output.
                Console.print(fullMessage(for: error))
                return code.rawValue
            }
            let (status, line) = ExitStatus.of(error, command: subcommand(of: arguments), parserCode: code) { message(for: error) }
            if let line { printError(line) }
            return status
        }
    }
}

extension IOSimCommand {

    /// The subcommands' names, and `help`.
    static var subcommandNames: [String] { configuration.subcommands.map { $0._commandName } + ["help"] }

    /// A first argument that is a word but no subcommand: `simulate` (the default) takes no
    /// positional argument, so it is a mistyped subcommand; the message suggests the closest.
    static func unknownSubcommand(_ word: String) -> String? {
        guard !word.hasPrefix("-"), !subcommandNames.contains(word) else { return nil }
        let ranked = subcommandNames.map { ($0, editDistance(word.lowercased(), $0)) }.sorted { $0.1 < $1.1 }
        let guess = ranked.first.flatMap { $0.1 <= max(2, word.count / 3) ? $0.0 : nil }
        return "unknown subcommand '\(word)'" + (guess.map { "; did you mean '\($0)'?" } ?? "")
            + " (subcommands: \(subcommandNames.joined(separator: ", ")); without one, iosim runs simulate)"
    }

    /// Levenshtein distance between two short words.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(1, b.count) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

func Foundation_exit(_ code: Int32) -> Never { exit(code) }

/// A failure found while running (a check that failed, a file that cannot be written, nothing
/// able to run): one line on stderr and exit 1. Mistakes on the command line are `ValidationError`s
/// thrown from `validate()` instead (exit 64).
struct RunFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
