extension FA1BackwardSchedule {
    /// One kernel. Line 5 writes N·d of dQ (fp32) and Nk·d of dK and of dV; the live column
    /// tiles read their K, V rows once; each live pair reads Qᵢ, Oᵢ, dOᵢ, dQᵢ (fp32), ℓᵢ, mᵢ and
    /// writes dQᵢ (in the dtype at the row tile's last live pair, fp32 before); every column tile
    /// writes its dK, dV. Non-causal: reads 2Nk·d + Tc·(4Nd + 2N), writes (Tc + 1)·Nd + 4Nk·d.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        try BackwardSupport.check(p, kind)
        let (n, nk, d) = (p.n, p.nk, p.d), columns = LiveSums.Columns(t, p)
        let pairRows = columns.qRows, lastRows = LiveSums(t, p).liveQRows
        c.kernel("backward", ctas: 1)
        try c.add(.dQ, writes: n * d, .fp32)
        try c.add(.dK, writes: c.mul(2, nk * d), .output)
        try c.add(.dV, writes: c.mul(2, nk * d), .output)
        try c.add(.K, reads: c.mul(columns.kvRows, d), .input)
        try c.add(.V, reads: c.mul(columns.kvRows, d), .input)
        try c.add(.Q, reads: c.mul(pairRows, d), .input)
        try c.add(.O, reads: c.mul(pairRows, d), .output)
        try c.add(.dO, reads: c.mul(pairRows, d), .output)
        try c.add(.dQ, reads: c.mul(pairRows, d), .fp32)
        try c.add(.l, reads: pairRows, .fp32)
        try c.add(.m, reads: pairRows, .fp32)
        try c.add(.dQ, writes: c.mul(pairRows - lastRows, d), .fp32)
        try c.add(.dQ, writes: c.mul(lastRows, d), .output)
    }
}
