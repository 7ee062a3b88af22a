import AttentionReference

/// ChunkAttention's two-phase partition decode kernels (Ye, Tao, Huang and Li, "ChunkAttention:
/// Efficient Self-Attention with Prefix-Aware KV Cache and Two-Phase Partition", ACL 2024,
/// arXiv 2402.15220; microsoft/chunk-attention `attn_chunk_first_kernel` and
/// `attn_seq_first_kernel`; docs/counting-rules.md §14). The batch's sequences share their first P tokens
/// (``AttentionProblem/sharedPrefix``); the cache is a prefix tree of chunks of c tokens
/// (``AttentionProblem/chunk``), and the S = ⌊P/c⌋ whole chunks of the prefix are the tree's
/// shared nodes (the rest of the prefix begins each sequence's own chunks).
///
/// - `chunk-first`, one CTA per (head, shared chunk): the chunk's K and V once, then for each of
///   the n sequences its q rows (Br at a time), S = q·Kᵀ, P = e^{S − max} and Σ P·V; it writes
///   that unnormalised partial output (`Opart`, the dtype, as ChunkAttention's `attns`) and the
///   row max and exp sum (`LSEpart`, fp32, 2 per row).
/// - `sequence-first`, one CTA per (head, sequence) and row tile: its q rows; per shared chunk
///   its `Opart` row and its max and sum, merged into the running state (``Operation/mergeChunk``);
///   then its own ⌈(L − S·c)/c⌉ chunks' K and V as FlashAttention-2 streams tiles, each chunk
///   read whole (the slots of a partly filled last chunk are read and masked, as ChunkAttention's
///   kernel does); it writes O in the dtype and no LSE (ChunkAttention's kernels have none, nor
///   do vLLM's, paged-v1 and paged-v2).
///
/// With P < c there is no shared chunk: no `chunk-first` kernel runs and chunk-attn is one
/// `sequence-first` kernel over whole chunks. ChunkAttention's chunk-first kernel holds the n
/// sequences' query rows at once; here its CTA takes them Br rows of one sequence at a time, which
/// moves the same HBM bytes with a smaller footprint. No GQA (ChunkAttention has none) and no mask
/// that hides a key from a query row (decode: every row sees its whole cache).
public enum ChunkAttnSchedule: Schedule {
    public static let kind = ScheduleKind.chunkAttn
    public static var masks: MaskSupport { .windows }
    public static var family: ScheduleFamily { .prefixSharing }
    public static var seesWholeBatch: Bool { true }

    /// The shared chunks: ⌊P/c⌋.
    public static func sharedChunks(_ p: AttentionProblem) -> Int { p.sharedPrefix / p.chunk }

    /// A sequence of `length` tokens' own chunks, after the shared ones: ⌈(L − S·c)/c⌉.
    public static func ownChunks(_ length: Int, _ p: AttentionProblem) -> Int {
        ceilDiv(length - sharedChunks(p) * p.chunk, p.chunk)
    }

    /// The batch's sequences by length: `--lengths`' groups, or `batch` sequences of Nk tokens.
    public static func groups(_ p: AttentionProblem) -> [SequenceLengths.Group] {
        p.lengthGroups ?? [SequenceLengths.Group(length: p.nk, count: p.batch)]
    }

