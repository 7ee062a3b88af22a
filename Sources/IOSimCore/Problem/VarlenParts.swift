import AttentionReference

extension AttentionProblem {
    /// Under `--packing varlen` (docs/counting-rules.md §13): one problem per distinct document
    /// length, as FlashAttention's `cu_seqlens` kernels run them — N = Nk = the length, the batch
    /// every document of that length (times the batch), the window, sinks and prefix applied
    /// inside each — longest first. nil for any other problem.
    public var varlenParts: [AttentionProblem]? {
        guard packing == .varlen, case let .structured(s) = mask, !s.documents.isEmpty else { return nil }
        var counts: [Int: Int] = [:]
        for n in s.documents { counts[n, default: 0] += 1 }
        let inner: AttentionMask =
            s.sinkTokens == 0 && s.prefix == 0 ? s.base : .structured(StructuredMask(base: s.base, sinkTokens: s.sinkTokens, prefix: s.prefix))
        return counts.keys.sorted(by: >).map { length in
            var p = self
            (p.mask, p.packing) = (inner, .mask)
            (p.n, p.nk, p.batch) = (length, length, batch * counts[length]!)
            return p
        }
    }
}
