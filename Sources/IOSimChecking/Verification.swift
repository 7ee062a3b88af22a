import AttentionReference
import Foundation
import IOSimCore

/// The distribution of the seeded random Q, K and V that data-mode verification runs on.
public enum InputDistribution: String, CaseIterable, Sendable {
    /// Q ~ N(0, 1.5²), K, V ~ N(0, 1): the scores scale·q·k (scale = 1/√d) have standard deviation
    /// 1.5, so a row's top scores stand out, the running maximum moves from tile to tile and the
    /// online softmax's rescale factors are far from 1 (a wrong rescale shows).
    case normal
    /// Q, K, V uniform in [−1, 1]: scores of standard deviation 1/3, an almost flat softmax.
    case uniform
    /// N(0, 1) plus N(0, 10²) on 0.1% of the entries (FlashAttention-3's outlier features).
    case outliers

    /// Standard deviation of the scores scale·q·k (scale = 1/√d) under `normal`.
    public static let normalScoreStd = 1.5
}

/// Data-mode verification: a schedule runs on seeded random inputs through the simulated SRAM
/// (``DataMode``), and its O and LSE are checked against the exact reference with the tolerance
/// rule (`Equivalence.checkForward`, docs/numerics.md).
public enum Verification {
    /// What a data-mode run needs of a counted schedule: which one, which pass, and its tiles.
    public struct Run: Sendable {
        public var kind: ScheduleKind
        public var pass: Pass
        /// The forward's tiles (the only ones in `forward`).
        public var tiles: KernelConfig
        /// The backward's tiles in `backward` and `training`; nil: `tiles`.
        public var backwardTiles: KernelConfig?

        public init(kind: ScheduleKind, pass: Pass, tiles: KernelConfig, backwardTiles: KernelConfig? = nil) {
            (self.kind, self.pass, self.tiles, self.backwardTiles) = (kind, pass, tiles, backwardTiles)
        }
    }

    /// One schedule's verdict: the reference comparison and the counts data mode saw (equal to
    /// count mode's).
    public struct Report: Sendable {
        public var schedule: ScheduleKind
        /// O and LSE (in a backward run, those of the forward the backward started from).
        public var equivalence: EquivalenceReport
        public var counts: TrafficCounts
        /// dQ, dK, dV against the reference gradients (rtol 3) after a backward or training run.
        public var gradients: BackwardEquivalenceReport?

        public init(schedule: ScheduleKind, equivalence: EquivalenceReport, counts: TrafficCounts, gradients: BackwardEquivalenceReport? = nil) {
            self.schedule = schedule
            self.equivalence = equivalence
            self.counts = counts
            self.gradients = gradients
        }

        /// Every check passed.
        public var passed: Bool { equivalence.passed && (gradients?.passed ?? true) }
    }

    /// The seeded upstream gradient dO of a backward run, N(0, 1) in the user's `[batch, heads,
    /// Nq, d]` layout, from its own stream (Q, K and V stay what they are for the seed).
    public static func upstreamGradient(_ p: AttentionProblem, seed: UInt64) -> [Double] {
        var state = seed ^ 0xD0_D0D0_D0D0_D0D0 &+ 0x9E37_79B9_7F4A_7C15
        func open01() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        return (0..<p.instances * p.n * p.d).map { _ in (-2 * log(open01())).squareRoot() * cos(2 * .pi * open01()) }
    }

    /// Seeded random Q, K and V (all of Q, then K, then V, from one 64-bit LCG stream), in the
    /// user's `[batch, heads, Nq, d]` and `[batch, kv_heads, Nk, d]` layouts, drawn from
    /// `distribution`. `uniform` is the generator verify always had: the same seed gives the same
    /// inputs as before the distributions existed.
    ///
    /// With a shared prefix of P tokens (`--shared-prefix`), every sequence's first P rows of K and
    /// of V are the first sequence's (the batch really shares a system prompt); the draws are the
    /// same, so P = 0 gives the inputs it always gave.
    public static func inputs(_ p: AttentionProblem, seed: UInt64, distribution: InputDistribution = .normal)
        -> (q: [Double], k: [Double], v: [Double])
    {
        var (q, k, v) = drawn(p, seed: seed, distribution: distribution)
        let prefix = p.sharedPrefix * p.d, perSequence = p.kvHeads * p.nk * p.d
        if prefix > 0 {
            for b in 1..<max(1, p.batch) {
                for h in 0..<p.kvHeads {
                    let (src, dst) = (h * p.nk * p.d, b * perSequence + h * p.nk * p.d)
                    k.replaceSubrange(dst..<dst + prefix, with: k[src..<src + prefix])
                    v.replaceSubrange(dst..<dst + prefix, with: v[src..<src + prefix])
                }
            }
        }
        return (q, k, v)
    }

