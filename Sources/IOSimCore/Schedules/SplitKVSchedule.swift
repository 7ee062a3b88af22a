/// Split-KV decoding (flash-decoding; FlashAttention-2's `splitkv` kernels, `flash_fwd_splitkv_kernel` and
/// `flash_fwd_splitkv_combine_kernel`). Each row
/// tile's column tiles are cut into S contiguous ranges of ⌈Tc/S⌉ tiles; kernel `split` runs one
/// CTA per (row tile, split, head) over its range with FA2's loop, writing a partial output
/// `Opart` and its log-sum-exp `LSEpart` in fp32 — a split with no live tile loads nothing and
/// still writes them (zeros, −∞), as FA2 does. Kernel `combine` reads, per query row, the S
/// `LSEpart` values twice (a max pass and a scale pass) and the S `Opart` rows once, and writes O
/// and LSE. With S = 1 it is fa2 exactly: one kernel, no partials.
///
/// Default tiles are the kernel's: Br = 64, Bc = FA2's `block_n` for d (256, 128, 64). The
/// default S is FlashAttention-2's heuristic (``SplitKVHeuristic``) when the GPU is known.
/// Footprint: fa2's.
public enum SplitKVSchedule: Schedule {
    public static let kind = ScheduleKind.splitKV
    public static var family: ScheduleFamily { .decode }
    /// One CTA per (row tile, split), each with the live score entries of its range; the
    /// combine kernel's bytes are charged to them (it reads a few percent of the split's).
    public static func ctaWork(_ p: AttentionProblem, _ t: KernelConfig) -> [Double]? {
        guard t.splits > 1 else { return nil }
        return runs(t, p).ctaWork(t, p)
    }

    public static func ctaColumnTiles(_ p: AttentionProblem, _ t: KernelConfig) -> [Int]? {
        guard t.splits > 1 else { return nil }
        return runs(t, p).ctaTiles(t, p)
    }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        Footprint.fa2(tiles.clamped(to: p), p)
    }

    public static func kernelTiles(_ p: AttentionProblem) -> KernelConfig? { KernelConfig(br: 64, bc: SplitKVHeuristic.blockN(d: p.d)) }
    public static var knobs: Set<ScheduleKnob> { [.splits] }
    /// Reads a paged cache when asked; built unpipelined (`--stages 1`) or with FA2's overlap of
    /// the next tile's load with this tile's work (2, the default), in the same footprint.
    public static var kvCache: KVCacheReading { .contiguousOrPaged }
    public static var pipelineStages: ClosedRange<Int>? { 1...2 }
    /// FlashAttention-2's `flash_fwd_splitkv_kernel`: kBlockM 64, block_n by d, 4 warps.
    public static func kernelTiles(_ p: AttentionProblem, on target: KernelTarget) -> KernelTiles? {
        guard KernelTileTable.roundedHeadDim(p.d) != nil else { return nil }
        return KernelTiles(
            br: 64, bc: SplitKVHeuristic.blockN(d: p.d), warps: 4,
            source: "FlashAttention-2 flash_fwd_splitkv_kernel (flash_fwd_launch_template.h: kBlockM 64, block_n by d)")
    }

    /// CTAs of FA2's combine kernel: it takes kBlockM query rows per CTA (4 when 128 divides d,
    /// 8 when 64 does, else 16; flash-attention `flash_fwd_launch_template.h`).
    static func combineCTAs(rows: Int, d: Int) -> Int {
        let perCTA = d % 128 == 0 ? 4 : d % 64 == 0 ? 8 : 16
        return (rows + perCTA - 1) / perCTA
    }

    /// Column tiles of split s: [s·⌈Tc/S⌉, min(Tc, (s+1)·⌈Tc/S⌉)).
    /// Each row tile's column tiles in S runs of ⌈Tc/S⌉ (empty runs when S > Tc).
    static func runs(_ t: KernelConfig, _ p: AttentionProblem) -> ColumnRuns { ColumnRuns(per: ceilDiv(t.tc(p), t.splits), count: t.splits) }

    static func range(_ s: Int, _ t: KernelConfig, _ p: AttentionProblem) -> Range<Int> { runs(t, p).range(s, t, p) }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        guard t.splits > 1 else {
            try FA2Schedule.body(&m, tiles: t, partition: .splitQ(t.warps), kernel: FA2Schedule.kind.rawValue)
            return
        }
        let p = m.problem, d = 0..<p.d, one = 0..<1, splits = t.splits
        m.partition(.splitQ(t.warps))
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            m.kernel("split", ctas: t.tr(p) * splits * p.instances)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p), live = t.liveColumnTiles(i, p)
                for s in 0..<splits {
                    let mine = live.clamped(to: range(s, t, p)), part = s * p.n + rows.lowerBound..<s * p.n + rows.upperBound
                    try m.startRows(rows.count)
                    if !mine.isEmpty {
                        try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                        try m.attend(t, kvInstance: kv, rows: rows, columnTiles: mine)
                        m.free(.q)
                    }
                    try m.compute(.normalizeRows(acc: .acc, sum: .l, max: .m))
                    try m.store(.Opart, instance: inst, rows: part, cols: d, format: .fp32, from: .acc)
                    try m.store(.LSEpart, instance: inst, rows: part, cols: one, format: .fp32, from: .m)
                    m.free(.acc)
                    m.free(.m)
                    m.free(.l)
                }
            }
            // The combine: one query row at a time (every row moves the same amounts).
            m.kernel("combine", ctas: combineCTAs(rows: p.n * p.instances, d: p.d))
            let part = Operand(.o, 1), partLSE = Operand(.l, 1)
            try m.uniform(0..<p.n) { m, r throws(SimulationError) in
                try m.alloc(.m, rows: 1, cols: 1, format: .fp32)
                try m.compute(.fill(.m, -.infinity))
                for s in 0..<splits {
                    try m.load(.LSEpart, instance: inst, rows: s * p.n + r..<s * p.n + r + 1, cols: one, format: .fp32, into: partLSE)
                    try m.compute(.foldMax(value: partLSE, max: .m))
                    m.free(partLSE)
                }
                try m.alloc(.acc, rows: 1, cols: p.d, format: .fp32)
                try m.alloc(.l, rows: 1, cols: 1, format: .fp32)
                try m.compute(.fill(.acc, 0))
                try m.compute(.fill(.l, 0))
                for s in 0..<splits {
                    try m.load(.LSEpart, instance: inst, rows: s * p.n + r..<s * p.n + r + 1, cols: one, format: .fp32, into: partLSE)
                    try m.load(.Opart, instance: inst, rows: s * p.n + r..<s * p.n + r + 1, cols: d, format: .fp32, into: part)
                    try m.compute(.mergePartial(part: part, partLSE: partLSE, max: .m, sum: .l, acc: .acc))
                    m.free(partLSE)
                    m.free(part)
                }
                try m.compute(.normalizeRows(acc: .acc, sum: .l, max: .m))
                try m.store(.O, instance: inst, rows: r..<r + 1, cols: d, format: .output, from: .acc)
                try m.store(.LSE, instance: inst, rows: r..<r + 1, cols: one, format: .fp32, from: .m)
                m.free(.acc)
                m.free(.m)
                m.free(.l)
            }
        }
    }
}

extension ScheduleKind {
    public static let splitKV = ScheduleKind(named: "split-kv")
}
