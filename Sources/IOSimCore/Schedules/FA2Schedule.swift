/// FlashAttention-2 forward (Dao 2023, Algorithm 1): the outer loop runs over row tiles Qᵢ, the
/// inner over K/V column tiles; Oᵢ, ℓᵢ, mᵢ stay on chip and Oᵢ and LSEᵢ are written once.
/// Under a causal mask, column tiles past the diagonal are never loaded.
///
/// Footprint: s·(Br·d + 2·Bc·d) + 4·(Br·Bc + Br·d + 2·Br) bytes (Qᵢ, Kⱼ, Vⱼ; S/P, O, m, ℓ in fp32),
/// plus 4 bytes per resident tile scale in fp8.
/// Closed form (non-causal): reads Nd + 2·Nk·d·Tr, writes Nd + N.
///
/// SRAM side (split-Q over `warps` warps): per live pair each warp reads its rows of Qᵢ and all
/// of Kⱼ and Vⱼ, so Qᵢ is read once in total and Kⱼ, Vⱼ once per warp; S, P, O, m, ℓ stay in
/// the warp's registers (counted once).
public enum FA2Schedule: Schedule {
    public static let kind = ScheduleKind.fa2
    /// Reads a paged cache when asked; built unpipelined (`--stages 1`) or with FA2's overlap of
    /// the next tile's load with this tile's work (2, the default), in the same footprint.
    public static var kvCache: KVCacheReading { .contiguousOrPaged }
    public static var pipelineStages: ClosedRange<Int>? { 1...2 }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        Footprint.fa2(tiles.clamped(to: p), p)
    }

    public static func paperTiles(_ p: AttentionProblem, capacity: Int) -> KernelConfig? { fa1PaperTiles(p, capacity: capacity) }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        try body(&m, tiles: t, partition: .splitQ(t.warps), kernel: "fa2")
    }

    /// The FA2 loop, shared with fa3 (which differs in its pipeline, not in its loop order).
    static func body<Machine: TileMachine>(
        _ m: inout Machine, tiles t: KernelConfig, partition: WarpPartition,
        kernel: String
    ) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d
        m.partition(partition)
        // One CTA per row tile per head.
        m.kernel(kernel, ctas: t.tr(p) * p.instances)
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p), live = t.liveColumnTiles(i, p)
                // A row tile that sees no key loads nothing and writes O = 0, LSE = −∞ (FA2's kernels).
                if live.isEmpty {
                    try m.alloc(.acc, rows: rows.count, cols: p.d, format: .fp32)
                    try m.alloc(.m, rows: rows.count, cols: 1, format: .fp32)
                    try m.compute(.fill(.acc, 0))
                    try m.compute(.fill(.m, -.infinity))
                    try m.store(.O, instance: inst, rows: rows, cols: d, format: .output, from: .acc)
                    try m.store(.LSE, instance: inst, rows: rows, cols: 0..<1, format: .fp32, from: .m)
                    m.free(.acc); m.free(.m)
                    continue
                }
                try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                try m.startRows(rows.count)
                try m.attend(t, kvInstance: kv, rows: rows, columnTiles: live)
                m.free(.q)
                try m.finishRows(instance: inst, rows: rows, lse: true)
            }
        }
    }
}

extension ScheduleKind {
    public static let fa2 = ScheduleKind(named: "fa2")
}
