/// Standard attention (FlashAttention paper, Algorithm 0) as three kernels:
/// 1. S = QKᵀ: a row tile Qᵢ resident, Kⱼ streamed, each S tile written to HBM;
/// 2. P = softmax(S) row by row: when a row of S (Nk elements in the dtype) fits in M it is read
///    once and normalised in place into P; otherwise an online max-and-sum pass and a normalising
///    pass read it twice (the statistics stay in registers), in chunks as large as M holds;
/// 3. O = PV: P tiles and Vⱼ streamed, Oᵢ accumulated on chip and written once.
/// Every tile is computed even when causal (the mask is applied in the softmax), so the counts
/// depend neither on `--causal` nor on Bc. S and P are stored in the output dtype (bf16 for fp8).
///
/// Footprint: max(s·(Br·d + Bc·d) + 4·Br·Bc, s·(Br·Bc + Bc·d) + 4·Br·d), the larger GEMM kernel,
/// plus 4 bytes per resident Q, K or V tile scale in fp8.
/// Closed form: reads Nd + 2·Tr·Nk·d + 2·N·Nk (3·N·Nk when a row does not fit), writes 2·N·Nk + Nd.
public enum StandardSchedule: Schedule {
    public static let kind = ScheduleKind.standard
    public static var launch: LaunchTraits { LaunchTraits(model: .bulk) }
    /// S and P live in HBM.
    public static func extraDataValues(_ p: AttentionProblem) -> Double { 2 * Double(p.n) * Double(p.nk) }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        let t = tiles.clamped(to: p), s = p.dtype.size, so = Format.output.bytes(p.dtype)
        return max(
            s * (t.br * p.d + t.bc * p.d) + 4 * t.br * t.bc + Footprint.scales(2, p),
            so * t.br * t.bc + s * t.bc * p.d + 4 * t.br * p.d + Footprint.scales(1, p))
    }

    /// Whether one row of S fits in SRAM (equality fits).
    public static func rowFits(_ p: AttentionProblem, capacity: Int) -> Bool {
        p.nk * Format.output.bytes(p.dtype) <= capacity
    }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d
        let fits = rowFits(p, capacity: m.capacity)
        // A streamed row goes through in the largest chunks that fit.
        let chunk = max(1, m.capacity / Format.output.bytes(p.dtype)), chunks = (p.nk + chunk - 1) / chunk
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            // Kernel 1: S = QKᵀ, one CTA per row tile.
            m.kernel("scores", ctas: t.tr(p) * p.instances)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p)
                try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                try m.tiles(0..<t.tc(p), uniformBelow: p.nk / t.bc) { m, j throws(SimulationError) in
                    let cols = t.cols(j, p)
                    try m.load(.K, instance: kv, rows: cols, cols: d, format: .input, into: .k)
                    try m.alloc(.s, rows: rows.count, cols: cols.count, format: .fp32)
                    try m.scores(.q, .k, into: .s, rows: rows, cols: cols, masked: false)
                    try m.store(.S, instance: inst, rows: rows, cols: cols, format: .output, from: .s)
                    m.free(.s)
                    m.free(.k)
                }
                m.free(.q)
            }
            // Kernel 2: P = softmax(S), one row at a time (a CTA per row).
            m.kernel("softmax", ctas: p.n * p.instances)
            // Every row moves the same chunks, so the rows are one uniform loop.
            try m.uniform(0..<p.n) { m, r throws(SimulationError) in
                let row = r..<r + 1
                if fits {
                    try m.load(.S, instance: inst, rows: row, cols: 0..<p.nk, format: .output, into: .row)
                    try m.compute(.rowSoftmax(row: .row, r: r))
                    try m.store(.P, instance: inst, rows: row, cols: 0..<p.nk, format: .output, from: .row)
                    m.free(.row)
                    return
                }
                for j in 0..<chunks {
                    let cols = j * chunk..<min((j + 1) * chunk, p.nk)
                    try m.load(.S, instance: inst, rows: row, cols: cols, format: .output, into: .row)
                    try m.compute(.rowStatistics(row: .row, r: r, cols: cols, first: j == 0))
                    m.free(.row)
                }
                for j in 0..<chunks {
                    let cols = j * chunk..<min((j + 1) * chunk, p.nk)
                    try m.load(.S, instance: inst, rows: row, cols: cols, format: .output, into: .row)
                    try m.compute(.rowNormalize(row: .row, r: r, cols: cols))
                    try m.store(.P, instance: inst, rows: row, cols: cols, format: .output, from: .row)
                    m.free(.row)
                }
            }
            // Kernel 3: O = PV, one CTA per row tile.
            m.kernel("pv", ctas: t.tr(p) * p.instances)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p)
                try m.accumulatePV(t, instance: inst, kvInstance: kv, rows: rows, block: d, columnTiles: TileRuns(0..<t.tc(p)))
                try m.store(.O, instance: inst, rows: rows, cols: d, format: .output, from: .acc)
                m.free(.acc)
            }
        }
    }
}

extension ScheduleKind {
    public static let standard = ScheduleKind(named: "standard")
}
