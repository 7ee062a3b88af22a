extension PagedV2Schedule {
    /// Kernel `paged`, per (row tile, partition) that meets the row tile's live column tiles:
    /// its q rows once and v1's paged K/V reads of the live tiles in the partition; every
    /// (row tile, partition) writes, per row, 2 `LSEpart` values (fp32) and d `Opart` values (the
    /// dtype). Kernel `reduce`, per query row: with P > 1 partitions, 2·P `LSEpart` and P·d
    /// `Opart` reads; with one, d `Opart` reads; d O writes either way.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int)
        throws(SimulationError)
    {
        let (n, d, parts) = (p.n, p.d, partitions(t, p))
        let x = runs(t, p).sums(t, p)
        c.kernel("paged", ctas: t.tr(p) * parts)
        try c.add(.Q, reads: c.mul(x.qRows, d), .input)
        try FA2Schedule.addKV(into: &c, p, t, kvRows: x.kvRows, lastTileLoads: { x.lastTileLoads }, blockSize: p.blockSize)
        try c.add(.LSEpart, writes: c.mul(2 * parts, n), .fp32)
        try c.add(.Opart, writes: c.mul(c.mul(parts, n), d), .output)
        try c.scales(x.qTiles + 2 * x.kvTiles)
        c.kernel("reduce", ctas: n)
        if parts > 1 { try c.add(.LSEpart, reads: c.mul(2 * parts, n), .fp32) }
        try c.add(.Opart, reads: c.mul(c.mul(parts, n), d), .output)
        try c.add(.O, writes: c.mul(n, d), .output)
    }
}
