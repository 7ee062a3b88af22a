/// Where a causal diagonal sits when `nq ≠ nk`.
public enum CausalAlignment: String, Sendable, CaseIterable {
    /// Row r sees columns c ≤ r (PyTorch `is_causal`).
    case topLeft
    /// Row r sees columns c ≤ r + nk − nq (FlashAttention-2 ≥ 2.1): the last query sees every key.
    case bottomRight
}

/// Which scores take part in the softmax. Boolean masks use PyTorch's convention
/// (`true` = attend); additive masks are added to the scaled scores (−∞ removes an entry).
/// Element masks hold either `nq·nk` entries (shared by every batch and head) or
/// `batch·heads·nq·nk` entries.
public enum AttentionMask: Sendable, Hashable {
    case none
    case causal(CausalAlignment)
    /// Row r (shifted by the alignment) sees columns in [r − left, r + right].
    case slidingWindow(left: Int, right: Int, alignment: CausalAlignment)
    case boolean([Bool])
    case additive([Double])
    /// A window or causal mask with sink tokens, a prefix or documents (docs/cli.md §2).
    indirect case structured(StructuredMask)
    /// A block mask over any of the above (docs/cli.md §2).
    indirect case blockSparse(BlockMask)

    /// Shift that places row r's diagonal at column r + offset.
    static func offset(_ alignment: CausalAlignment, nq: Int, nk: Int) -> Int {
        alignment == .topLeft ? 0 : nk - nq
    }

    /// The contiguous range of columns row `row` may see under none, causal or a window; `nil`
    /// for element masks and for structured masks with sinks, a prefix or documents (whose rows
    /// may see two runs: use ``keyRuns(row:nq:nk:)``).
    public func columnRange(row: Int, nq: Int, nk: Int) -> Range<Int>? {
        switch self {
        case .none, .causal, .slidingWindow: windowRange(row: row, nq: nq, nk: nk)
        case .boolean, .additive, .structured, .blockSparse: nil
        }
    }

    /// Throws when an element mask has neither of its accepted sizes.
    package func validate(_ shape: AttentionShape) throws(AttentionError) {
        let count: Int
        switch self {
        case .none, .causal: return
        case let .slidingWindow(left, right, _):
            if left < 0 || right < 0 { throw .negativeWindow(left: left, right: right) }
            return
        case let .structured(m):
            try m.validate(shape)
            return
        case let .blockSparse(m):
            try m.validate(shape)
            return
        case let .boolean(m): count = m.count
        case let .additive(m): count = m.count
        }
        let plane = shape.nq * shape.nk
        if count != plane && count != plane * shape.batch * shape.heads {
            throw .maskShape(expected: "\(plane) (Nq·Nk) or \(plane * shape.batch * shape.heads) (batch·heads·Nq·Nk)", actual: count)
        }
    }

    /// Offset of the (batch·heads index `bh`) plane inside an element mask.
    func planeOffset(bh: Int, plane: Int) -> Int {
        switch self {
        case let .boolean(m): return m.count == plane ? 0 : bh * plane
        case let .additive(m): return m.count == plane ? 0 : bh * plane
        case let .blockSparse(m): return m.plane(bh: bh)
        default: return 0
        }
    }
}