    /// The seeded draws of ``inputs(_:seed:distribution:)`` before a shared prefix is copied.
    package static func drawn(_ p: AttentionProblem, seed: UInt64, distribution: InputDistribution)
        -> (q: [Double], k: [Double], v: [Double])
    {
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

    /// Runs schedule `kind` for `pass` (its forward `tiles`, and in training or backward its
    /// `backwardTiles`) in data mode on seeded inputs and checks O and LSE
    /// against the reference. Throws ``SimulationError`` when the schedule cannot run or cannot
    /// compute its values (``SimulationError/infeasible(_:)`` for a result without tiles,
    /// ``SimulationError/dataModeMemory(schedule:neededBytes:availableBytes:)`` before allocating
    /// a problem too large, small-m's exp overflowing, …), and the reference's `AttentionError`
    /// when the reference cannot run.
    public static func run(
        _ result: Run, _ p: AttentionProblem, capacity: Int, seed: UInt64,
        inputs distribution: InputDistribution = .normal,
        progress: ((Double) -> Void)? = nil
    ) throws -> Report {
        let (out, q, k, v) = try execute(
            result, p, capacity: capacity, seed: seed, distribution: distribution,
            progress: progress)
        let shape = AttentionShape(batch: p.batch, heads: p.heads, kvHeads: p.kvHeads, nq: p.nq, nk: p.nk, d: p.d)
        let report = try Equivalence.checkForward(
            candidate: out.result, q: q, k: k, v: v, shape: shape,
            mask: p.mask, precision: p.dtype.precision,
            roundInputs: p.dtype != .fp8)
        var gradients: BackwardEquivalenceReport?
        if let g = out.gradients {
            gradients = try Equivalence.checkBackward(
                candidate: g, q: q, k: k, v: v, dO: upstreamGradient(p, seed: seed), shape: shape, mask: p.mask,
                precision: p.dtype.precision)
        }
        return Report(schedule: result.kind, equivalence: report, counts: out.counts, gradients: gradients)
    }

    /// Runs the schedule in data mode on the same seeded inputs without the reference check (to
    /// time the data path alone); returns its counts.
    public static func runUnchecked(
        _ result: Run, _ p: AttentionProblem, capacity: Int, seed: UInt64,
        inputs distribution: InputDistribution = .normal,
        progress: ((Double) -> Void)? = nil
    ) throws(SimulationError) -> TrafficCounts {
        try execute(result, p, capacity: capacity, seed: seed, distribution: distribution, progress: progress).out.counts
    }

    /// The data-mode run and the inputs as the schedule saw them (rounded to the dtype by the
    /// reference check itself, except fp8's, which are already the dequantized tile values).
    private static func execute(
        _ r: Run, _ p: AttentionProblem, capacity: Int, seed: UInt64,
        distribution: InputDistribution, progress: ((Double) -> Void)?
    ) throws(SimulationError)
        -> (out: DataMode.Outcome, q: [Double], k: [Double], v: [Double])
    {
        let tiles = r.tiles
        try DataMode.checkMemory(r.kind, p, pass: r.pass)
        var (q, k, v) = inputs(p, seed: seed, distribution: distribution)
        if r.pass != .forward {
            let prec = p.dtype.precision
            let out = try DataMode.runBackward(
                r.kind, p, capacity: capacity, pass: r.pass, forwardTiles: tiles, tiles: r.backwardTiles ?? tiles,
                q: prec.round(q), k: prec.round(k), v: prec.round(v),
                dO: p.dtype.outputPrecision.round(upstreamGradient(p, seed: seed)), progress: progress)
            return (out, q, k, v)
        }
        if p.dtype == .fp8 {
            // fp8 tiles carry their scales: block quantization at the schedule's tiles.
            (q, k, v) = DataMode.fp8Inputs(p, tiles: tiles, q: q, k: k, v: v, scaling: .perBlock)
            let out = try DataMode.run(r.kind, p, capacity: capacity, tiles: tiles, q: q, k: k, v: v, progress: progress)
            return (out, q, k, v)
        }
        let prec = p.dtype.precision
        let out = try DataMode.run(
            r.kind, p, capacity: capacity, tiles: tiles, q: prec.round(q), k: prec.round(k),
            v: prec.round(v), progress: progress)
        return (out, q, k, v)
    }
}
