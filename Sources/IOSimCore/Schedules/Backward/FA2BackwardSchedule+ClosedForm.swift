extension FA2BackwardSchedule {
    /// Per kernel, over the live pairs (their Q rows Σ brᵢ, their column tiles' K/V rows):
    /// `preprocess` reads Nd of O and of dO, writes N of D and Nd of the fp32 dQ accumulator;
    /// `main` reads each live column tile's K, V once and per pair Qᵢ, dOᵢ, LSEᵢ, Dᵢ, adds the dQᵢ
    /// partial (fp32) per pair and writes Nk·d of dK and of dV; `convert` reads the accumulator
    /// and writes dQ. Non-causal: reads 5Nd + Tc·(2Nd + 2N), writes N + 4Nd + Tc·Nd.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        try BackwardSupport.check(p, kind)
        if p.heads != p.kvHeads { return try gqaClosedForm(into: &c, p, t) }
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

    /// GQA: as above per query head, except that dK and dV are fp32 sums per KV head: preprocess
    /// zeroes Nk·d of each per KV head, main adds each live column tile's dKⱼ, dVⱼ with atomics
    /// (per query head), convert reads the sums and writes them in the dtype (a CTA per column
    /// tile per KV head). Totals over every instance, in a builder for one.
    static func gqaClosedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig) throws(SimulationError) {
        let (n, nk, d) = (p.n, p.nk, p.d), columns = LiveSums.Columns(t, p)
        let (q, kv) = (p.instances, p.batch * p.kvHeads)
        var one = p
        (one.batch, one.heads, one.kvHeads) = (1, 1, 1)
        var b = c.rebased(to: one)
        func perQuery(_ x: Int) throws(SimulationError) -> Int { try b.mul(x, q) }
        let pairRows = try perQuery(columns.qRows), kvSlab = try b.mul(kv, b.mul(nk, d))
        b.combinedKernel("preprocess", ctas: t.tr(p) * q)
        try b.add(.O, reads: perQuery(n * d), .output)
        try b.add(.dO, reads: perQuery(n * d), .output)
        try b.add(.D, writes: perQuery(n), .fp32)
        try b.add(.dQ, writes: perQuery(n * d), .fp32)
        try b.add(.dK, writes: kvSlab, .fp32)
        try b.add(.dV, writes: kvSlab, .fp32)
        b.combinedKernel("main", ctas: t.tc(p) * q)
        try b.add(.K, reads: b.mul(perQuery(columns.kvRows), d), .input)
        try b.add(.V, reads: b.mul(perQuery(columns.kvRows), d), .input)
        try b.add(.Q, reads: b.mul(pairRows, d), .input)
        try b.add(.dO, reads: b.mul(pairRows, d), .output)
        try b.add(.LSE, reads: pairRows, .fp32)
        try b.add(.D, reads: pairRows, .fp32)
        try b.add(.dQ, writes: b.mul(pairRows, d), .fp32)
        try b.add(.dK, writes: b.mul(perQuery(columns.kvRows), d), .fp32)
        try b.add(.dV, writes: b.mul(perQuery(columns.kvRows), d), .fp32)
        b.combinedKernel("convert", ctas: t.tr(p) * q + t.tc(p) * kv)
        try b.add(.dQ, reads: perQuery(n * d), .fp32)
        try b.add(.dQ, writes: perQuery(n * d), .output)
        try b.add(.dK, reads: kvSlab, writes: 0, .fp32)
        try b.add(.dV, reads: kvSlab, writes: 0, .fp32)
        try b.add(.dK, writes: kvSlab, .output)
        try b.add(.dV, writes: kvSlab, .output)
        c = b
    }
}
