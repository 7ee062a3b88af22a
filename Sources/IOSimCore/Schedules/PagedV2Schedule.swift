/// vLLM's PagedAttention v2 decode kernels (vLLM `csrc/attention/attention_kernels.cuh`,
/// `paged_attention_v2_kernel` and `paged_attention_v2_reduce_kernel`; docs/counting-rules.md §12). Each
/// sequence's cache is cut into partitions of `PARTITION_SIZE` = 512 tokens; kernel `paged` runs
/// one CTA per (head, sequence, partition) — per row tile too when a sequence has several query
/// rows — that reads its q rows and its partition's blocks as v1 does (whole blocks, the table
/// in the K loop and again in the V loop) and writes `max_logits` and `exp_sums` (fp32, counted
/// as `LSEpart`, 2 per row) and `tmp_out`, its output normalised by its own sum, in the dtype
/// (counted as `Opart`). Kernel `reduce`, one CTA per (head, sequence) and query row, reads the
/// P maxima, the P sums and the P partial rows of d and writes O (d, the dtype); with one
/// partition it only copies: d read, d written. No LSE.
///
/// A partition is ⌊512/Bc⌋ column tiles (at least one): 512 tokens whenever Bc divides 512, as
/// vLLM's blocks of 8, 16 or 32 slots with one block per tile do. Partitions are cut from the
/// sequence's start; every one starts before its end, so P = ⌈Tc/⌊512/Bc⌋⌉ CTAs per row tile.
/// Footprint: fa2's (the reduce holds 2·P + 2 floats and two rows of d).
public enum PagedV2Schedule: Schedule {
    public static let kind = ScheduleKind.pagedV2
    public static var masks: MaskSupport { .windows }
    public static var family: ScheduleFamily { .decode }
    /// vLLM's `PARTITION_SIZE` (`vllm/attention/ops/paged_attn.py`, `_PARTITION_SIZE`).
    public static let partitionTokens = 512

    /// One CTA per (row tile, partition), each with the live score entries of its partition
    /// (the reduce's bytes are charged to them, as split-kv's combine is).
    public static func ctaWork(_ p: AttentionProblem, _ t: KernelConfig) -> [Double]? {
        runs(t, p).ctaWork(t, p)
    }

    public static func ctaColumnTiles(_ p: AttentionProblem, _ t: KernelConfig) -> [Int]? { runs(t, p).ctaTiles(t, p) }

