/// Lean Attention (Sanovar et al. 2024, arXiv:2405.10480: stream-K decode). The (row tile, live column
/// tile) units of every instance, in order, form one stream of T units; G CTAs (`--ctas`, at
/// most T) take contiguous ranges, the first T mod G of them ⌈T/G⌉ units and the rest ⌊T/G⌋.
/// Each CTA works through its range in runs, a run being its units inside one row tile of one
/// instance: Qᵢ once, each Kⱼ, Vⱼ once. A run that covers its row tile's whole row of live tiles
/// writes O and LSE; otherwise the run holding the row's first tile (the host) reads the other
/// runs' partial outputs and log-sum-exps once and writes O and LSE, and the others write them
/// (`Opart`, `LSEpart`, fp32). One kernel, `lean`, of G CTAs.
///
/// Without `--ctas`, G is one CTA per row tile per instance (fa2's grid; the CLI passes 2·SMs
/// with `--hardware`); the default tiles are the kernel's (64 × FA2's block_n), as split-kv's.
/// Footprint: fa2's. Time model: each CTA's own loads (``ctaLoads(_:_:_:)``, one wave at 2·SMs).
public enum LeanSchedule: Schedule {
    public static let kind = ScheduleKind.lean
    public static var masks: MaskSupport { .windows }
    public static var family: ScheduleFamily { .decode }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        Footprint.fa2(tiles.clamped(to: p), p)
    }

    public static func kernelTiles(_ p: AttentionProblem) -> KernelConfig? { SplitKVSchedule.kernelTiles(p) }
    public static var knobs: Set<ScheduleKnob> { [.ctas] }
    /// Reads a paged cache when asked; built unpipelined (`--stages 1`) or with FA2's overlap of
    /// the next tile's load with this tile's work (2, the default), in the same footprint.
    public static var kvCache: KVCacheReading { .contiguousOrPaged }
    public static var pipelineStages: ClosedRange<Int>? { 1...2 }
    /// FlashAttention-2's `flash_fwd_splitkv_kernel`: kBlockM 64, block_n by d, 4 warps.
    /// Lean Attention is modelled on FlashAttention-2's split-KV kernel: its tiles.
    public static func kernelTiles(_ p: AttentionProblem, on target: KernelTarget) -> KernelTiles? {
        SplitKVSchedule.kernelTiles(p, on: target)
    }

    /// Row tiles over all instances lean enumerates (its CTAs do not repeat from head to head,
    /// so instances cannot be counted once and multiplied).
    public static let maxRowTiles = 1 << 24

    package static func checkSize(_ t: KernelConfig, _ p: AttentionProblem) throws(SimulationError) {
        guard let rowTiles = Limits.product(t.tr(p), p.instances), rowTiles <= maxRowTiles else {
            throw .infeasible("lean enumerates every row tile of every head: more than \(maxRowTiles) here; use a smaller batch, heads or N")
        }
    }

    /// Partials are kept per CTA.
    public static func partialSlots(_ p: AttentionProblem, _ t: KernelConfig) -> Int { Stream(t, p).ctas }

    /// The unit stream of one instance: each row tile's live column tiles and where they start.
    package struct Stream {
        package let live: [TileRuns]
        /// Units before row tile i, for i in 0...Tr.
        package let start: [Int]
        package let perInstance: Int, total: Int, ctas: Int

        package init(_ t: KernelConfig, _ p: AttentionProblem) {
            // A row's units are its live tiles in order; sinks leave a gap before the window.
            live = (0..<t.tr(p)).map { t.liveColumnTiles($0, p) }
            var s = [0]
            for r in live { s.append(s.last! + r.count) }
            start = s
            perInstance = s.last!
            total = perInstance * p.instances
            ctas = max(1, min(t.ctas > 0 ? t.ctas : t.tr(p) * p.instances, max(1, total)))
        }

        /// Units [lower, upper) of CTA g.
        package func range(_ g: Int) -> Range<Int> {
            let (q, r) = (total / ctas, total % ctas)
            let lower = g * q + min(g, r)
            return lower..<lower + q + (g < r ? 1 : 0)
        }

        /// The CTA holding unit u.
        package func cta(_ u: Int) -> Int {
            let (q, r) = (total / ctas, total % ctas)
            return u < r * (q + 1) ? u / (q + 1) : r + (u - r * (q + 1)) / max(q, 1)
        }

        /// Row tile of unit w of an instance (w < perInstance).
        func rowTile(_ w: Int) -> Int {
            var (lo, hi) = (0, live.count - 1)
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if start[mid] <= w { lo = mid } else { hi = mid - 1 }
            }
            return lo
        }
    }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d, one = 0..<1
        let stream = Stream(t, p)
        try checkSize(t, p)
        m.partition(.splitQ(t.warps))
        m.kernel(kind.rawValue, ctas: stream.ctas)
        // Rows that see no key have no units: their O = 0 and LSE = −∞ are written up front.
        for inst in 0..<p.instances {
            for i in 0..<t.tr(p) where stream.live[i].isEmpty {
                let rows = t.rows(i, p)
                try m.alloc(.acc, rows: rows.count, cols: p.d, format: .fp32)
                try m.alloc(.m, rows: rows.count, cols: 1, format: .fp32)
                try m.compute(.fill(.acc, 0))
                try m.compute(.fill(.m, -.infinity))
                try m.store(.O, instance: inst, rows: rows, cols: d, format: .output, from: .acc)
                try m.store(.LSE, instance: inst, rows: rows, cols: one, format: .fp32, from: .m)
                m.free(.acc)
                m.free(.m)
            }
        }
        guard stream.total > 0 else { return }
        // Later CTAs first, so that every host finds the other runs' partials written.
        for g in (0..<stream.ctas).reversed() {
            var u = stream.range(g).lowerBound
            let end = stream.range(g).upperBound
            while u < end {
                let inst = u / stream.perInstance, w = u % stream.perInstance
                let i = stream.rowTile(w), rowStart = inst * stream.perInstance + stream.start[i]
                let rowEnd = rowStart + stream.live[i].count, runEnd = min(end, rowEnd)
                let tiles = stream.live[i].positions(u - rowStart..<runEnd - rowStart)
                let host = u == rowStart, whole = host && runEnd == rowEnd
                try run(
                    &m, t, p, inst: inst, i: i, tiles: tiles, cta: g, host: host, whole: whole,
                    others: host && !whole ? (g + 1)...stream.cta(rowEnd - 1) : nil)
                u = runEnd
            }
        }
    }

    /// One run: row tile i of `inst`, column tiles `tiles`; then write O (whole row, or host after
    /// merging the `others` CTAs' partials) or this CTA's partial.
    static func run<Machine: TileMachine>(
        _ m: inout Machine, _ t: KernelConfig, _ p: AttentionProblem, inst: Int, i: Int, tiles: TileRuns, cta g: Int,
        host: Bool, whole: Bool, others: ClosedRange<Int>?
    ) throws(SimulationError) {
        let d = 0..<p.d, one = 0..<1, rows = t.rows(i, p), kv = p.kvInstance(inst)
        try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
        try m.startRows(rows.count)
        try m.attend(t, kvInstance: kv, rows: rows, columnTiles: tiles)
        m.free(.q)
        try m.compute(.normalizeRows(acc: .acc, sum: .l, max: .m))
        // Partials sit at rows g·N + r of an instance (one slot per CTA).
        let slot = { (c: Int) in c * p.n + rows.lowerBound..<c * p.n + rows.upperBound }
        if host && !whole, let others {
            // acc, m hold this run's O and LSE: merge the others' into them, one read each.
            try m.compute(.fill(.l, 1))
            let part = Operand(.o, 1), partLSE = Operand(.l, 1)
            for c in others {
                try m.load(.LSEpart, instance: inst, rows: slot(c), cols: one, format: .fp32, into: partLSE)
                try m.load(.Opart, instance: inst, rows: slot(c), cols: d, format: .fp32, into: part)
                try m.compute(.mergeOnline(part: part, partLSE: partLSE, max: .m, sum: .l, acc: .acc))
                m.free(part)
                m.free(partLSE)
            }
            try m.compute(.normalizeRows(acc: .acc, sum: .l, max: .m))
        }
        if host {
            try m.store(.O, instance: inst, rows: rows, cols: d, format: .output, from: .acc)
            try m.store(.LSE, instance: inst, rows: rows, cols: one, format: .fp32, from: .m)
        } else {
            try m.store(.Opart, instance: inst, rows: slot(g), cols: d, format: .fp32, from: .acc)
            try m.store(.LSEpart, instance: inst, rows: slot(g), cols: one, format: .fp32, from: .m)
        }
        m.free(.acc)
        m.free(.m)
        m.free(.l)
    }
}

extension ScheduleKind {
    public static let lean = ScheduleKind(named: "lean")
}
