import AttentionReference

/// Live tiles under a mask with sinks, a prefix or documents (docs/counting-rules.md §5). Inside
/// one document both ends of a row's window and the end of its head (sinks, prefix) never move
/// left as the row grows, so the keys a run of rows sees are, per document, the head of its last
/// row and the window from its first to its last row that sees anything; and the rows that see a
/// run of keys are, per document, a bisection away.
extension StructuredMask {
    /// Keys seen by some row of `rows` (user rows, Nq of them, Nk keys), as runs in key order.
    func keysSeen(by rows: Range<Int>, nq: Int, nk: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        forEachKeyRun(rows, nq: nq, nk: nk) { out.append($0) }
        return out
    }

    /// Calls `body` with the runs of keys some row of `rows` sees, in key order (a document's head
    /// starts at or before its window; a later document's keys come after), without allocating.
    @inline(__always)
    func forEachKeyRun(_ rows: Range<Int>, nq: Int, nk: Int, _ body: (Range<Int>) -> Void) {
        var r = rows.lowerBound
        while r < rows.upperBound {
            let doc = documents.isEmpty ? 0..<nq : document(of: r, length: nq)
            let (n, k, from) = documents.isEmpty ? (nq, nk, 0) : (doc.count, doc.count, doc.lowerBound)
            let end = min(rows.upperBound, doc.upperBound)
            let a = r - doc.lowerBound, b = end - doc.lowerBound
            r = end
            let head = headEnd(row: b - 1, nq: n, nk: k)
            if head > 0 { body(from..<from + head) }
            let live = windowRows(a..<b, nq: n, nk: k)
            guard !live.isEmpty else { continue }
            let lo = base.windowRange(row: live.lowerBound, nq: n, nk: k).lowerBound
            let hi = base.windowRange(row: live.upperBound - 1, nq: n, nk: k).upperBound
            body(from + lo..<from + hi)
        }
    }

    /// User rows that see some key of `keys`, as runs in row order.
    func rowsSeeing(_ keys: Range<Int>, nq: Int, nk: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        for seg in segments(keys, length: nk) {
            let doc = documents.isEmpty ? 0..<nq : document(of: seg.lowerBound, length: nk)
            let (n, k, from) = documents.isEmpty ? (nq, nk, 0) : (doc.count, doc.count, doc.lowerBound)
            let k0 = seg.lowerBound - from, k1 = seg.upperBound - from
            // Heads reach k0 from some row on; windows meet [k0, k1) between two rows.
            let headFrom = firstRow(n) { headEnd(row: $0, nq: n, nk: k) > k0 }
            if headFrom < n { out.append(from + headFrom..<from + n) }
            let start = firstRow(n) { base.windowRange(row: $0, nq: n, nk: k).upperBound > k0 }
            let end = firstRow(n) { base.windowRange(row: $0, nq: n, nk: k).lowerBound >= k1 }
            let live = windowRows(start..<max(start, end), nq: n, nk: k)
            if !live.isEmpty { out.append(from + live.lowerBound..<from + live.upperBound) }
        }
        return out
    }

    /// The rows of `rows` whose window holds a key: a row sees nothing when its window ends at
    /// key 0 or starts at Nk, which happens only in runs at either end.
    private func windowRows(_ rows: Range<Int>, nq: Int, nk: Int) -> Range<Int> {
        guard nk > 0, !rows.isEmpty else { return 0..<0 }
        func window(_ r: Int) -> Range<Int> { base.windowRange(row: r, nq: nq, nk: nk) }
        // The common case, every row seeing something (always inside a document), in two calls.
        if window(rows.lowerBound).upperBound > 0 && window(rows.upperBound - 1).lowerBound < nk { return rows }
        let lo = rows.lowerBound + firstRow(rows.count) { window(rows.lowerBound + $0).upperBound > 0 }
        let hi = rows.lowerBound + firstRow(rows.count) { window(rows.lowerBound + $0).lowerBound >= nk }
        return lo < hi ? lo..<hi : 0..<0
    }

    /// The first of 0..<n where a predicate that never turns false again holds (n if none).
    private func firstRow(_ n: Int, _ pred: (Int) -> Bool) -> Int {
        var (lo, hi) = (0, n)
        while lo < hi {
            let mid = (lo + hi) / 2
            if pred(mid) { hi = mid } else { lo = mid + 1 }
        }
        return lo
    }
}
