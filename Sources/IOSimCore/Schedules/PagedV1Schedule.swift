/// vLLM's PagedAttention v1 decode kernel (Kwon et al. 2023, "Efficient Memory Management for
/// Large Language Model Serving with PagedAttention"; vLLM `csrc/attention/attention_kernels.cuh`,
/// `paged_attention_v1_kernel`; docs/counting-rules.md §12). One CTA per (head, sequence) — per row tile when a
/// sequence has several query rows — and no GQA packing: it reads its q rows once, then every
/// cache block's K in a first loop and every block's V in a second, looking the block up in the
/// block table (one int32 entry per block) in each loop, and reading whole blocks (the slots of
/// the last, partly filled block past the sequence's end are read and masked). It writes O in
/// the dtype and no LSE (vLLM's kernels have none). One kernel, `paged`.
///
/// The cache is always paged, in blocks of ``AttentionProblem/blockSize`` slots (`--block-size`,
/// vLLM's default 16), whatever `--kv-layout` says. Column tiles are whole blocks (Bc a multiple
/// of the block size); the default tiles are one block per tile (vLLM's warps each take one
/// block at a time), and Br = 64 rows (one row tile for decode). Footprint: fa2's.
///
/// Closed form (no mask): q n·d, K and V ⌈Nk/b⌉·b·d each per row tile, table 2·⌈Nk/b⌉ per row
/// tile, O n·d.
public enum PagedV1Schedule: Schedule {
    public static let kind = ScheduleKind.pagedV1
    public static var masks: MaskSupport { .windows }
    public static var family: ScheduleFamily { .decode }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        Footprint.fa2(tiles.clamped(to: p), p)
    }

    public static func kernelTiles(_ p: AttentionProblem) -> KernelConfig? { KernelConfig(br: 64, bc: p.blockSize) }
    public static var kvCache: KVCacheReading { .paged }
    /// Built unpipelined (`--stages 1`, each warp's block load waits for its lookup and the
    /// previous block's work) or with the next block's load in flight (2, the default).
    public static var pipelineStages: ClosedRange<Int>? { 1...2 }

    /// vLLM's warps each take one block at a time: `physical_block_number = block_table[block_idx]`,
    /// then its K (and, in the second loop, its V) — one dependent lookup per block per loop.
    public static var launch: LaunchTraits { LaunchTraits(tableLookups: .perWarpBlock) }

    /// vLLM has no partial results in v1.
    public static func partialSlots(_ p: AttentionProblem, _ t: KernelConfig) -> Int { 1 }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d
        m.partition(.splitQ(t.warps))
        m.kernel("paged", ctas: t.tr(p) * p.instances)
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p), live = t.liveColumnTiles(i, p)
                try m.startRows(rows.count)
                if !live.isEmpty {
                    try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                    try m.attend(t, kvInstance: kv, rows: rows, columnTiles: live, blockSize: p.blockSize)
                    m.free(.q)
                }
                try m.finishRows(instance: inst, rows: rows)
            }
        }
    }
}

extension ScheduleKind {
    public static let pagedV1 = ScheduleKind(named: "paged-v1")
}
