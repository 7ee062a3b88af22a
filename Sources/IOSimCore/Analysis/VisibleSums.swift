import AttentionReference

/// What a mask leaves of one (batch element, query head) of a problem, for the mask-aware bound
/// (docs/counting-rules.md §9): the visible (row, key) pairs, the query rows that see at least one
/// key, and the keys seen by at least one row. The structured masks (none, causal, windows) give
/// each row one contiguous range of keys whose two ends never move left as the row grows, so one
/// pass over the rows finds all three; an element mask is counted as no mask, as the counts do.
public struct VisibleSums: Hashable, Sendable {
    /// Visible (row, key) pairs.
    public var pairs: Int
    /// Query rows that see at least one key.
    public var liveRows: Int
    /// Keys that at least one row sees.
    public var liveKeys: Int

    /// The sums of `p`'s mask over its Nq rows and Nk keys (the user's problem, not a packed view).
    public init(_ p: AttentionProblem) {
        let (nq, nk) = (p.nq, p.nk)
        if case let .blockSparse(m) = p.mask {
            self = Self.blocks(m, plane: 0, nq: nq, nk: nk).sums
            return
        }
        guard p.mask.keyRuns(row: 0, nq: nq, nk: nk) != nil, p.mask != .none else {
            (pairs, liveRows, liveKeys) = (nq * nk, nk > 0 ? nq : 0, nq > 0 ? nk : 0)
            return
        }
        if p.mask.hasStructure {
            self = Self.structured(p.mask, nq: nq, nk: nk)
            return
        }
        var (pairs, liveRows, liveKeys, covered) = (0, 0, 0, 0)
        for row in 0..<nq {
            guard let keys = p.mask.columnRange(row: row, nq: nq, nk: nk), !keys.isEmpty else { continue }
            pairs += keys.count
            liveRows += 1
            // Ends never move left, so the keys not yet seen are those past `covered`.
            let start = max(keys.lowerBound, covered)
            if keys.upperBound > start { liveKeys += keys.upperBound - start }
            covered = max(covered, keys.upperBound)
        }
        (self.pairs, self.liveRows, self.liveKeys) = (pairs, liveRows, liveKeys)
    }

    private init(pairs: Int, liveRows: Int, liveKeys: Int) { (self.pairs, self.liveRows, self.liveKeys) = (pairs, liveRows, liveKeys) }

    /// Sinks, prefixes and documents: a row's keys are two runs, and heads restart at each
    /// document, so the keys seen are marked on a difference array (one pass over rows, one over keys).
    private static func structured(_ mask: AttentionMask, nq: Int, nk: Int) -> VisibleSums {
        var (pairs, liveRows) = (0, 0)
        var covered = KeyCoverage(nk)
        for row in 0..<nq {
            guard let keys = mask.keyRuns(row: row, nq: nq, nk: nk), !keys.isEmpty else { continue }
            pairs += keys.count
            liveRows += 1
            keys.forEachRun { covered.mark($0) }
        }
        return VisibleSums(pairs: pairs, liveRows: liveRows, liveKeys: covered.seen.reduce(0) { $0 + ($1 ? 1 : 0) })
    }

    /// One plane of a block mask: the sums, and which keys some row sees (for unions over a
    /// K/V head's group). Full blocks count whole; a partial block counts the inner mask's runs
    /// inside it (an element inner mask, key by key); the keys seen are marked on a difference
    /// array, so a row costs its non-empty blocks, not its keys.
    package static func blocks(_ m: BlockMask, plane: Int, nq: Int, nk: Int) -> (sums: VisibleSums, seen: [Bool]) {
        var (pairs, liveRows) = (0, 0)
        var covered = KeyCoverage(nk)
        for a in 0..<m.rows {
            let blocks = m.nonEmpty(plane: plane, row: a)
            guard !blocks.isEmpty else { continue }
            let rows = a * m.blockQ..<min((a + 1) * m.blockQ, nq)
            // Full blocks: every row of the block row sees all their keys (counted once).
            var fullKeys = 0
            var partial: [Range<Int>] = []
            for b in blocks {
                let keys = Int(b) * m.blockK..<min((Int(b) + 1) * m.blockK, nk)
                if m.value(plane: plane, row: a, col: Int(b)) == 2 {
                    fullKeys += keys.count
                    covered.mark(keys)
                } else {
                    partial.append(keys)
                }
            }
            pairs += fullKeys * rows.count
            for r in rows {
                var count = fullKeys
                if !partial.isEmpty {
                    let runs = m.inner.keyRuns(row: r, nq: nq, nk: nk)
                    for keys in partial {
                        if let runs {
                            runs.forEachRun { run in
                                let seen = run.clamped(to: keys)
                                count += seen.count
                                pairs += seen.count
                                covered.mark(seen)
                            }
                        } else {
                            for j in keys where m.innerAllows(row: r, col: j, nq: nq, nk: nk) {
                                count += 1
                                pairs += 1
                                covered.mark(j..<j + 1)
                            }
                        }
                    }
                }
                if count > 0 { liveRows += 1 }
            }
        }
        let seen = covered.seen
        return (VisibleSums(pairs: pairs, liveRows: liveRows, liveKeys: seen.reduce(0) { $0 + ($1 ? 1 : 0) }), seen)
    }

    /// One batch element's sums over heads (and how many batch elements share them).
    package typealias HeadTotal = (pairs: Int, rows: Int, keys: Int, count: Int)

    /// Per batch element: visible pairs and live rows summed over query heads, live keys summed
    /// over K/V heads (each the union over its group), with how many batch elements share them.
    /// One entry when every batch element has the same mask.
    package static func headTotals(_ p: AttentionProblem) -> [HeadTotal] {
        guard case let .blockSparse(m) = p.mask, m.planes > 1 else {
            let v = VisibleSums(p)
            return [(v.pairs * p.heads, v.liveRows * p.heads, v.liveKeys * p.kvHeads, p.batch)]
        }
        let g = p.heads / p.kvHeads
        return (0..<(m.batch == 1 ? 1 : p.batch)).map { b in
            var (pairs, rows, keys) = (0, 0, 0)
            for kh in 0..<p.kvHeads {
                var union = [Bool](repeating: false, count: p.nk)
                for h in kh * g..<(kh + 1) * g {
                    let one = blocks(m, plane: m.plane(bh: b * p.heads + h), nq: p.nq, nk: p.nk)
                    pairs += one.sums.pairs
                    rows += one.sums.liveRows
                    for j in 0..<p.nk where one.seen[j] { union[j] = true }
                }
                keys += union.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            return (pairs, rows, keys, m.batch == 1 ? p.batch : 1)
        }
    }
}

/// The keys some run of keys covers, marked on a difference array: a run costs two updates, not
/// its length.
private struct KeyCoverage {
    private var starts: [Int]

    init(_ keys: Int) { starts = [Int](repeating: 0, count: keys + 1) }

    mutating func mark(_ keys: Range<Int>) {
        guard !keys.isEmpty else { return }
        starts[keys.lowerBound] += 1
        starts[keys.upperBound] -= 1
    }

    /// Whether each key is covered.
    var seen: [Bool] {
        var depth = 0
        return starts.dropLast().map { step in
            depth += step
            return depth > 0
        }
    }
}
