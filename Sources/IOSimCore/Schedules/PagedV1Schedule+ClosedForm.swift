extension PagedV1Schedule {
    /// Kernel `paged`, per row tile with a live column tile: its q rows once; per live column
    /// tile, the whole blocks it covers of K and of V and one table entry per block in each
    /// loop; O once (n·d, the dtype). FA2's sums with the paged rounding and no LSE.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int)
        throws(SimulationError)
    {
        let live = LiveSums(t, p), d = p.d
        c.kernel("paged", ctas: t.tr(p))
        try c.add(.Q, reads: c.mul(live.liveQRows, d), .input)
        try FA2Schedule.addKV(
            into: &c, p, t, kvRows: live.kvRows, lastTileLoads: { t.liveRowTiles(t.tc(p) - 1, p).count }, blockSize: p.blockSize)
        try c.add(.O, writes: c.mul(p.n, d), .output)
        try c.scales(live.liveRowTiles + 2 * live.pairs)
    }
}
