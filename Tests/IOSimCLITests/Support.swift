import Foundation
import IOSimCLI
// The CLI tests run `iosim` in-process where they can (`CLI.run`: the same parse, exit statuses
// and output, no process started), and the built binary through TestSupport's `Repo` where the
// process itself is what they test: exit on a signal, crashes, the environment, the working
// folder (ExitCodeTests, ReliabilityCLITests, FirstContactTests, and runs with `in:` or
// `environment:`).
@_exported import TestSupport

/// `iosim` run in this process (``IOSimCommand/runInProcess(_:)``): its exit status, standard
/// output and standard error, as `Repo.run` returns them for the binary.
/// With `IOSIM_TEST_SPAWN=1` it runs the binary instead, to time the two ways against each other
/// (docs/ARCHITECTURE.md, "Tests").
enum CLI {
    static let spawns = ProcessInfo.processInfo.environment["IOSIM_TEST_SPAWN"] == "1"

    static func run(_ arguments: [String]) -> (status: Int32, out: String, err: String) {
        guard spawns else { return IOSimCommand.runInProcess(arguments) }
        do { return try Repo.run(arguments) } catch { return (-1, "", "\(error)") }
    }
}
