extension FA2BackwardSchedule {
    /// Per kernel, over the live pairs (their Q rows Σ brᵢ, their column tiles' K/V rows):
    /// `preprocess` reads Nd of O and of dO, writes N of D and Nd of the fp32 dQ accumulator;
    /// `main` reads each live column tile's K, V once and per pair Qᵢ, dOᵢ, LSEᵢ, Dᵢ, adds the dQᵢ
    /// partial (fp32) per pair and writes Nk·d of dK and of dV; `convert` reads the accumulator
    /// and writes dQ. Non-causal: reads 5Nd + Tc·(2Nd + 2N), writes N + 4Nd + Tc·Nd.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: Tiles, capacity: Int) throws(SimulationError) {
        try BackwardSupport.check(p, kind)
        let (n, nk, d) = (p.n, p.nk, p.d), columns = LiveSums.Columns(t, p)
        let pairRows = columns.qRows
        c.kernel("preprocess", ctas: t.tr(p))
        try c.add(.O, reads: n * d, .output)
        try c.add(.dO, reads: n * d, .output)
        try c.add(.D, writes: n, .fp32)
        try c.add(.dQ, writes: n * d, .fp32)
        c.kernel("main", ctas: t.tc(p))
        try c.add(.K, reads: c.mul(columns.kvRows, d), .input)
        try c.add(.V, reads: c.mul(columns.kvRows, d), .input)
        try c.add(.Q, reads: c.mul(pairRows, d), .input)
        try c.add(.dO, reads: c.mul(pairRows, d), .output)
        try c.add(.LSE, reads: pairRows, .fp32)
        try c.add(.D, reads: pairRows, .fp32)
        try c.add(.dQ, writes: c.mul(pairRows, d), .fp32)
        try c.add(.dK, writes: nk * d, .output)
        try c.add(.dV, writes: nk * d, .output)
        c.kernel("convert", ctas: t.tr(p))
        try c.add(.dQ, reads: n * d, .fp32)
        try c.add(.dQ, writes: n * d, .output)
    }
}
