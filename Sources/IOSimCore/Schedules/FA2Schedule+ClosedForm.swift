extension FA2Schedule {
    /// Σᵢ over the live column tiles of row tile i of their real widths; a row tile with none
    /// loads nothing. Non-causal: reads Nd + 2·Nk·d·Tr, writes Nd + N.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        try forwardClosedForm(into: &c, p, t, kernel: kind.rawValue)
    }

    /// The FA2 loop's traffic, shared with fa3.
    static func forwardClosedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, kernel: String) throws(SimulationError) {
        let live = LiveSums(t, p), d = p.d
        c.kernel(kernel, ctas: t.tr(p))
        try c.add(.Q, reads: live.liveQRows * d, .input)
        try addKV(into: &c, p, t, kvRows: live.kvRows, lastTileLoads: { t.liveRowTiles(t.tc(p) - 1, p).count })
        try c.add(.O, writes: p.n * d, .output)
        try c.add(.LSE, writes: p.n, .fp32)
        try c.scales(live.liveRowTiles + 2 * live.pairs)
    }

    /// K and V reads of tile loads covering `kvRows` rows, and under a paged cache (`blockSize`,
    /// else the problem's layout) the whole blocks and the table entries of the K loop and of
    /// the V loop; `lastTileLoads` counts the loads of the last column tile. Shared by every
    /// schedule that streams K/V with ``TileMachine/attend(_:kvInstance:rows:columnTiles:blockSize:)``.
    static func addKV(
        into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, kvRows: Int,
        lastTileLoads: () -> Int, blockSize: Int? = nil
    ) throws(SimulationError) {
        var rows = kvRows
        if let b = blockSize ?? p.pagedBlockSize {
            let paged = try t.pagedReads(p, blockSize: b, kvRows: kvRows, lastTileLoads: lastTileLoads())
            rows = paged.rows
            try c.add(.table, reads: c.mul(2, paged.blocks), .int32)
        }
        try c.add(.K, reads: c.mul(rows, p.d), .input)
        try c.add(.V, reads: c.mul(rows, p.d), .input)
    }
}
