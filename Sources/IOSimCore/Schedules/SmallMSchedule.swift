/// Saha & Ye's algorithm for small SRAM, M < d² ("The I/O Complexity of Attention, or How Optimal
/// is FlashAttention?", ICML 2024): standard attention blocked on all three dimensions. With tiles
/// of B rows of Q, B rows of K/V and B columns of d:
/// 1. A = exp(scale·QKᵀ) tile by tile — each A tile is a sum over d-blocks of Qᵢ,ₖKⱼ,ₖᵀ — with the
///    row sums of A kept on chip for the row tile; A goes to HBM (as tensor `P`, in the output
///    dtype), the row sums too (`l`);
/// 2. O = D⁻¹·A·V tile by tile: for each row tile and d-block, A tiles and V tiles stream through
///    one fp32 accumulator, which is divided by the row sums and written once.
/// No row max is subtracted (the paper's algorithm has none); data mode reports an overflow as an
/// error instead of producing Inf. Its traffic is Θ(N²d/B + N²) = O(N²d/√M) when B ≈ √M ≤ d,
/// below FlashAttention's N²d²/M there, and above it when M ≫ d² (B is capped by d and the N²
/// term of A dominates). Under a causal mask, fully masked tile pairs are skipped.
///
/// Footprint (bytes), with d split in blocks of b = min(Bc, d) columns:
/// max(s·(Br·b + Bc·b) + 4·(Br·Bc + Br), s_out·Br·Bc + s·Bc·b + 4·(Br·b + Br)) — for B×B tiles
/// s·2B² + 4·(B² + B) (docs/tiles.md, "Footprints") — plus 4 bytes per resident tile scale in fp8.
/// Closed form (non-causal, T_d = ⌈d/b⌉): reads Tc·Nd (Q) + 2·Tr·Nk·d (K, V) + T_d·N·Nk (A) + N (ℓ),
/// writes N·Nk (A) + N (ℓ) + Nd (O).
public enum SmallMSchedule: Schedule {
    public static let kind = ScheduleKind.smallM
    public static var squareTiles: Bool { true }

    /// Width of the d-blocks for tiles t.
    static func dBlock(_ t: KernelConfig, _ p: AttentionProblem) -> Int { min(t.bc, p.d) }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        let t = tiles.clamped(to: p), b = dBlock(t, p), s = p.dtype.size, so = Format.output.bytes(p.dtype)
        let scores = s * (t.br * b + t.bc * b) + 4 * (t.br * t.bc + t.br) + Footprint.scales(2, p)
        let product = so * t.br * t.bc + s * t.bc * b + 4 * (t.br * b + t.br) + Footprint.scales(1, p)
        return max(scores, product)
    }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, b = dBlock(t, p), one = 0..<1
        let dBlocks = (0..<(p.d + b - 1) / b).map { $0 * b..<min(($0 + 1) * b, p.d) }
        m.partition(.single)
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            // Phase 1: A = exp(S), row sums on chip; a CTA per row tile.
            m.kernel("exp-scores", ctas: t.tr(p) * p.instances)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p)
                try m.alloc(.l, rows: rows.count, cols: 1, format: .fp32)
                try m.compute(.fill(.l, 0))
                try m.tiles(t.liveColumnTiles(i, p), uniformBelow: p.nk / t.bc) { m, j throws(SimulationError) in
                    let cols = t.cols(j, p)
                    try m.alloc(.s, rows: rows.count, cols: cols.count, format: .fp32)
                    for (k, block) in dBlocks.enumerated() {
                        try m.load(.Q, instance: inst, rows: rows, cols: block, format: .input, into: .q)
                        try m.load(.K, instance: kv, rows: cols, cols: block, format: .input, into: .k)
                        try m.compute(.gemm(a: .q, b: .k, c: .s, transB: true, scaled: true, accumulate: k != 0))
                        m.free(.q)
                        m.free(.k)
                    }
                    if p.causal { try m.compute(.mask(.s, rows: rows, cols: cols)) }
                    try m.compute(.expAccumulate(scores: .s, sum: .l))
                    try m.store(.P, instance: inst, rows: rows, cols: cols, format: .output, from: .s)
                    m.free(.s)
                }
                try m.store(.l, instance: inst, rows: rows, cols: one, format: .fp32, from: .l)
                m.free(.l)
            }
            // Phase 2: O = D⁻¹·A·V, one fp32 accumulator per (row tile, d-block); a CTA per row tile.
            m.kernel("pv", ctas: t.tr(p) * p.instances)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p), live = t.liveColumnTiles(i, p)
                // A row tile that sees no key loads nothing and writes O = 0.
                if live.isEmpty {
                    for block in dBlocks {
                        try m.alloc(.acc, rows: rows.count, cols: block.count, format: .fp32)
                        try m.compute(.fill(.acc, 0))
                        try m.store(.O, instance: inst, rows: rows, cols: block, format: .output, from: .acc)
                        m.free(.acc)
                    }
                    continue
                }
                try m.load(.l, instance: inst, rows: rows, cols: one, format: .fp32, into: .l)
                for block in dBlocks {
                    try m.accumulatePV(
                        t, instance: inst, kvInstance: kv, rows: rows, block: block,
                        columnTiles: live)
                    try m.compute(.normalizeRows(acc: .acc, sum: .l, max: nil))
                    try m.store(.O, instance: inst, rows: rows, cols: block, format: .output, from: .acc)
                    m.free(.acc)
                }
                m.free(.l)
            }
        }
    }
}

extension ScheduleKind {
    public static let smallM = ScheduleKind(named: "small-m")
}
