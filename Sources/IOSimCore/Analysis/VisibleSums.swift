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
        var starts = [Int](repeating: 0, count: nk + 1)
        for row in 0..<nq {
            guard let keys = mask.keyRuns(row: row, nq: nq, nk: nk), !keys.isEmpty else { continue }
            pairs += keys.count
            liveRows += 1
            for run in keys.runs {
                starts[run.lowerBound] += 1
                starts[run.upperBound] -= 1
            }
        }
        var (depth, liveKeys) = (0, 0)
        for k in 0..<nk {
            depth += starts[k]
            if depth > 0 { liveKeys += 1 }
        }
        return VisibleSums(pairs: pairs, liveRows: liveRows, liveKeys: liveKeys)
    }
}
