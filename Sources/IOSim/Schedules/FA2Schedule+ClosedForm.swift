extension FA2Schedule {
    /// Σᵢ over the live column tiles of row tile i of their real widths; a row tile with none
    /// loads nothing. Non-causal: reads Nd + 2·Nk·d·Tr, writes Nd + N.
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: Tiles, capacity: Int) throws(SimulationError) {
        try forwardClosedForm(into: &c, p, t, kernel: kind.rawValue)
    }

    /// The FA2 loop's traffic, shared with fa3.
    static func forwardClosedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: Tiles, kernel: String) throws(SimulationError) {
        let live = LiveSums(t, p), d = p.d
        c.kernel(kernel, ctas: t.tr(p))
        try c.add(.Q, reads: live.liveQRows * d, .input)
        try c.add(.K, reads: c.mul(live.kvRows, d), .input)
        try c.add(.V, reads: c.mul(live.kvRows, d), .input)
        try c.add(.O, writes: p.n * d, .output)
        try c.add(.LSE, writes: p.n, .fp32)
        try c.scales(live.liveRowTiles + 2 * live.pairs)
    }
}
