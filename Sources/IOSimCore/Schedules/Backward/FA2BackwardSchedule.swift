/// FlashAttention-2's backward as its implementation runs it (the `seqk_parallel` kernels,
/// docs/counting-rules.md §8a), which moves fewer bytes than the paper's Algorithm 2 (that one also loads Oᵢ and
/// reads dQᵢ per pair):
/// 1. `preprocess`, a CTA per row tile: load Oᵢ, dOᵢ; write Dᵢ = rowsum(dOᵢ ∘ Oᵢ) (fp32) and zeros
///    to the fp32 dQ accumulator;
/// 2. `main`, a CTA per column tile j with the row tiles inner: load Kⱼ, Vⱼ once; per live pair
///    load Qᵢ, dOᵢ, LSEᵢ, Dᵢ, compute P = exp(S − LSEᵢ), dVⱼ += PᵀdOᵢ, dP = dOᵢVⱼᵀ,
///    dS = P ∘ (dP − Dᵢ), dKⱼ += dSᵀQᵢ, and add dS·Kⱼ into the dQ accumulator with atomics
///    (``TileMachine/reduce(_:instance:rows:cols:format:from:)``); write dKⱼ, dVⱼ once (zeros
///    for a column tile no row sees, which loads nothing);
/// 3. `convert`, a CTA per row tile: the fp32 accumulator becomes dQᵢ in the dtype.
///
/// Footprint: s·(2·Bc·d + 2·Br·d) + 4·(2·Bc·d + Br·d + 2·Br + 2·Br·Bc) (the main kernel's).
/// Closed form (non-causal, per head): reads 5Nd + Tc·(2Nd + 2N), writes N + 4Nd + Tc·Nd.
///
/// SRAM side: each GEMM splits its output's rows over the warps (split-Q for S, dP and the dQ
/// partial; the columns of P and dS for dVⱼ and dKⱼ), so every warp reads all of the other
/// shared operand (docs/counting-rules.md).
public enum FA2BackwardSchedule: Schedule {
    public static let kind = ScheduleKind.fa2
    public static var pass: Pass { .backward }
    public static var launch: LaunchTraits { LaunchTraits(timeModel: false) }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        BackwardSupport.fa2Footprint(tiles.clamped(to: p), p)
    }

    /// FlashAttention's rule (Algorithm 4 line 1, the same as its forward's).
    public static func paperTiles(_ p: AttentionProblem, capacity: Int) -> KernelConfig? { fa1PaperTiles(p, capacity: capacity) }

    public static func extraDataValues(_ p: AttentionProblem) -> Double { BackwardSupport.gradientValues(p) }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d, one = 0..<1
        try BackwardSupport.check(p, kind)
        m.partition(.splitQ(t.warps))
        // GQA (FlashAttention-3's backward): the query heads of a group add their dKⱼ, dVⱼ into
        // fp32 accumulators of their KV head with atomics; preprocess zeroes them and convert
        // turns them into the dtype. Without GQA dKⱼ, dVⱼ are stored once, in the dtype.
        let gqa = p.heads != p.kvHeads, kvInstances = p.batch * p.kvHeads
        m.kernel("preprocess", ctas: t.tr(p) * p.instances)
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            try m.tiles(0..<t.tr(p), uniformBelow: p.n / t.br) { m, i throws(SimulationError) in
                let rows = t.rows(i, p)
                try m.load(.O, instance: inst, rows: rows, cols: d, format: .output, into: .o)
                try m.load(.dO, instance: inst, rows: rows, cols: d, format: .output, into: .dO)
                try m.alloc(.delta, rows: rows.count, cols: 1, format: .fp32)
                try m.compute(.rowDot(a: .dO, b: .o, into: .delta))
                try m.store(.D, instance: inst, rows: rows, cols: one, format: .fp32, from: .delta)
                try m.alloc(.dq, rows: rows.count, cols: p.d, format: .fp32)
                try m.compute(.fill(.dq, 0))
                try m.store(.dQ, instance: inst, rows: rows, cols: d, format: .fp32, from: .dq)
                m.free(.o); m.free(.dO); m.free(.delta); m.free(.dq)
            }
        }
        if gqa {
            try m.uniform(0..<kvInstances) { m, kv throws(SimulationError) in
                try m.tiles(0..<t.tc(p), uniformBelow: p.nk / t.bc) { m, j throws(SimulationError) in
                    let cols = t.cols(j, p)
                    try m.alloc(.dk, rows: cols.count, cols: p.d, format: .fp32)
                    try m.compute(.fill(.dk, 0))
                    try m.store(.dK, instance: kv, rows: cols, cols: d, format: .fp32, from: .dk)
                    try m.store(.dV, instance: kv, rows: cols, cols: d, format: .fp32, from: .dk)
                    m.free(.dk)
                }
            }
        }
        m.kernel("main", ctas: t.tc(p) * p.instances)
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            func column(_ m: inout Machine, _ j: Int) throws(SimulationError) {
                let cols = t.cols(j, p), live = t.liveRowTiles(j, p)
                try m.startColumn(cols.count)
                if !live.isEmpty {
                    try m.load(.K, instance: kv, rows: cols, cols: d, format: .input, into: .k)
                    try m.load(.V, instance: kv, rows: cols, cols: d, format: .input, into: .v)
                    try m.tiles(live, uniformBelow: p.n / t.br) { m, i throws(SimulationError) in
                        let rows = t.rows(i, p)
                        try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                        try m.load(.dO, instance: inst, rows: rows, cols: d, format: .output, into: .dO)
                        try m.load(.LSE, instance: inst, rows: rows, cols: one, format: .fp32, into: .lse)
                        try m.load(.D, instance: inst, rows: rows, cols: one, format: .fp32, into: .delta)
                        try m.gradientBlock(rows: rows, cols: cols, fromLSE: true)
                        try m.alloc(.dq, rows: rows.count, cols: p.d, format: .fp32)
                        try m.compute(.gemm(a: .dp, b: .k, c: .dq, transB: false, scaled: true, accumulate: false))
                        try m.reduce(.dQ, instance: inst, rows: rows, cols: d, format: .fp32, from: .dq)
                        m.free(.q); m.free(.dO); m.free(.lse); m.free(.delta); m.free(.s); m.free(.dp); m.free(.dq)
                    }
                    m.free(.k)
                    m.free(.v)
                }
                if gqa {
                    // A column no row of this head sees adds nothing to the group's sums.
                    if !live.isEmpty {
                        try m.reduce(.dK, instance: kv, rows: cols, cols: d, format: .fp32, from: .dk)
                        try m.reduce(.dV, instance: kv, rows: cols, cols: d, format: .fp32, from: .dv)
                    }
                    m.free(.dk)
                    m.free(.dv)
                } else {
                    try m.storeColumn(kvInstance: kv, cols: cols)
                }
            }
            // Without a mask every column tile sees every row tile: its full tiles are uniform.
            if p.causal {
                for j in 0..<t.tc(p) { try column(&m, j) }
            } else {
                try m.tiles(0..<t.tc(p), uniformBelow: p.nk / t.bc, column)
            }
        }
        m.kernel("convert", ctas: t.tr(p) * p.instances + (gqa ? t.tc(p) * kvInstances : 0))
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            try m.tiles(0..<t.tr(p), uniformBelow: p.n / t.br) { m, i throws(SimulationError) in
                let rows = t.rows(i, p)
                try m.load(.dQ, instance: inst, rows: rows, cols: d, format: .fp32, into: .dq)
                try m.store(.dQ, instance: inst, rows: rows, cols: d, format: .output, from: .dq)
                m.free(.dq)
            }
        }
        if gqa {
            try m.uniform(0..<kvInstances) { m, kv throws(SimulationError) in
                try m.tiles(0..<t.tc(p), uniformBelow: p.nk / t.bc) { m, j throws(SimulationError) in
                    let cols = t.cols(j, p)
                    for tensor in [Tensor.dK, .dV] {
                        try m.load(tensor, instance: kv, rows: cols, cols: d, format: .fp32, into: .dk)
                        try m.store(tensor, instance: kv, rows: cols, cols: d, format: .output, from: .dk)
                        m.free(.dk)
                    }
                }
            }
        }
    }
}