    /// Why the problem is outside ChunkAttention's kernels, if it is.
    package static func check(_ p: AttentionProblem) throws(SimulationError) {
        guard p.kvHeads == p.heads else {
            throw .infeasible("ChunkAttention has no GQA: chunk-attn needs kv_heads = heads (\(p.kvHeads) ≠ \(p.heads))")
        }
        for g in groups(p) {
            var one = p
            one.nk = g.length
            // Column ranges are monotone in the row: the first and last rows bound them all.
            for r in [0, p.n - 1] where one.visibleColumns(row: r) != KeyRuns(0..<g.length) {
                throw .infeasible("chunk-attn's kernels have no mask: every query row must see its whole cache (decode)")
            }
        }
    }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        let br = min(tiles.br, p.n), bc = min(p.chunk, p.nk), d = p.d
        let streaming = Footprint.fa2(KernelConfig(br: br, bc: bc), p)
        guard sharedChunks(p) > 0 else { return streaming }
        // Merging a shared chunk: q, acc, m, ℓ and the partial row with its max and sum.
        let merging =
            p.dtype.size * br * d + 4 * (br * d + 2 * br) + Format.output.bytes(p.dtype) * br * d + 8 * br + Footprint.scales(1, p)
        return max(streaming, merging)
    }

    public static func kernelTiles(_ p: AttentionProblem) -> KernelConfig? { KernelConfig(br: 64, bc: p.chunk) }
    public static var kvCache: KVCacheReading { .prefixChunks }

    /// The column tile is the chunk (a property of the cache, `--chunk`), whatever a tile policy
    /// or `--Bc` chose: only Br is the schedule's to choose.
    public static func columnTiles(_ chosen: KernelConfig, _ p: AttentionProblem, requestedBc: Int?) throws(SimulationError) -> KernelConfig? {
        chosen.with(br: chosen.br, bc: p.chunk).clamped(to: p)
    }

    /// Per query row: S maxima, then S sums (`LSEpart`), S partial rows (`Opart`).
    public static func partialSlots(_ p: AttentionProblem, _ t: KernelConfig) -> Int { max(1, 2 * sharedChunks(p)) }

    public static func extraDataValues(_ p: AttentionProblem) -> Double { Double(2 * sharedChunks(p) * p.n * (p.d + 1)) }

    /// Rows of chunk k's partials for query rows `rows`: `Opart` and the maxima at k·Nq + r, the
    /// sums at (S + k)·Nq + r of the instance's scratch.
    package static func slots(_ k: Int, _ rows: Range<Int>, _ p: AttentionProblem) -> (part: Range<Int>, sum: Range<Int>) {
        let (a, b) = (k * p.n + rows.lowerBound, (sharedChunks(p) + k) * p.n + rows.lowerBound)
        return (a..<a + rows.count, b..<b + rows.count)
    }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, shared = sharedChunks(p)
        try check(p)
        m.partition(.splitQ(t.warps))
        if shared > 0 {
            m.kernel("chunk-first", ctas: p.heads * shared)
            try m.uniform(0..<p.heads) { m, h throws(SimulationError) in
                try m.uniform(0..<shared) { m, k throws(SimulationError) in try chunkFirst(&m, t, head: h, chunk: k) }
            }
        }
        m.kernel("sequence-first", ctas: p.batch * p.heads * t.tr(p))
        var first = 0
        for g in groups(p) {
            try m.uniform(first * p.heads..<(first + g.count) * p.heads) { m, inst throws(SimulationError) in
                try sequenceFirst(&m, t, instance: inst, length: g.length)
            }
            first += g.count
        }
    }

    /// One chunk-first CTA: chunk k of head h (the prefix tree holds it once: sequence 0's copy).
    static func chunkFirst<Machine: TileMachine>(_ m: inout Machine, _ t: KernelConfig, head h: Int, chunk k: Int) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d, cols = k * p.chunk..<(k + 1) * p.chunk
        try m.load(.K, instance: h, rows: cols, cols: d, format: .input, into: .k)
        try m.load(.V, instance: h, rows: cols, cols: d, format: .input, into: .v)
        try m.uniform(0..<p.batch) { m, b throws(SimulationError) in
            let inst = b * p.heads + h
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p), slot = slots(k, rows, p)
                try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                try m.startRows(rows.count)
                try m.alloc(.s, rows: rows.count, cols: cols.count, format: .fp32)
                try m.scores(.q, .k, into: .s, rows: rows, cols: cols, masked: false)
                try m.compute(.onlineSoftmax(scores: .s, max: .m, sum: .l, acc: .acc))
                try m.compute(.gemm(a: .s, b: .v, c: .acc, transB: false, scaled: false, accumulate: true))
                m.free(.s)
                m.free(.q)
                try m.store(.Opart, instance: inst, rows: slot.part, cols: d, format: .output, from: .acc)
                try m.store(.LSEpart, instance: inst, rows: slot.part, cols: 0..<1, format: .fp32, from: .m)
                try m.store(.LSEpart, instance: inst, rows: slot.sum, cols: 0..<1, format: .fp32, from: .l)
                m.free(.acc)
                m.free(.m)
                m.free(.l)
            }
        }
        m.free(.k)
        m.free(.v)
    }

    /// One sequence-first CTA per row tile of instance `inst`, a sequence of `length` tokens.
    package static func sequenceFirst<Machine: TileMachine>(_ m: inout Machine, _ t: KernelConfig, instance inst: Int, length: Int)
        throws(SimulationError)
    {
        let p = m.problem, d = 0..<p.d, c = p.chunk, shared = sharedChunks(p)
        let own = shared..<shared + ownChunks(length, p), chunks = t.with(br: t.br, bc: c)
        let (part, partMax, partSum) = (Operand(.o, 1), Operand(.m, 1), Operand(.l, 1))
        for i in 0..<t.tr(p) {
            let rows = t.rows(i, p)
            try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
            try m.startRows(rows.count)
            try m.uniform(0..<shared) { m, k throws(SimulationError) in
                let slot = slots(k, rows, p)
                try m.load(.Opart, instance: inst, rows: slot.part, cols: d, format: .output, into: part)
                try m.load(.LSEpart, instance: inst, rows: slot.part, cols: 0..<1, format: .fp32, into: partMax)
                try m.load(.LSEpart, instance: inst, rows: slot.sum, cols: 0..<1, format: .fp32, into: partSum)
                try m.compute(.mergeChunk(part: part, partMax: partMax, partSum: partSum, max: .m, sum: .l, acc: .acc))
                m.free(part)
                m.free(partMax)
                m.free(partSum)
            }
            // Its own chunks as FlashAttention-2 streams tiles, up to its length; a partly filled
            // last chunk is read whole (its tail counted, never used).
            try m.attend(chunks, kvInstance: inst, rows: rows, columnTiles: own, blockSize: c, keyEnd: length, table: false, masked: false)
            m.free(.q)
            try m.finishRows(instance: inst, rows: rows)
        }
    }
}

extension ScheduleKind {
    public static let chunkAttn = ScheduleKind(named: "chunk-attn")
}
