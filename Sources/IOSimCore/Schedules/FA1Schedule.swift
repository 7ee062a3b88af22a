/// FlashAttention forward (Dao et al. 2022, Algorithm 1): the outer loop runs over K/V column
/// tiles, the inner over Q row tiles. O, ℓ, m live in HBM: they are initialised there for all
/// rows (line 2), and every live pair (i, j) reads and writes back Oᵢ, ℓᵢ, mᵢ. The running O is
/// an fp32 accumulator; the last live column tile of row tile i writes the finished Oᵢ in the
/// output dtype. Under a causal mask, fully masked pairs are skipped, and Kⱼ, Vⱼ are loaded only
/// for column tiles with a live pair.
///
/// Footprint: FA2's plus 4·Br·d for the loaded running Oᵢ.
///
/// SRAM side (split-K over `warps` warps, as the FA1 kernel partitions a tile pair): each warp
/// reads all of Qᵢ and its slice of Kⱼ and Vⱼ; then every warp writes its partial O (Br×d), m and
/// ℓ to SRAM and they are read back to be combined — w·(Br·d + 2·Br) written and read per pair.
/// Closed form (non-causal): reads 2Nd + Tc·(2Nd + 2N), writes (Tc + 1)·(Nd + 2N).
public enum FA1Schedule: Schedule {
    public static let kind = ScheduleKind.fa1
    public static var launch: LaunchTraits { LaunchTraits(model: .perHead) }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        let t = tiles.clamped(to: p)
        return Footprint.fa2(t, p) + 4 * t.br * p.d
    }

    public static func paperTiles(_ p: AttentionProblem, capacity: Int) -> KernelConfig? { fa1PaperTiles(p, capacity: capacity) }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d, one = 0..<1
        m.partition(.splitK(t.warps))
        // FlashAttention's kernel runs one CTA per (batch, head), both loops inside it.
        m.kernel(kind.rawValue, ctas: p.instances)
        // Asked for every column tile under a mask: computed once.
        let lastColumn = p.mask.hasStructure ? t.lastLiveColumns(p) : nil
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            // Line 2: O = 0, ℓ = 0, m = −∞ in HBM, written tile by tile from SRAM.
            try m.tiles(0..<t.tr(p), uniformBelow: p.n / t.br) { m, i throws(SimulationError) in
                let rows = t.rows(i, p)
                for (tensor, buffer, cols, value) in [(Tensor.O, Operand.o, p.d, 0.0), (.l, .l, 1, 0), (.m, .m, 1, -.infinity)] {
                    try m.alloc(buffer, rows: rows.count, cols: cols, format: .fp32)
                    try m.compute(.fill(buffer, value))
                    try m.store(tensor, instance: inst, rows: rows, cols: 0..<cols, format: .fp32, from: buffer)
                    m.free(buffer)
                }
            }
            for j in 0..<t.tc(p) {
                let liveRows = t.liveRowTiles(j, p)
                guard !liveRows.isEmpty else { continue }
                let cols = t.cols(j, p)
                try m.load(.K, instance: kv, rows: cols, cols: d, format: .input, into: .k)
                try m.load(.V, instance: kv, rows: cols, cols: d, format: .input, into: .v)
                // Row tiles whose last live pair this is write the finished O; each group of
                // them, and of the others, is uniform over its full tiles.
                func pair(_ m: inout Machine, _ i: Int) throws(SimulationError) {
                    let rows = t.rows(i, p)
                    try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                    try m.load(.O, instance: inst, rows: rows, cols: d, format: .fp32, into: .o)
                    try m.load(.l, instance: inst, rows: rows, cols: one, format: .fp32, into: .l)
                    try m.load(.m, instance: inst, rows: rows, cols: one, format: .fp32, into: .m)
                    try m.alloc(.s, rows: rows.count, cols: cols.count, format: .fp32)
                    try m.alloc(.acc, rows: rows.count, cols: p.d, format: .fp32)
                    try m.scores(.q, .k, into: .s, rows: rows, cols: cols, masked: true)
                    try m.compute(.fa1Update(scores: .s, v: .v, o: .o, max: .m, sum: .l, scratch: .acc))
                    try m.compute(.combineWarps(acc: .acc, max: .m, sum: .l))
                    let last = j == (lastColumn?[i] ?? t.liveColumnTiles(i, p).upperBound - 1)
                    try m.store(.O, instance: inst, rows: rows, cols: d, format: last ? .output : .fp32, from: .o)
                    try m.store(.l, instance: inst, rows: rows, cols: one, format: .fp32, from: .l)
                    try m.store(.m, instance: inst, rows: rows, cols: one, format: .fp32, from: .m)
                    m.free(.q); m.free(.o); m.free(.l); m.free(.m); m.free(.s); m.free(.acc)
                }
                for group in t.lastColumnGroups(j, p, lastColumn: lastColumn) { try m.tiles(group, uniformBelow: p.n / t.br, pair) }
                m.free(.k)
                m.free(.v)
            }
        }
    }
}

extension ScheduleKind {
    public static let fa1 = ScheduleKind(named: "fa1")
}
