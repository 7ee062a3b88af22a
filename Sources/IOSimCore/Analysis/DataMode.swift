import AttentionReference
import Foundation

/// Runs a schedule in data mode and returns what it computed, with its counts.
public enum DataMode {
    public struct Outcome: Sendable {
        /// O in `[batch, heads, N, d]` order, and the LSE where the schedule produces one
        /// (fa2 and fa3 write it; fa1's is m + log ℓ from its HBM statistics; small-m and
        /// standard have none: empty).
        public var result: AttentionResult<Double>
        public var counts: TrafficCounts
        /// dQ (the user's `[batch, heads, Nq, d]`), dK and dV (`[batch, kv_heads, Nk, d]`) after a
        /// backward or training run; nil after a forward.
        public var gradients: AttentionGradients<Double>?
    }

    /// Bytes a data-mode run would hold in memory: Q, K, V, O and statistics (and S, P for the
    /// standard schedule) in 8-byte values, with room for the reference check's own copies.
    /// (In a Double: at the limits of ``Limits`` the product leaves Int64, and it only has to be
    /// compared with the machine's memory.)
    public static func memoryEstimate(_ kind: ScheduleKind, _ p: AttentionProblem, pass: Pass = .forward) -> Double {
        let (n, nk, d) = (Double(p.n), Double(p.nk), Double(p.d))
        // A backward run holds its forward's values too (it runs the forward first).
        let extra = [Pass.forward, .backward].filter { $0 == .forward || pass != .forward }
            .map { kind.implementation(for: $0)?.extraDataValues(p) ?? 0 }.reduce(0, +)
        let perInstance = 4 * n * d + 2 * nk * d + 4 * n + extra
        return 8 * 2 * perInstance * Double(p.instances)
    }

    /// Refuses, before allocating anything, a problem that would need more memory than this
    /// process may use (``MemoryBudget``: half the machine, free memory, its ulimits and cgroup)
    /// (``SimulationError/dataModeMemory(schedule:neededBytes:availableBytes:)``).
    public static func checkMemory(_ kind: ScheduleKind, _ p: AttentionProblem, pass: Pass = .forward) throws(SimulationError) {
        let need = memoryEstimate(kind, p, pass: pass), have = MemoryBudget.current()
        if need > Double(have.bytes) { throw .dataModeMemory(schedule: kind, neededBytes: need, availableBytes: have.bytes) }
    }

    /// Data mode runs one problem: a batch of `--lengths` would run every sequence at one length.
    static func checkOneLength(_ p: AttentionProblem) throws(SimulationError) {
        guard p.lengthGroups == nil else {
            throw .invalid("data mode runs one problem, not a batch of sequence lengths; run one length at a time")
        }
        if p.varlenParts != nil {
            throw .invalid("data mode runs one problem, not varlen documents; --packing mask computes the same values")
        }
        if p.blockParts != nil {
            throw .invalid("data mode runs one block-mask plane; give a mask shared by every head (one plane)")
        }
    }

    /// fp8 inputs as a schedule sees them: dequantized e4m3 values with one scale per tensor or per
    /// loaded tile (Br rows of Q, Bc rows of K and V).
    public static func fp8Inputs(
        _ p: AttentionProblem, tiles: KernelConfig, q: [Double], k: [Double], v: [Double],
        scaling: FP8Scaling
    ) -> (q: [Double], k: [Double], v: [Double]) {
        let t = tiles.clamped(to: p)
        return (
            FP8Quantizer.quantize(q, rows: p.n, d: p.d, scaling: scaling, blockRows: t.br),
            FP8Quantizer.quantize(k, rows: p.nk, d: p.d, scaling: scaling, blockRows: t.bc),
            FP8Quantizer.quantize(v, rows: p.nk, d: p.d, scaling: scaling, blockRows: t.bc)
        )
    }

