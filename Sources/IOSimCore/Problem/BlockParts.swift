import AttentionReference

extension AttentionProblem {
    /// With a block mask of several planes (per head, per batch element or both): one problem per
    /// plane, holding the (batch, head) instances that use it, each query head loading its own
    /// K/V (as unpacked GQA does); nil for any other problem. Counts add up over the parts.
    public var blockParts: [AttentionProblem]? {
        guard case let .blockSparse(m) = mask, m.planes > 1 else { return nil }
        return (0..<m.planes).map { plane in
            var p = self
            p.mask = .blockSparse(m.single(plane))
            if m.heads > 1 { (p.heads, p.kvHeads) = (1, 1) }
            if m.batch > 1 { p.batch = 1 }
            return p
        }
    }
}
