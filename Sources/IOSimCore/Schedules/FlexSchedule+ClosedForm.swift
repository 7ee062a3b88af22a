extension FlexSchedule {
    /// Per instance: Q and O of every row, the LSE of every row; per CTA its table entries
    /// (2 + its non-empty blocks) and the K and V rows of those blocks. A sum over the Tr CTAs of
    /// one instance.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        try check(p, t)
        var (table, kvRows, visited) = (0, 0, 0)
        for i in 0..<t.tr(p) {
            // A block-mask file, a CTA inside one mask row: its row's non-empty blocks, counted
            // without building runs (the tile search asks this of many tiles).
            if case let .blockSparse(m) = p.mask, case let rows = t.rows(i, p), rows.lowerBound / m.blockQ == (rows.upperBound - 1) / m.blockQ {
                let blocks = m.nonEmpty(plane: 0, row: rows.lowerBound / m.blockQ)
                table += 2 + blocks.count
                visited += blocks.count
                kvRows += blocks.count * m.blockK
                if let last = blocks.last, Int(last) == m.cols - 1 { kvRows -= m.cols * m.blockK - p.nk }
                continue
            }
            let live = liveBlocks(t.rows(i, p), p)
            table += 2 + live.count
            visited += live.count
            kvRows += live.covered { blocks(p).cols($0, p) }
        }
        c.kernel(kind.rawValue, ctas: t.tr(p))
        try c.add(.table, reads: table, .int32)
        try c.add(.Q, reads: c.mul(p.n, p.d), .input)
        try c.add(.K, reads: c.mul(kvRows, p.d), .input)
        try c.add(.V, reads: c.mul(kvRows, p.d), .input)
        try c.add(.O, writes: c.mul(p.n, p.d), .output)
        try c.add(.LSE, writes: p.n, .fp32)
        try c.scales(t.tr(p) + 2 * visited)
    }
}
