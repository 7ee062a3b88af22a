extension LeanSchedule {
    /// By enumeration of the rows of every instance (CTA boundaries fall differently in each):
    /// a row tile covered by k runs loads Qᵢ k times and its live K/V once; k − 1 runs write a
    /// partial (brᵢ·d + brᵢ fp32) that the host reads once; O and LSE are written once. Rows that
    /// see no key write O and LSE only.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int)
        throws(SimulationError)
    {
        try checkSize(t, p)
        let stream = Stream(t, p), d = p.d
        var qRows = 0, kvRows = 0, partRows = 0, qTiles = 0, kvTiles = 0, lastTileLoads = 0
        for inst in 0..<p.instances {
            for i in 0..<t.tr(p) where !stream.live[i].isEmpty {
                let rows = t.rows(i, p).count, live = stream.live[i]
                let a = inst * stream.perInstance + stream.start[i], b = a + live.count
                let runs = stream.cta(b - 1) - stream.cta(a) + 1
                qRows += runs * rows
                qTiles += runs
                partRows += (runs - 1) * rows
                kvRows += live.covered { t.cols($0, p) }
                kvTiles += live.count
                if live.upperBound == t.tc(p) { lastTileLoads += 1 }
            }
        }
        // The builder multiplies by batch·heads; these sums already cover every instance.
        var one = p
        (one.batch, one.heads, one.kvHeads) = (1, 1, 1)
        var b = c.rebased(to: one)
        b.combinedKernel(kind.rawValue, ctas: stream.ctas)
        try b.add(.Q, reads: b.mul(qRows, d), .input)
        try FA2Schedule.addKV(into: &b, p, t, kvRows: kvRows, lastTileLoads: { lastTileLoads })
        try b.add(.O, writes: b.mul(p.n * p.instances, d), .output)
        try b.add(.LSE, writes: p.n * p.instances, .fp32)
        try b.add(.Opart, reads: b.mul(partRows, d), writes: b.mul(partRows, d), .fp32)
        try b.add(.LSEpart, reads: partRows, writes: partRows, .fp32)
        try b.scales(qTiles + 2 * kvTiles)
        c = b
    }
}
