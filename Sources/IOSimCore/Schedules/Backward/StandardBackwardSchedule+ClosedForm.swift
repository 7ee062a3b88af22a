extension StandardBackwardSchedule {
    /// Per kernel: `dv` reads N·Nk of P and Tc·Nd of dO, writes Nk·d; `dp` reads Nd of dO and
    /// Tr·Nk·d of V, writes N·Nk; `ds` reads N·Nk of P and of dP (twice each when the two rows do
    /// not fit in M), writes N·Nk; `dq` reads N·Nk of dS and Tr·Nk·d of K, writes Nd; `dk` reads
    /// N·Nk of dS and Tc·Nd of Q, writes Nk·d. The mask changes none of them.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        try BackwardSupport.check(p, kind)
        let (n, nk, d, tr, tc) = (p.n, p.nk, p.d, t.tr(p), t.tc(p))
        let scores = try c.mul(n, nk), passes = rowChunk(p, capacity: capacity) < nk ? 2 : 1
        c.kernel("dv", ctas: tc)
        try c.add(.P, reads: scores, .output)
        try c.add(.dO, reads: c.mul(tc * n, d), .output)
        try c.add(.dV, writes: nk * d, .output)
        c.kernel("dp", ctas: tr)
        try c.add(.dO, reads: n * d, .output)
        try c.add(.V, reads: c.mul(tr * nk, d), .input)
        try c.add(.dP, writes: scores, .output)
        c.kernel("ds", ctas: n)
        try c.add(.P, reads: c.mul(passes, scores), .output)
        try c.add(.dP, reads: c.mul(passes, scores), .output)
        try c.add(.dS, writes: scores, .output)
        c.kernel("dq", ctas: tr)
        try c.add(.dS, reads: scores, .output)
        try c.add(.K, reads: c.mul(tr * nk, d), .input)
        try c.add(.dQ, writes: n * d, .output)
        c.kernel("dk", ctas: tc)
        try c.add(.dS, reads: scores, .output)
        try c.add(.Q, reads: c.mul(tc * n, d), .input)
        try c.add(.dK, writes: nk * d, .output)
    }
}
