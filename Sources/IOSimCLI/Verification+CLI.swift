import AttentionReference
import IOSim

/// The command line's side of data-mode verification (`Verification`, in IOSimChecking, does the
/// work): progress on stderr, the library's errors in the command line's words, and the JSON of a
/// report.
extension Verification {
    /// ``Verification/run(_:_:capacity:seed:inputs:progress:)`` with a progress line on stderr
    /// for a long run.
    static func runShowingProgress(
        _ r: ScheduleResult, _ p: AttentionProblem, capacity: Int, seed: UInt64,
        inputs: InputDistribution = .normal
    ) throws -> Verification.Report {
        try Verification.run(r, p, capacity: capacity, seed: seed, inputs: inputs, progress: Progress.timed(r.kind.rawValue))
    }

    /// The data-mode run alone (`--no-check`); its counts. A failure is a run failure in the
    /// command line's words.
    static func runUncheckedShowingProgress(_ r: ScheduleResult, _ p: AttentionProblem, capacity: Int, seed: UInt64) throws -> TrafficCounts {
        try Wording.running {
            try Verification.runUnchecked(r, p, capacity: capacity, seed: seed, progress: Progress.timed(r.kind.rawValue))
        }
    }

    static func json(_ r: Report) -> JSON {
        func cmp(_ c: Comparison) -> JSON {
            .object([
                ("max_abs_error", .number(c.maxAbsError)), ("allowed", .number(c.allowed)),
                ("baseline_error", .number(c.baselineError)), ("atol", .number(c.atol)), ("passed", .bool(c.passed)),
                ("reason", c.failure.map(JSON.string) ?? .null),
            ])
        }
        var f: [(String, JSON)] = [("passed", .bool(r.passed)), ("O", cmp(r.equivalence.output))]
        if let l = r.equivalence.lse { f.append(("LSE", cmp(l))) }
        if let g = r.gradients { f += [("dQ", cmp(g.dq)), ("dK", cmp(g.dk)), ("dV", cmp(g.dv))] }
        return .object(f)
    }
}