    /// Each warp looks its block up in the K loop and again in the V loop (as v1).
    public static var launch: LaunchTraits { LaunchTraits(tableLookups: .perWarpBlock) }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        Footprint.fa2(tiles.clamped(to: p), p)
    }

    public static func kernelTiles(_ p: AttentionProblem) -> KernelConfig? { KernelConfig(br: 64, bc: p.blockSize) }
    public static var kvCache: KVCacheReading { .paged }
    /// Built unpipelined (`--stages 1`, each warp's block load waits for its lookup and the
    /// previous block's work) or with the next block's load in flight (2, the default).
    public static var pipelineStages: ClosedRange<Int>? { 1...2 }

    /// Column tiles per partition.
    static func tilesPerPartition(_ t: KernelConfig) -> Int { max(1, partitionTokens / t.bc) }

    /// Partitions of each row tile: ⌈Tc / tiles per partition⌉.
    public static func partitions(_ t: KernelConfig, _ p: AttentionProblem) -> Int { ceilDiv(t.tc(p), tilesPerPartition(t)) }

    /// Column tiles of partition s.
    static func range(_ s: Int, _ t: KernelConfig, _ p: AttentionProblem) -> Range<Int> { runs(t, p).range(s, t, p) }

    /// Each row tile's column tiles in its partitions.
    static func runs(_ t: KernelConfig, _ p: AttentionProblem) -> ColumnRuns { ColumnRuns(per: tilesPerPartition(t), count: partitions(t, p)) }

    /// Per query row, P maxima then P sums (`LSEpart`), and P partial rows (`Opart`), at rows
    /// r·2P + s of the instance's scratch: a row's maxima and sums are contiguous, as vLLM's
    /// `max_logits[seq][head][:]` and `exp_sums[seq][head][:]` are.
    public static func partialSlots(_ p: AttentionProblem, _ t: KernelConfig) -> Int { 2 * partitions(t, p) }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d, one = 0..<1, parts = partitions(t, p), stride = 2 * parts
        m.partition(.splitQ(t.warps))
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            m.kernel("paged", ctas: t.tr(p) * parts * p.instances)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p), live = t.liveColumnTiles(i, p)
                // Partitions of whole tiles all live move the same amounts: one runs, the
                // rest replay (a 128K-token sequence has 256 of them). Only the window's run
                // (the last) is searched: partitions between the sinks and it hold no live tile.
                let per = tilesPerPartition(t), window = live.runs.last ?? 0..<0
                let fullEnd = min(window.upperBound, p.nk / t.bc), first = ceilDiv(window.lowerBound, per)
                let same = first..<max(first, fullEnd / per)
                let partition: (inout Machine, Int) throws(SimulationError) -> Void = { m, s throws(SimulationError) in
                    let mine = live.clamped(to: range(s, t, p))
                    try m.startRows(rows.count)
                    if !mine.isEmpty {
                        try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                        try m.attend(t, kvInstance: kv, rows: rows, columnTiles: mine, blockSize: p.blockSize)
                        m.free(.q)
                    }
                    try m.compute(.normalizeRows(acc: .acc, sum: .l, max: nil))
                    // Row r's values of partition s: max at r·2P + s, sum at r·2P + P + s.
                    for (k, r) in rows.enumerated() {
                        let slot = r * stride + s
                        try m.storeRow(.LSEpart, instance: inst, row: slot, cols: one, format: .fp32, from: .m, bufferRow: k)
                        try m.storeRow(.LSEpart, instance: inst, row: slot + parts, cols: one, format: .fp32, from: .l, bufferRow: k)
                        try m.storeRow(.Opart, instance: inst, row: slot, cols: d, format: .output, from: .acc, bufferRow: k)
                    }
                    m.free(.acc)
                    m.free(.m)
                    m.free(.l)
                }
                for s in 0..<same.lowerBound { try partition(&m, s) }
                try m.uniform(same, partition)
                for s in same.upperBound..<parts { try partition(&m, s) }
            }
            m.kernel("reduce", ctas: p.n * p.instances)
            try m.uniform(0..<p.n) { m, r throws(SimulationError) in
                let base = r * stride, part = Operand(.o, 1)
                try m.alloc(.acc, rows: 1, cols: p.d, format: .fp32)
                try m.compute(.fill(.acc, 0))
                if parts == 1 {
                    // vLLM's reduce with one partition copies tmp_out to out.
                    try m.load(.Opart, instance: inst, rows: base..<base + 1, cols: d, format: .output, into: part)
                    try m.alloc(.row, rows: 1, cols: 1, format: .fp32)
                    try m.compute(.fill(.row, 1))
                    try m.compute(.accumulatePartition(part: part, weights: .row, index: 0, acc: .acc))
                    m.free(.row)
                    m.free(part)
                } else {
                    let maxes = Operand(.m, 1), sums = Operand(.l, 1)
                    try m.load(.LSEpart, instance: inst, rows: base..<base + parts, cols: one, format: .fp32, into: maxes)
                    try m.load(.LSEpart, instance: inst, rows: base + parts..<base + stride, cols: one, format: .fp32, into: sums)
                    try m.alloc(.m, rows: 1, cols: 1, format: .fp32)
                    try m.alloc(.l, rows: 1, cols: 1, format: .fp32)
                    try m.compute(.partitionWeights(maxes: maxes, sums: sums, max: .m, sum: .l))
                    for s in 0..<parts {
                        try m.load(.Opart, instance: inst, rows: base + s..<base + s + 1, cols: d, format: .output, into: part)
                        try m.compute(.accumulatePartition(part: part, weights: sums, index: s, acc: .acc))
                        m.free(part)
                    }
                    try m.compute(.normalizeRows(acc: .acc, sum: .l, max: nil))
                    m.free(maxes)
                    m.free(sums)
                    m.free(.m)
                    m.free(.l)
                }
                try m.store(.O, instance: inst, rows: r..<r + 1, cols: d, format: .output, from: .acc)
                m.free(.acc)
            }
        }
    }
}

extension ScheduleKind {
    public static let pagedV2 = ScheduleKind(named: "paged-v2")
}

/// vLLM's choice between its two PagedAttention kernels (`vllm/attention/ops/paged_attn.py`,
/// `PagedAttention.forward_decode`): v1 when the longest sequence is at most 8192 tokens and
/// either it fits one partition of 512 tokens or there are more than 512 (sequence, query head)
/// pairs to spread over the GPU; v2 otherwise ("For context len > 8192, use V2 kernel to avoid
/// shared memory shortage"). `--schedule paged` applies it.
public enum PagedAttentionChoice {
    public static func kind(sequences: Int, heads: Int, maxLength: Int) -> ScheduleKind {
        let partitions = ceilDiv(maxLength, PagedV2Schedule.partitionTokens)
        let v1 = maxLength <= 8192 && (partitions == 1 || sequences * heads > 512)
        return v1 ? .pagedV1 : .pagedV2
    }
}
