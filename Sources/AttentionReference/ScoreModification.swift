import RealModule

/// Changes to the scores that kernels ship besides masks (docs/cli.md §2, "Score modifications"):
/// a tanh soft cap (Gemma 2, FlashAttention's `softcap`), ALiBi's linear position bias (Press et
/// al. 2022; BLOOM, MosaicBERT) and per-head sink logits (gpt-oss: an extra logit in every row's
/// softmax denominator with no value row). They apply to the scaled scores in that order, soft cap
/// first, as FlashAttention does; masked entries stay masked.
public struct ScoreModification: Sendable, Hashable {
    /// C > 0: s → C·tanh(s/C).
    public var softcap: Double?
    /// One slope per query head: s → s − slope·|pos(r) − c|.
    public var alibiSlopes: [Double]?
    /// One logit per query head, added to each row's softmax denominator (and its max) only.
    public var sinkLogits: [Double]?
    /// ALiBi's pos(r) = r + positionOffset when set (a block of rows cut from a larger problem);
    /// otherwise from the mask's alignment (``alibiOffset(_:nq:nk:)``).
    public var positionOffset: Int?

    public init(softcap: Double? = nil, alibiSlopes: [Double]? = nil, sinkLogits: [Double]? = nil, positionOffset: Int? = nil) {
        (self.softcap, self.alibiSlopes, self.sinkLogits, self.positionOffset) = (softcap, alibiSlopes, sinkLogits, positionOffset)
    }

    /// The modification of query heads `heads` alone (a K/V group checked as its own problem).
    public func heads(_ heads: Range<Int>) -> ScoreModification {
        ScoreModification(
            softcap: softcap, alibiSlopes: alibiSlopes.map { Array($0[heads]) }, sinkLogits: sinkLogits.map { Array($0[heads]) },
            positionOffset: positionOffset)
    }

    /// Query head `head`'s modification alone, for rows `r0…` of a problem with `nq` × `nk` scores
    /// under `mask` computed as a one-head problem of those rows (iosim check's row blocks).
    public func head(_ head: Int, rowsFrom r0: Int, mask: AttentionMask, nq: Int, nk: Int) -> ScoreModification {
        var one = heads(head..<head + 1)
        one.positionOffset = r0 + rowOffset(mask, nq: nq, nk: nk)
        return one
    }

    /// No modification.
    public static let none = ScoreModification()
    public var isNone: Bool { softcap == nil && alibiSlopes == nil && sinkLogits == nil }
    /// Which modifications are set, as their flags (for reports).
    public var flags: [String] {
        [(softcap != nil, "--softcap"), (alibiSlopes != nil, "--alibi-slopes"), (sinkLogits != nil, "--sink-logits")].filter(\.0).map(\.1)
    }

    /// The ALiBi paper's slopes for `heads` query heads, 2^(−8(h+1)/heads); nil unless `heads` is a
    /// power of two (the paper interleaves two such sequences otherwise: pass those as a file).
    public static func standardSlopes(heads: Int) -> [Double]? {
        guard heads > 0, heads & (heads - 1) == 0 else { return nil }
        return (0..<heads).map { Double.exp2(-8 * Double($0 + 1) / Double(heads)) }
    }

    /// Checks the values against a shape's query heads.
    public func validate(heads: Int) throws(AttentionError) {
        if let c = softcap, !(c.isFinite && c > 0) { throw .invalidModification("the soft cap must be a positive finite number, got \(c)") }
        if let slopes = alibiSlopes {
            if slopes.count != heads { throw .invalidModification("ALiBi slopes: \(slopes.count) values for \(heads) query heads") }
            if let bad = slopes.first(where: { !$0.isFinite }) { throw .invalidModification("ALiBi slopes must be finite, got \(bad)") }
        }
        if let sinks = sinkLogits {
            if sinks.count != heads { throw .invalidModification("sink logits: \(sinks.count) values for \(heads) query heads") }
            if let bad = sinks.first(where: { $0.isNaN || $0 == .infinity }) {
                throw .invalidModification("sink logits must be finite or −∞, got \(bad)")
            }
        }
    }

    /// Where row r sits for ALiBi: r + offset, the mask's alignment (bottom-right when the mask has
    /// none, as FlashAttention's ALiBi places it).
    public static func alibiOffset(_ mask: AttentionMask, nq: Int, nk: Int) -> Int {
        AttentionMask.offset(mask.alignment ?? .bottomRight, nq: nq, nk: nk)
    }

    /// The offset ``apply(_:head:row:col:offset:)`` takes for a problem: ``positionOffset`` when
    /// set, else ``alibiOffset(_:nq:nk:)``.
    public func rowOffset(_ mask: AttentionMask, nq: Int, nk: Int) -> Int {
        positionOffset ?? Self.alibiOffset(mask, nq: nq, nk: nk)
    }

    /// The modified score of (row r, key c) for query head `head`; `offset` from ``alibiOffset(_:nq:nk:)``.
    @inline(__always)
    public func apply<T: BinaryFloatingPoint & Real>(_ s: T, head: Int, row r: Int, col c: Int, offset: Int) -> T {
        var x = s
        if let cap = softcap { x = T(cap) * T.tanh(x / T(cap)) }
        if let slopes = alibiSlopes { x -= T(slopes[head]) * T(abs(r + offset - c)) }
        return x
    }

    /// Query head `head`'s sink logit, or nil.
    @inline(__always) public func sink(head: Int) -> Double? { sinkLogits?[head] }
}

extension AttentionMask {
    /// The alignment of a causal or window mask (also inside structured and block masks); nil
    /// for none and element masks.
    public var alignment: CausalAlignment? {
        switch self {
        case let .causal(a): a
        case let .slidingWindow(_, _, a): a
        case let .structured(m): m.base.alignment
        case let .blockSparse(m): m.inner.alignment
        case .none, .boolean, .additive: nil
        }
    }
}
