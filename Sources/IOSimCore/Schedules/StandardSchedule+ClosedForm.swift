extension StandardSchedule {
    /// Reads Nd + 2·Tr·Nk·d + 2·N·Nk (3·N·Nk when a row of S does not fit), writes 2·N·Nk + Nd,
    /// over three kernels; the mask does not change them (it lives in the softmax).
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        let (n, nk, d, tr, tc) = (p.n, p.nk, p.d, t.tr(p), t.tc(p))
        let sReads = rowFits(p, capacity: capacity) ? n * nk : 2 * n * nk
        c.kernel("scores", ctas: tr)
        try c.add(.Q, reads: n * d, .input)
        try c.add(.K, reads: c.mul(tr * nk, d), .input)
        try c.add(.S, writes: n * nk, .output)
        try c.scales(tr + tr * tc)
        c.kernel("softmax", ctas: n)
        try c.add(.S, reads: sReads, .output)
        try c.add(.P, writes: n * nk, .output)
        c.kernel("pv", ctas: tr)
        try c.add(.P, reads: n * nk, .output)
        try c.add(.V, reads: c.mul(tr * nk, d), .input)
        try c.add(.O, writes: n * d, .output)
        try c.scales(tr * tc)
    }
}
