/// FlashAttention-3 forward (Shah et al. 2024, Algorithms 1–2): FA2's loop order run by a
/// warp-specialised thread block. A producer warp fetches Kⱼ, Vⱼ (TMA) into an s-stage ring
/// while two consumer warpgroups, ping-ponging, compute on the tile fetched earlier; inside a
/// warpgroup the softmax of tile j overlaps the QKᵀ GEMM of tile j+1.
///
/// None of that changes which tiles cross HBM: every Kⱼ, Vⱼ is fetched once per row tile, as in
/// fa2, so its counts equal fa2's for the same tiles (plus one fp32 scale per Q, K, V tile in fp8).
/// What it changes is the footprint — the ring keeps `stages − 1` further K/V tile pairs resident,
/// held as real K and V buffers, one pair per extra stage — and the time estimate (overlap).
///
/// Footprint: fa2's + (stages − 1)·2·Bc·d·s, plus 4 bytes per resident tile scale in fp8.
///
/// SRAM side: warpgroup MMAs read their shared-memory operands per warpgroup (docs/counting-rules.md §8): with
/// the two consumer warpgroups splitting Qᵢ's rows, Qᵢ is read once and Kⱼ, Vⱼ twice per pair; P
/// feeds the PV GEMM from registers (FA3's RS GEMM) and is not counted.
///
/// Default tiles: `tile_size_fwd_sm90` of the FA3 release (Dao-AILab/flash-attention,
/// hopper/tile_size.h), its causal column, which matches the paper's 128×128 at d = 128:
/// fp16/bf16 d ≤ 64: 192×128, ≤ 96: 192×128, ≤ 128: 128×128, ≤ 192: 128×96, else 128×80;
/// fp8 d ≤ 64: 192×160, ≤ 96: 192×128, ≤ 128: 128×224, ≤ 192: 128×160, else 128×128.
public enum FA3Schedule: Schedule {
    public static let kind = ScheduleKind.fa3
    public static var autoPrefersPaperTiles: Bool { true }
    /// Warp-specialised (loads, wgmma and softmax overlap); its producer warp looks blocks up and
    /// issues their TMA loads `stages` tiles ahead.
    public static var launch: LaunchTraits { LaunchTraits(overlapsPhases: true, warpgroupMMA: true, tableLookups: .prefetched) }
    /// Reads a paged cache when asked; its ring holds `--stages` K/V tile pairs (the footprint
    /// grows with each), 1 up to iosim's limit.
    public static var kvCache: KVCacheReading { .contiguousOrPaged }
    public static var pipelineStages: ClosedRange<Int>? { 1...Limits.maxStages }
    /// Consumer warpgroups sharing a row tile (FA3's ping-pong pair).
    public static let consumerWarpgroups = 2

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        let t = tiles.clamped(to: p), extra = max(0, t.stages - 1)
        return Footprint.fa2(t, p) + extra * 2 * t.bc * p.d * p.dtype.size + Footprint.scales(2 * extra, p)
    }

    public static func paperTiles(_ p: AttentionProblem, capacity: Int) -> KernelConfig? {
        let table: [(Int, Int, Int)] =
            p.dtype == .fp8
            ? [(64, 192, 160), (96, 192, 128), (128, 128, 224), (192, 128, 160), (.max, 128, 128)]
            : [(64, 192, 128), (96, 192, 128), (128, 128, 128), (192, 128, 96), (.max, 128, 80)]
        let row = table.first { p.d <= $0.0 }!
        return KernelConfig(br: row.1, bc: row.2)
    }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, rows = min(t.bc, p.nk), scaled = p.dtype == .fp8 ? 1 : 0
        // The producer's ring: stages − 1 further K/V tile pairs resident beside the pair the
        // consumers are on (buffers k[1…], v[1…]; the loop's own Kⱼ, Vⱼ are k[0], v[0]).
        for stage in 1..<max(1, t.stages) {
            try m.alloc(Operand(.k, stage), rows: rows, cols: p.d, format: .input, scales: scaled)
            try m.alloc(Operand(.v, stage), rows: rows, cols: p.d, format: .input, scales: scaled)
        }
        try FA2Schedule.body(&m, tiles: t, partition: .splitQ(consumerWarpgroups), kernel: "fa3")
        for stage in 1..<max(1, t.stages) {
            m.free(Operand(.k, stage))
            m.free(Operand(.v, stage))
        }
    }
}

extension ScheduleKind {
    public static let fa3 = ScheduleKind(named: "fa3")
}
