import ArgumentParser
import Foundation
import IOSim

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
        """,
        version: Resources.version,
        subcommands: [Simulate.self, Sweep.self, Verify.self, Attention.self, FP8Error.self, Report.self],
        defaultSubcommand: Simulate.self
    )

    public init() {}

    /// Parses and runs; any error becomes one line on stderr and a non-zero exit
    /// (help and `--version` print as usual).
    public static func runMain(_ arguments: [String]? = nil) -> Never {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Foundation_exit(0)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit { exit(withError: error) }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            printError("iosim: " + message.replacingOccurrences(of: "Error: ", with: ""))
            Foundation_exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}

/// Writes one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

func Foundation_exit(_ code: Int32) -> Never { exit(code) }

/// A user mistake the tool reports in one line.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
