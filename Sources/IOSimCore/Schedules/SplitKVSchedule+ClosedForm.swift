extension SplitKVSchedule {
    /// Kernel `split`: per (row tile, split) whose range meets the row tile's live column tiles,
    /// Qᵢ once and the K/V rows of the live tiles in the range; every (row tile, split) writes
    /// brᵢ·d `Opart` and brᵢ `LSEpart` values (fp32). Kernel `combine`: per query row, 2·S
    /// `LSEpart` reads, S·d `Opart` reads, d O writes and one LSE write. S = 1 is fa2's.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int)
        throws(SimulationError)
    {
        let splits = t.splits
        guard splits > 1 else {
            try FA2Schedule.forwardClosedForm(into: &c, p, t, kernel: FA2Schedule.kind.rawValue)
            return
        }
        let (n, d) = (p.n, p.d)
        let x = runs(t, p).sums(t, p)
        c.kernel("split", ctas: t.tr(p) * splits)
        try c.add(.Q, reads: c.mul(x.qRows, d), .input)
        try FA2Schedule.addKV(into: &c, p, t, kvRows: x.kvRows, lastTileLoads: { x.lastTileLoads })
        try c.add(.Opart, writes: c.mul(splits * n, d), .fp32)
        try c.add(.LSEpart, writes: splits * n, .fp32)
        try c.scales(x.qTiles + 2 * x.kvTiles)
        c.combinedKernel("combine", ctas: combineCTAs(rows: n * p.instances, d: d))
        try c.add(.LSEpart, reads: 2 * splits * n, .fp32)
        try c.add(.Opart, reads: c.mul(splits * n, d), .fp32)
        try c.add(.O, writes: n * d, .output)
        try c.add(.LSE, writes: n, .fp32)
    }
}
