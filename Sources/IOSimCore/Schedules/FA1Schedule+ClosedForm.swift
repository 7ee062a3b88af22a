extension FA1Schedule {
    /// K/V once per live column tile; per live pair Qᵢ, Oᵢ (fp32), ℓᵢ, mᵢ read and written back,
    /// the last live pair of a row tile writing the finished O in the output dtype; O, ℓ, m
    /// initialised for every row. Non-causal: reads 2Nd + Tc·(2Nd + 2N), writes (Tc + 1)·(Nd + 2N).
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        let live = LiveSums(t, p), cols = LiveSums.Columns(t, p), (n, d) = (p.n, p.d)
        c.kernel(kind.rawValue, ctas: 1)
        try c.add(.K, reads: cols.kvRows * d, .input)
        try c.add(.V, reads: cols.kvRows * d, .input)
        try c.scales(2 * cols.count + live.pairs)
        try c.add(.Q, reads: c.mul(cols.qRows, d), .input)
        // A row tile that sees no key keeps the initial zeros and never writes the finished O.
        try c.add(.O, reads: c.mul(cols.qRows, d), writes: c.mul(n + cols.qRows - live.liveQRows, d), .fp32)
        try c.add(.O, writes: live.liveQRows * d, .output)
        try c.add(.l, reads: cols.qRows, writes: n + cols.qRows, .fp32)
        try c.add(.m, reads: cols.qRows, writes: n + cols.qRows, .fp32)
    }
}