    /// `q`, `k`, `v` must already be in the problem dtype (for fp8: from ``fp8Inputs``).
    public static func run(
        _ kind: ScheduleKind, _ problem: AttentionProblem, capacity: Int, tiles: KernelConfig,
        q: [Double], k: [Double], v: [Double], scale: Double? = nil,
        progress: ((Double) -> Void)? = nil
    ) throws(SimulationError) -> Outcome {
        guard let entry = ScheduleRegistry.entry(kind) else { throw .invalid("\(kind.rawValue) is not a registered schedule") }
        try checkOneLength(problem)
        try checkMemory(kind, problem)
        let p = problem.scheduled, tiles = tiles.clamped(to: problem.scheduled)
        let expected = ClosedForm.traffic(kind, p, tiles, capacity: capacity)?.hbm.reads ?? 0
        if p.dtype == .fp64 {
            var m = DataMachine<Double>(problem: p, capacity: capacity, q: q, k: k, v: v, scale: scale)
            (m.progress, m.expectedReads, m.partitions) = (progress, expected, entry.type.partialSlots(p, tiles))
            try entry.doubleRun(&m, tiles)
            progress?(1)
            return outcome(kind, m.hbm, m.counts)
        }
        var m = DataMachine<Float>(problem: p, capacity: capacity, q: q, k: k, v: v, scale: scale)
        (m.progress, m.expectedReads, m.partitions) = (progress, expected, entry.type.partialSlots(p, tiles))
        try entry.floatRun(&m, tiles)
        progress?(1)
        return outcome(kind, m.hbm, m.counts)
    }

    /// A backward (or training) run: the schedule's forward on `q`, `k`, `v` writes O and the
    /// statistics its backward reads (under `forwardTiles`; in a backward-only run with an SRAM
    /// that holds them, its counts are not reported), then `dO` is placed in HBM and the backward
    /// runs under M = `capacity` with `tiles`. `dO` must already be in the output dtype.
    public static func runBackward(
        _ kind: ScheduleKind, _ problem: AttentionProblem, capacity: Int, pass: Pass, forwardTiles: KernelConfig,
        tiles: KernelConfig, q: [Double], k: [Double], v: [Double], dO: [Double], scale: Double? = nil,
        progress: ((Double) -> Void)? = nil
    ) throws(SimulationError) -> Outcome {
        guard let forward = ScheduleRegistry.entry(kind), let backward = ScheduleRegistry.backwardEntry(kind) else {
            throw .invalid("\(kind.rawValue) has no backward schedule")
        }
        try checkOneLength(problem)
        try checkMemory(kind, problem, pass: pass)
        let p = problem.scheduled
        let (ft, bt) = (forwardTiles.clamped(to: p), tiles.clamped(to: p))
        // The forward of a backward-only run is the backward's input, not part of what it counts.
        let forwardCapacity = pass == .training ? capacity : Int.max / 4
        let expected = ClosedForm.traffic(kind, p, bt, capacity: capacity, pass: .backward)?.hbm.reads ?? 0
        func go<A: BLASScalar>(
            _ m: inout DataMachine<A>, _ f: (inout DataMachine<A>, KernelConfig) throws(SimulationError) -> Void,
            _ b: (inout DataMachine<A>, KernelConfig) throws(SimulationError) -> Void
        ) throws(SimulationError) -> Outcome {
            m.partitions = forward.type.partialSlots(p, ft)
            try f(&m, ft)
            let forwardCounts = m.counts
            m.place(.dO, dO)
            m.restartCounting(capacity: capacity)
            (m.progress, m.expectedReads) = (progress, expected)
            try b(&m, bt)
            progress?(1)
            var out = outcome(kind, m.hbm, pass == .training ? try forwardCounts.adding(m.counts) : m.counts)
            func values(_ t: Tensor) -> [Double] { (m.hbm[t] ?? []).map { Double($0) } }
            out.gradients = AttentionGradients(dq: values(.dQ), dk: values(.dK), dv: values(.dV))
            return out
        }
        if p.dtype == .fp64 {
            var m = DataMachine<Double>(problem: p, capacity: forwardCapacity, q: q, k: k, v: v, scale: scale)
            return try go(&m, forward.doubleRun, backward.doubleRun)
        }
        var m = DataMachine<Float>(problem: p, capacity: forwardCapacity, q: q, k: k, v: v, scale: scale)
        return try go(&m, forward.floatRun, backward.floatRun)
    }

    static func outcome<A: BLASScalar>(_ kind: ScheduleKind, _ hbm: [Tensor: [A]], _ counts: TrafficCounts) -> Outcome {
        let o = (hbm[.O] ?? []).map { Double($0) }
        var lse: [Double] = []
        if let stored = hbm[.LSE] {
            lse = stored.map { Double($0) }
        } else if let m = hbm[.m], let l = hbm[.l] {
            lse = zip(m, l).map { m, l in l == 0 ? -.infinity : Double(m) + Double.log(Double(l)) }
        }
        // small-m writes ℓ = Σ exp(S) without a max subtracted, so log ℓ carries exp's rounding
        // (about one fp32 ulp, relative) at every |LSE|: below |LSE| ≈ 1 that is more than the
        // rule's 2 ulps of the LSE itself. Its algorithm has no LSE output; none is reported.
        return Outcome(result: AttentionResult(o: o, lse: lse), counts: counts)
    }
}
