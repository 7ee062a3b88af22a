import AttentionReference
import Foundation
import IOSim

/// Data-mode runs on seeded random inputs, checked against the reference (DESIGN §7).
enum Check {
    struct Report {
        var schedule: ScheduleKind
        var equivalence: EquivalenceReport
        var counts: TrafficCounts
    }

    /// Seeded random Q, K and V (all of Q, then K, then V, from one 64-bit LCG stream), drawn from
    /// `distribution` (see ``InputDistribution``). `uniform` is the generator verify always had: the
    /// same seed gives the same inputs as before `--inputs` existed.
    static func inputs(_ p: AttentionProblem, seed: UInt64, distribution: InputDistribution = .normal)
        -> (q: [Double], k: [Double], v: [Double]) {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        func bits() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        /// Uniform in (0, 1), never 0 (for the logarithm).
        func open01() -> Double { (Double(bits()) + 0.5) / Double(1 << 53) }
        /// Standard normal (Box–Muller).
        func normal() -> Double { (-2 * log(open01())).squareRoot() * cos(2 * .pi * open01()) }
        let (qCount, kvCount) = (p.instances * p.n * p.d, p.batch * p.kvHeads * p.nk * p.d)
        switch distribution {
        case .uniform:
            func next() -> Double { Double(bits()) / Double(1 << 53) * 2 - 1 }
            let q = (0..<qCount).map { _ in next() }
            let k = (0..<kvCount).map { _ in next() }
            let v = (0..<kvCount).map { _ in next() }
            return (q, k, v)
        case .normal:
            let q = (0..<qCount).map { _ in InputDistribution.normalScoreStd * normal() }
            let k = (0..<kvCount).map { _ in normal() }
            let v = (0..<kvCount).map { _ in normal() }
            return (q, k, v)
        case .outliers:
            func next() -> Double { normal() + (open01() < 0.001 ? 10 * normal() : 0) }
            let q = (0..<qCount).map { _ in next() }
            let k = (0..<kvCount).map { _ in next() }
            let v = (0..<kvCount).map { _ in next() }
            return (q, k, v)
        }
    }

    /// Runs the schedule in data mode on seeded inputs without the reference check (for timing
    /// the data path alone); returns its counts.
    static func runUnchecked(_ r: ScheduleResult, _ p: AttentionProblem, capacity: Int, seed: UInt64,
                             inputs distribution: InputDistribution = .normal) throws -> TrafficCounts {
        try execute(r, p, capacity: capacity, seed: seed, distribution: distribution).out.counts
    }

    private static func execute(_ r: ScheduleResult, _ p: AttentionProblem, capacity: Int, seed: UInt64,
                                distribution: InputDistribution) throws
        -> (out: DataMode.Outcome, q: [Double], k: [Double], v: [Double]) {
        guard let tiles = r.tiles else { throw RunFailure("\(r.kind.rawValue) is infeasible: \(r.reason ?? "")") }
        try DataMode.checkMemory(r.kind, p)
        var (q, k, v) = inputs(p, seed: seed, distribution: distribution)
        let prec = p.dtype.precision
        if p.dtype == .fp8 {
            // fp8 tiles carry their scales (DESIGN §6): block quantization at the schedule's tiles.
            (q, k, v) = DataMode.fp8Inputs(p, tiles: tiles, q: q, k: k, v: v, scaling: .perBlock)
            let out = try DataMode.run(r.kind, p, capacity: capacity, tiles: tiles, q: q, k: k, v: v,
                                       progress: Progress.timed(r.kind.rawValue))
            return (out, q, k, v)
        }
        let out = try DataMode.run(r.kind, p, capacity: capacity, tiles: tiles, q: prec.round(q), k: prec.round(k), v: prec.round(v),
                                   progress: Progress.timed(r.kind.rawValue))
        return (out, q, k, v)
    }

    static func run(_ r: ScheduleResult, _ p: AttentionProblem, capacity: Int, seed: UInt64,
                    inputs distribution: InputDistribution = .normal) throws -> Report {
        let (out, q, k, v) = try execute(r, p, capacity: capacity, seed: seed, distribution: distribution)
        let prec = p.dtype.precision
        let shape = AttentionShape(batch: p.batch, heads: p.heads, kvHeads: p.kvHeads, nq: p.n, nk: p.nk, d: p.d)
        let report = try Equivalence.checkForward(candidate: out.result, q: q, k: k, v: v, shape: shape,
                                                  mask: p.mask, precision: prec,
                                                  roundInputs: p.dtype != .fp8)
        return Report(schedule: r.kind, equivalence: report, counts: out.counts)
    }

    static func json(_ r: Report) -> JSON {
        func cmp(_ c: Comparison) -> JSON {
            .object([("max_abs_error", .double(c.maxAbsError)), ("allowed", .double(c.allowed)),
                     ("baseline_error", .double(c.baselineError)), ("atol", .double(c.atol)), ("passed", .bool(c.passed))])
        }
        var f: [(String, JSON)] = [("passed", .bool(r.equivalence.passed)), ("O", cmp(r.equivalence.output))]
        if let l = r.equivalence.lse { f.append(("LSE", cmp(l))) }
        return .object(f)
    }
}
