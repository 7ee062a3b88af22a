import AttentionReference

/// Which tile pairs a mask leaves live (docs/counting-rules.md §5), derived from the problem's
/// mask and nowhere else. For none, causal and windows both ends of a row's range never
/// decrease down the rows, so a row tile sees one contiguous run of keys — from the first row's
/// lower end to the last row's upper end — and a column tile is seen by one contiguous run of
/// row tiles. Sinks, prefixes and documents (a ``StructuredMask``) can leave gaps: their runs come
/// from ``StructuredMask/keysSeen(by:nq:nk:)`` and ``StructuredMask/rowsSeeing(_:nq:nk:)``.
extension KernelConfig {
    /// Keys seen by some row of row tile i (empty when none is), as runs.
    public func visibleKeys(_ i: Int, _ p: AttentionProblem) -> [Range<Int>] {
        let r = rows(i, p)
        if case let .structured(s) = p.mask {
            let g = p.packFactor
            return s.keysSeen(by: r.lowerBound / g..<(r.upperBound - 1) / g + 1, nq: p.nq, nk: p.nk)
        }
        if case let .blockSparse(m) = p.mask {
            let g = p.packFactor  // packed GQA rows: one plane shared by the group's heads
            return m.keysSeen(by: r.lowerBound / g..<(r.upperBound - 1) / g + 1, nq: p.nq, nk: p.nk)
        }
        let lo = p.visibleColumns(row: r.lowerBound).lowerBound, hi = p.visibleColumns(row: r.upperBound - 1).upperBound
        return lo < hi ? [lo..<hi] : []
    }

    /// Column tiles with a live pair in row tile i.
    public func liveColumnTiles(_ i: Int, _ p: AttentionProblem) -> TileRuns {
        guard p.causal else { return TileRuns(0..<tc(p)) }
        let keys = visibleKeys(i, p)
        if keys.count == 1 { return TileRuns(keys[0].lowerBound / bc..<(keys[0].upperBound - 1) / bc + 1) }
        return TileRuns(keys.map { $0.lowerBound / bc..<($0.upperBound - 1) / bc + 1 })
    }

    /// Row tiles with a live pair in column tile j.
    public func liveRowTiles(_ j: Int, _ p: AttentionProblem) -> TileRuns {
        guard p.causal else { return TileRuns(0..<tr(p)) }
        if case let .structured(s) = p.mask {
            let g = p.packFactor
            let users = s.rowsSeeing(cols(j, p), nq: p.nq, nk: p.nk)
            return TileRuns(users.map { $0.lowerBound * g / br..<($0.upperBound * g - 1) / br + 1 })
        }
        if case let .blockSparse(m) = p.mask {
            let g = p.packFactor
            return TileRuns(m.rowsSeeing(cols(j, p), nq: p.nq, nk: p.nk).map { $0.lowerBound * g / br..<($0.upperBound * g - 1) / br + 1 })
        }
        return TileRuns(contiguousLiveRowTiles(j, p))
    }

    /// The live row tiles of column tile j cut, in order, into runs that agree on whether j is
    /// their last live column tile (fa1's loops write the finished output for those). Under none,
    /// causal and windows those come first in the one run, so two runs suffice.
    /// `lastColumn` (optional) holds each row tile's last live column tile, for loops that ask
    /// for every column tile (``lastLiveColumns(_:)``).
    public func lastColumnGroups(_ j: Int, _ p: AttentionProblem, lastColumn: [Int]? = nil) -> [Range<Int>] {
        let live = liveRowTiles(j, p)
        func isLast(_ i: Int) -> Bool { (lastColumn?[i] ?? liveColumnTiles(i, p).upperBound - 1) == j }
        guard p.mask.hasStructure else {
            let run = live.hull
            var lastEnd = run.lowerBound
            while lastEnd < run.upperBound, isLast(lastEnd) { lastEnd += 1 }
            return [run.lowerBound..<lastEnd, lastEnd..<run.upperBound]
        }
        var out: [Range<Int>] = []
        for run in live.runs {
            var start = run.lowerBound
            while start < run.upperBound {
                let last = isLast(start)
                var end = start + 1
                while end < run.upperBound, isLast(end) == last { end += 1 }
                out.append(start..<end)
                start = end
            }
        }
        return out
    }

