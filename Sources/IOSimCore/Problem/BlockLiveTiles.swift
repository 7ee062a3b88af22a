import AttentionReference

/// Live tiles under a block mask (docs/counting-rules.md §5), one plane (the simulator runs each
/// plane's heads as a problem of their own): a full block shows all its keys to all its rows; a
/// partial one what the inner mask shows inside it; an empty one nothing.
extension BlockMask {
    /// The inner mask as a structured one (so that its row runs come from one place).
    var structuredInner: StructuredMask {
        if case let .structured(s) = inner { return s }
        return StructuredMask(base: inner)
    }

    /// Keys some row of `rows` sees, as runs in key order (plane 0).
    func keysSeen(by rows: Range<Int>, nq: Int, nk: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        let s = structuredInner
        let (a0, a1) = (rows.lowerBound / blockQ, (rows.upperBound - 1) / blockQ)
        out.reserveCapacity((a0...a1).reduce(0) { $0 + nonEmpty(plane: 0, row: $1).count })
        for a in a0...a1 {
            let sub = rows.clamped(to: a * blockQ..<(a + 1) * blockQ)
            var innerKeys: [Range<Int>]?  // only when the block row has a partial block
            for b in nonEmpty(plane: 0, row: a) {
                let keys = Int(b) * blockK..<min((Int(b) + 1) * blockK, nk)
                if value(plane: 0, row: a, col: Int(b)) == 2 {
                    out.append(keys)
                    continue
                }
                if innerKeys == nil { innerKeys = s.keysSeen(by: sub, nq: nq, nk: nk) }
                for run in innerKeys! {
                    let seen = run.clamped(to: keys)
                    if !seen.isEmpty { out.append(seen) }
                }
            }
        }
        return out
    }

    /// Calls `body` with the key runs some row of `rows` sees, in key order, without allocating
    /// when the rows lie in one block row (the blocks come in column order); otherwise through
    /// ``keysSeen(by:nq:nk:)``, sorted.
    @inline(__always)
    func forEachKeyRun(_ rows: Range<Int>, nq: Int, nk: Int, _ body: (Range<Int>) -> Void) {
        let a = rows.lowerBound / blockQ
        guard (rows.upperBound - 1) / blockQ == a else {
            for run in keysSeen(by: rows, nq: nq, nk: nk).sorted(by: { $0.lowerBound < $1.lowerBound }) { body(run) }
            return
        }
        let s = structuredInner
        var inner: [Range<Int>]?
        for b32 in nonEmpty(plane: 0, row: a) {
            let b = Int(b32)
            let keys = b * blockK..<min((b + 1) * blockK, nk)
            if value(plane: 0, row: a, col: b) == 2 {
                body(keys)
                continue
            }
            if inner == nil { inner = s.keysSeen(by: rows, nq: nq, nk: nk) }
            for run in inner! {
                let seen = run.clamped(to: keys)
                if !seen.isEmpty { body(seen) }
            }
        }
    }

    /// Rows that see some key of `keys`, as runs (plane 0).
    func rowsSeeing(_ keys: Range<Int>, nq: Int, nk: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        let s = structuredInner
        for b in keys.lowerBound / blockK...(keys.upperBound - 1) / blockK {
            let sub = keys.clamped(to: b * blockK..<(b + 1) * blockK)
            var innerRows: [Range<Int>]?
            for a32 in nonEmpty(plane: 0, col: b) {
                let a = Int(a32)
                let blockRows = a * blockQ..<min((a + 1) * blockQ, nq)
                switch value(plane: 0, row: a, col: b) {
                case 2: out.append(blockRows)
                case 1:
                    if innerRows == nil { innerRows = s.rowsSeeing(sub, nq: nq, nk: nk) }
                    out += innerRows!.map { $0.clamped(to: blockRows) }.filter { !$0.isEmpty }
                default: continue
                }
            }
        }
        return out
    }
}
