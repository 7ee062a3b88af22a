extension ChunkAttnSchedule {
    /// With H heads, n sequences of Nq rows, d, S = ⌊P/c⌋ shared chunks and Tr row tiles:
    ///
    /// - `chunk-first` (H·S CTAs): K and V c·d each per CTA; per sequence Nq·d of Q read, Nq·d of
    ///   `Opart` (the dtype) and 2·Nq of `LSEpart` (fp32) written: H·S·n times. Absent when S = 0.
    /// - `sequence-first` (H·n·Tr CTAs): per sequence of L tokens, Nq·d of Q; S·Nq·d of `Opart`
    ///   and 2·S·Nq of `LSEpart` read; its ⌈(L − S·c)/c⌉ own chunks, c·d of K and of V each,
    ///   per row tile; Nq·d of O written: H times.
    ///
    /// The sums run over the batch's lengths; the builder is given one instance, so nothing is
    /// multiplied again.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int)
        throws(SimulationError)
    {
        try check(p)
        let (q, d, ch, shared, heads, n, tr) = (p.n, p.d, p.chunk, sharedChunks(p), p.heads, p.batch, t.tr(p))
        var one = p
        (one.batch, one.heads, one.kvHeads) = (1, 1, 1)
        var b = c.rebased(to: one)
        if shared > 0 {
            let ctas = try b.mul(heads, shared), rows = try b.mul(b.mul(ctas, n), q)
            b.combinedKernel("chunk-first", ctas: ctas)
            try b.add(.K, reads: b.mul(b.mul(ctas, ch), d), .input)
            try b.add(.V, reads: b.mul(b.mul(ctas, ch), d), .input)
            try b.add(.Q, reads: b.mul(rows, d), .input)
            try b.add(.Opart, writes: b.mul(rows, d), .output)
            try b.add(.LSEpart, writes: b.mul(2, rows), .fp32)
            try b.scales(.checkedAdd(b.mul(2, ctas), b.mul(b.mul(ctas, n), tr)))
        }
        let sequences = try b.mul(heads, n), rows = try b.mul(sequences, q)
        b.combinedKernel("sequence-first", ctas: try b.mul(sequences, tr))
        try b.add(.Q, reads: b.mul(rows, d), .input)
        if shared > 0 {
            try b.add(.Opart, reads: b.mul(b.mul(rows, shared), d), .output)
            try b.add(.LSEpart, reads: b.mul(b.mul(rows, shared), 2), .fp32)
        }
        // Own chunk loads: whole chunks, once per row tile of every (head, sequence).
        var chunkLoads = 0
        for g in groups(p) { chunkLoads = try .checkedAdd(chunkLoads, b.mul(g.count, ownChunks(g.length, p))) }
        chunkLoads = try b.mul(b.mul(chunkLoads, heads), tr)
        try b.add(.K, reads: b.mul(b.mul(chunkLoads, ch), d), .input)
        try b.add(.V, reads: b.mul(b.mul(chunkLoads, ch), d), .input)
        try b.add(.O, writes: b.mul(rows, d), .output)
        try b.scales(.checkedAdd(b.mul(sequences, tr), b.mul(2, chunkLoads)))
        c = b
    }
}