extension TileMachine {
    /// Allocates column tile j's fp32 dKⱼ, dVⱼ accumulators (`cols` rows) at zero.
    @inline(__always)
    mutating func startColumn(_ cols: Int) throws(SimulationError) {
        try alloc(.dk, rows: cols, cols: problem.d, format: .fp32)
        try alloc(.dv, rows: cols, cols: problem.d, format: .fp32)
        try compute(.fill(.dk, 0))
        try compute(.fill(.dv, 0))
    }

    /// Writes dKⱼ, dVⱼ once in the dtype and frees the accumulators.
    @inline(__always)
    mutating func storeColumn(kvInstance kv: Int, cols: Range<Int>) throws(SimulationError) {
        let d = 0..<problem.d
        try store(.dK, instance: kv, rows: cols, cols: d, format: .output, from: .dk)
        try store(.dV, instance: kv, rows: cols, cols: d, format: .output, from: .dv)
        free(.dk)
        free(.dv)
    }

    /// The backward's work on one live pair, shared by fa1 and fa2 (Algorithm 4 lines 11–20):
    /// with Qᵢ, Kⱼ, Vⱼ, dOᵢ and Dᵢ resident, the dK/dV accumulators allocated, and either LSEᵢ
    /// (`fromLSE`) or ℓᵢ, mᵢ loaded: S, P, dVⱼ += PᵀdOᵢ, dP = dOᵢVⱼᵀ, dS = P ∘ (dP − Dᵢ) (left in
    /// `dp`, P in `s`, both allocated for the caller to free), dKⱼ += scale·dSᵀQᵢ.
    @inline(__always)
    mutating func gradientBlock(rows: Range<Int>, cols: Range<Int>, fromLSE: Bool) throws(SimulationError) {
        try alloc(.s, rows: rows.count, cols: cols.count, format: .fp32)
        try scores(.q, .k, into: .s, rows: rows, cols: cols, masked: true)
        try compute(fromLSE ? .probabilities(scores: .s, lse: .lse) : .probabilitiesFromStatistics(scores: .s, max: .m, sum: .l))
        try compute(.gemmTransA(a: .s, b: .dO, c: .dv, scaled: false, accumulate: true, roundA: true))
        try alloc(.dp, rows: rows.count, cols: cols.count, format: .fp32)
        try compute(.gemm(a: .dO, b: .v, c: .dp, transB: true, scaled: false, accumulate: false))
        try compute(.softmaxGradient(p: .s, dp: .dp, delta: .delta))
        try compute(.gemmTransA(a: .dp, b: .q, c: .dk, scaled: true, accumulate: true, roundA: false))
    }
}
