import ArgumentParser

/// Every exit status iosim uses, and which error gives which, in one place (docs/cli.md §4).
enum ExitStatus {
    static let success: Int32 = 0
    /// A check that failed (`check`, `verify`, data mode), no schedule able to run, a failure while
    /// running (a file that cannot be read or written, a model file with an error, a refusal for memory).
    static let failure: Int32 = 1
    /// Bad input to `check` and `compare`, which CI scripts tell apart from a failed check.
    static let badInput: Int32 = 2
    /// The subcommands whose every bad input, the parser's refusals included, is ``badInput``:
    /// `check` runs in users' CI, which branches on 0, 1 and 2 alone.
    static let badInputOnly: Set<String> = ["check"]
    /// A usage error: the argument parser's own code (EX_USAGE) for parse and `validate()` errors.
    static let usage: Int32 = ExitCode.validationFailure.rawValue
    // Interrupts (128 + the signal: 130, 143) are decided where they are caught: NpyIO's Interrupts.

    /// The status for an error that ended a run, and the line to print (nil: none, the run's output
    /// already said it).
    /// `command` is the subcommand that was run (nil: the default).
    static func of(_ error: any Error, command: String?, parserCode: ExitCode, parserMessage: () -> String) -> (status: Int32, line: String?) {
        switch error {
        case let e as BadInput: return (badInput, "iosim: \(e.command): \(e.message)")
        case is FailedCheck: return (failure, nil)
        default:
            var message = parserMessage()
            // iosim's own errors are one line already (a newline in one comes from the user's text,
            // a path say, and printError escapes it); the parser's may add usage lines.
            for marker in ["\nUsage:", "\nHelp:", "\nSee '"] {
                if let cut = message.range(of: marker) { message = String(message[..<cut.lowerBound]) }
            }
            if message.hasPrefix("Error: ") { message.removeFirst("Error: ".count) }
            if let command, badInputOnly.contains(command), parserCode == ExitCode.validationFailure {
                return (badInput, "iosim: \(command): " + message)
            }
            return (parserCode.rawValue == 0 ? failure : parserCode.rawValue, "iosim: " + message)
        }
    }
}

/// Bad input to `check` or `compare`: one line naming the subcommand, exit 2.
struct BadInput: Error {
    var command: String
    var message: String
}

/// A check whose report (already printed) says it failed: exit 1 and no further line.
struct FailedCheck: Error {}
