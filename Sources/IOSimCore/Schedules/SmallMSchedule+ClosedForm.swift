extension SmallMSchedule {
    /// Phase 1 reads Qᵢ and Kⱼ per live pair (d-block by d-block) and writes A and ℓ; phase 2
    /// reads ℓ, A once per d-block and Vⱼ, and writes O. Non-causal, T_d = ⌈d/b⌉: reads
    /// Tc·Nd + 2·Tr·Nk·d + T_d·N·Nk + N, writes N·Nk + N + Nd.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        let live = LiveSums(t, p), (n, d, tr) = (p.n, p.d, t.tr(p))
        let dBlocks = (d + dBlock(t, p) - 1) / dBlock(t, p)
        c.kernel("exp-scores", ctas: tr)
        try c.add(.Q, reads: c.mul(live.qRowsByPair, d), .input)
        try c.add(.K, reads: c.mul(live.kvRows, d), .input)
        try c.add(.P, writes: live.entries, .output)
        try c.add(.l, writes: n, .fp32)
        try c.scales(2 * dBlocks * live.pairs)
        c.kernel("pv", ctas: tr)
        try c.add(.l, reads: live.liveQRows, .fp32)  // row tiles that see no key read nothing
        try c.add(.P, reads: c.mul(dBlocks, live.entries), .output)
        try c.add(.V, reads: c.mul(live.kvRows, d), .input)
        try c.add(.O, writes: n * d, .output)
        try c.scales(dBlocks * live.pairs)
    }
}