    /// Each row tile's last live column tile (−1 for a row tile with none).
    public func lastLiveColumns(_ p: AttentionProblem) -> [Int] {
        (0..<tr(p)).map { liveColumnTiles($0, p).upperBound - 1 }
    }

    /// ``liveRowTiles(_:_:)`` for none, causal and windows, by bisection on the monotone ends.
    private func contiguousLiveRowTiles(_ j: Int, _ p: AttentionProblem) -> Range<Int> {
        let c = cols(j, p)
        // First row tile whose keys reach past c's start; first row tile whose keys start at or past c's end.
        func first(_ pred: (Range<Int>) -> Bool) -> Int {
            var (lo, hi) = (0, tr(p))
            while lo < hi {
                let mid = (lo + hi) / 2
                let r = rows(mid, p)
                let ends = p.visibleColumns(row: r.lowerBound).lowerBound..<p.visibleColumns(row: r.upperBound - 1).upperBound
                if pred(ends) { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
        let a = first { $0.upperBound > c.lowerBound }
        let b = first { $0.lowerBound >= c.upperBound }
        // A row tile in [a, b) whose rows all see nothing (empty ends) is not live; those sit only
        // at the ends of the run, where visibleKeys is empty.
        var (lo, hi) = (a, max(a, b))
        while lo < hi, visibleKeys(lo, p).isEmpty { lo += 1 }
        while hi > lo, visibleKeys(hi - 1, p).isEmpty { hi -= 1 }
        return lo < hi ? lo..<hi : 0..<0
    }
}

extension KernelConfig {
    /// K (or V) rows and blocks a schedule reads from a paged cache of `blockSize`-slot blocks
    /// (docs/counting-rules.md §12), given the rows its tile loads cover (`kvRows`) and how many of those loads
    /// were of the last column tile. Tiles start on block boundaries (Bc a multiple of the block
    /// size, or a single tile), so whole tiles are whole blocks and only the last tile's tail,
    /// ⌈r/b⌉·b − r slots for its r rows, is read beyond the keys.
    func pagedReads(_ p: AttentionProblem, blockSize b: Int, kvRows: Int, lastTileLoads: Int) throws(SimulationError) -> (rows: Int, blocks: Int) {
        let last = cols(tc(p) - 1, p).count, tail = ceilDiv(last, b) * b - last
        let rows = try Int.checkedAdd(kvRows, .checkedMul(lastTileLoads, tail))
        return (rows, rows / b)
    }
}

/// Sums over the live tile pairs of one instance, for the closed forms.
package struct LiveSums {
    /// Live pairs; Σᵢ of the K/V rows its live column tiles cover; Σᵢ rowsᵢ·(those rows);
    /// Σᵢ rowsᵢ·(live column tiles of i); rows of the row tiles with any live pair.
    package var pairs = 0, kvRows = 0, entries = 0, qRowsByPair = 0, liveQRows = 0, liveRowTiles = 0

    private init() {}

    package init(_ t: KernelConfig, _ p: AttentionProblem) {
        let (n, nk, tc) = (p.n, p.nk, t.tc(p))
        guard p.causal else {
            (pairs, kvRows, entries, qRowsByPair, liveQRows, liveRowTiles) = (t.tr(p) * tc, t.tr(p) * nk, n * nk, n * tc, n, t.tr(p))
            return
        }
        if let fast = Self.causalFast(t, p) { self = fast; return }
        if case let .structured(mask) = p.mask {
            self = Self.structured(t, p) { mask.forEachKeyRun($0, nq: p.nq, nk: p.nk, $1) }
            return
        }
        if case let .blockSparse(mask) = p.mask {
            self = Self.structured(t, p) { mask.forEachKeyRun($0, nq: p.nq, nk: p.nk, $1) }
            return
        }
        for i in 0..<t.tr(p) { add(t, p, i) }
    }

    /// Sinks, prefixes and documents without allocating (the tile search evaluates thousands of
    /// candidates): each row tile's key runs come in key order, so their column tiles merge as
    /// they arrive.
    private static func structured(
        _ t: KernelConfig, _ p: AttentionProblem, _ keyRuns: (Range<Int>, (Range<Int>) -> Void) -> Void
    ) -> LiveSums {
        var s = LiveSums()
        let (g, bc, nk) = (p.packFactor, t.bc, p.nk)
        for i in 0..<t.tr(p) {
            let rows = t.rows(i, p)
            var (pairs, covered, lo, hi) = (0, 0, 0, 0)
            func flush() {
                guard hi > lo else { return }
                pairs += hi - lo
                covered += min(hi * bc, nk) - lo * bc
            }
            keyRuns(rows.lowerBound / g..<(rows.upperBound - 1) / g + 1) { keys in
                let a = keys.lowerBound / bc, b = (keys.upperBound - 1) / bc + 1
                if hi > lo && a <= hi {
                    hi = Swift.max(hi, b)
                } else {
                    flush()
                    (lo, hi) = (a, b)
                }
            }
            flush()
            guard pairs > 0 else { continue }
            s.pairs += pairs
            s.kvRows += covered
            s.entries += rows.count * covered
            s.qRowsByPair += rows.count * pairs
            s.liveQRows += rows.count
            s.liveRowTiles += 1
        }
        return s
    }

    private mutating func add(_ t: KernelConfig, _ p: AttentionProblem, _ i: Int) {
        let live = t.liveColumnTiles(i, p), rows = t.rows(i, p).count
        guard !live.isEmpty else { return }
        let covered = live.covered { t.cols($0, p) }
        pairs += live.count
        kvRows += covered
        entries += rows * covered
        qRowsByPair += rows * live.count
        liveQRows += rows
        liveRowTiles += 1
    }

    /// Plain causal masks (either alignment, no packing) in O(log) time. A full row tile i ends
    /// at row (i+1)·br − 1, which sees the keys below e(i) = min(nk, (i+1)·br + off), off = 0
    /// (top-left) or nk − nq (bottom-right); its live column tiles are 0…⌊(e(i) − 1)/bc⌋. Tiles
    /// before `start` see nothing, tiles from `capped` on see every column tile, and the ones
    /// between are full-width runs summed with a floor sum; the ragged last tile is added alone.
    private static func causalFast(_ t: KernelConfig, _ p: AttentionProblem) -> LiveSums? {
        guard case let .causal(alignment) = p.mask, p.packFactor == 1 else { return nil }
        let (n, nk, br, bc, tc) = (p.n, p.nk, t.br, t.bc, t.tc(p))
        let off = alignment == .topLeft ? 0 : nk - n
        let full = n / br
        // (i+1)·br + off ≥ 1 ⟺ i ≥ ⌈(1 − off)/br⌉ − 1; last column tile tc − 1 is reached when
        // (i+1)·br + off − 1 ≥ (tc − 1)·bc.
        let start = min(full, max(0, ceilDiv(1 - off, br) - 1))
        let capped = min(full, max(start, ceilDiv((tc - 1) * bc + 1 - off, br) - 1))
        var s = LiveSums()
        let count = capped - start
        if count > 0 {
            let lastSum = floorSum(count, bc, br, br * start + br + off - 1)
            s.pairs = lastSum + count
            s.kvRows = (lastSum + count) * bc
        }
        s.pairs += (full - capped) * tc
        s.kvRows += (full - capped) * nk
        s.entries = br * s.kvRows
        s.qRowsByPair = br * s.pairs
        s.liveQRows = br * (full - start)
        s.liveRowTiles = full - start
        if full * br < n { s.add(t, p, full) }
        return s
    }

    /// fa1's view: column tiles with a live pair, the K/V rows they hold, and Σⱼ of the Q rows
    /// of their live row tiles.
    package struct Columns {
        package var count = 0, kvRows = 0, qRows = 0

        package init(_ t: KernelConfig, _ p: AttentionProblem) {
            let (n, nk, br, bc, tc) = (p.n, p.nk, t.br, t.bc, t.tc(p))
            guard p.causal else {
                (count, kvRows, qRows) = (tc, nk, n * tc)
                return
            }
            if case let .causal(alignment) = p.mask, p.packFactor == 1 {
                // Column tile j is live while some row sees key j·bc: j·bc < min(nk, n + off). Its
                // first live row tile is ⌊(j·bc − off)/br⌋ (0 below j·bc = off), at most tr − 1.
                let off = alignment == .topLeft ? 0 : nk - n, tr = t.tr(p)
                count = min(tc, max(0, ceilDiv(min(nk, n + off), bc)))
                kvRows = min(count * bc, nk)
                let j0 = min(count, max(0, ceilDiv(off, bc)))
                let j1 = min(count, max(j0, ceilDiv((tr - 1) * br + off, bc)))
                let firstSum = (j1 > j0 ? floorSum(j1 - j0, br, bc, bc * j0 - off) : 0) + (count - j1) * (tr - 1)
                qRows = count * n - br * firstSum
                return
            }
            for j in 0..<tc {
                let live = t.liveRowTiles(j, p)
                guard !live.isEmpty else { continue }
                count += 1
                kvRows += t.cols(j, p).count
                qRows += live.covered { t.rows($0, p) }
            }
        }
    }
}

/// ⌈a/b⌉ for b > 0 and any a.
@inline(__always) package func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }

/// A row tile's column tiles cut into `count` runs of `per` tiles (split-KV's splits, vLLM's
/// partitions): run s is tiles s·per ..< (s + 1)·per, clipped to Tc (empty past it).
struct ColumnRuns {
    let per: Int, count: Int

    /// Column tiles of run s.
    func range(_ s: Int, _ t: KernelConfig, _ p: AttentionProblem) -> Range<Int> {
        let tc = t.tc(p)
        return min(tc, s * per)..<min(tc, (s + 1) * per)
    }

    /// Live score entries of each (row tile, run) CTA, in launch order (0 for a run that meets
    /// no live column tile: its CTA still launches and writes).
    func ctaWork(_ t: KernelConfig, _ p: AttentionProblem) -> [Double] {
        (0..<t.tr(p)).flatMap { i -> [Double] in
            let live = t.liveColumnTiles(i, p), rows = t.rows(i, p).count
            return (0..<count).map { s -> Double in
                let mine = live.clamped(to: range(s, t, p))
                guard !mine.isEmpty else { return 0 }
                return Double(rows * mine.covered { t.cols($0, p) })
            }
        }
    }

    /// Live column tiles of each (row tile, run) CTA, in the order of ``ctaWork(_:_:)``.
    func ctaTiles(_ t: KernelConfig, _ p: AttentionProblem) -> [Int] {
        (0..<t.tr(p)).flatMap { i -> [Int] in
            let live = t.liveColumnTiles(i, p)
            return (0..<count).map { live.clamped(to: range($0, t, p)).count }
        }
    }

    /// Over the (row tile, run) pieces that meet live column tiles, per instance: their Q rows
    /// and Q tile loads, the K/V rows and tile loads of their live tiles, and how many of them
    /// load the last (possibly ragged) column tile.
    struct Sums {
        var qRows = 0, kvRows = 0, qTiles = 0, kvTiles = 0, lastTileLoads = 0
    }

    func sums(_ t: KernelConfig, _ p: AttentionProblem) -> Sums {
        var x = Sums()
        for i in 0..<t.tr(p) {
            let rows = t.rows(i, p).count, live = t.liveColumnTiles(i, p)
            for s in 0..<count {
                let mine = live.clamped(to: range(s, t, p))
                guard !mine.isEmpty else { continue }
                x.qRows += rows
                x.qTiles += 1
                x.kvRows += mine.covered { t.cols($0, p) }
                x.kvTiles += mine.count
                if mine.upperBound == t.tc(p) { x.lastTileLoads += 1 }
            }
        }
        return x
    }
}
