/// The sizes of one attention call: `batch × heads` query heads sharing `kvHeads` key/value heads
/// (GQA when `kvHeads < heads`, MQA when it is 1). Layouts are C order:
/// Q `[batch, heads, nq, d]`, K `[batch, kvHeads, nk, d]`, V `[batch, kvHeads, nk, dv]`,
/// O `[batch, heads, nq, dv]`, LSE `[batch, heads, nq]`.
public struct AttentionShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var heads: Int
    public var kvHeads: Int
    public var nq: Int
    public var nk: Int
    public var d: Int
    public var dv: Int

    public init(batch: Int = 1, heads: Int = 1, kvHeads: Int? = nil, nq: Int, nk: Int? = nil, d: Int, dv: Int? = nil) {
        self.batch = batch
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.nq = nq
        self.nk = nk ?? nq
        self.d = d
        self.dv = dv ?? d
    }

    public var qCount: Int { batch * heads * nq * d }
    public var kCount: Int { batch * kvHeads * nk * d }
    public var vCount: Int { batch * kvHeads * nk * dv }
    public var oCount: Int { batch * heads * nq * dv }
    public var lseCount: Int { batch * heads * nq }
    /// Query heads that share one K/V head.
    public var groupSize: Int { heads / kvHeads }

    /// Throws the first inconsistency a user could fix.
    public func validate() throws(AttentionError) {
        for (name, value) in [
            ("batch", batch), ("heads", heads), ("kv-heads", kvHeads),
            ("Nq", nq), ("Nk", nk), ("d", d), ("dv", dv),
        ] where value <= 0 {
            throw .nonPositive(name: name, value: value)
        }
        if heads % kvHeads != 0 { throw .headsNotDivisible(heads: heads, kvHeads: kvHeads) }
    }

    /// Throws the first inconsistency of the shape, the mask, or the sizes of Q, K and V.
    func validate(qCount: Int, kCount: Int, vCount: Int, mask: AttentionMask) throws(AttentionError) {
        try validate()
        try mask.validate(self)
        for (name, actual, expected) in [
            ("q", qCount, self.qCount), ("k", kCount, self.kCount),
            ("v", vCount, self.vCount),
        ] where actual != expected {
            throw .bufferSize(name: name, expected: expected, actual: actual)
        }
    }

    public var description: String {
        "batch=\(batch) heads=\(heads) kv_heads=\(kvHeads) Nq=\(nq) Nk=\(nk) d=\(d) dv=\(dv)"
    }
}

/// Why an attention call cannot run, in words a user can act on.
public enum AttentionError: Error, Equatable, CustomStringConvertible {
    case nonPositive(name: String, value: Int)
    case headsNotDivisible(heads: Int, kvHeads: Int)
    case bufferSize(name: String, expected: Int, actual: Int)
    case maskShape(expected: String, actual: Int)
    case tooLarge(bytes: Int, limit: Int)
    case negativeWindow(left: Int, right: Int)
    /// Sinks, a prefix or documents that do not fit the shape (the reason in words).
    case invalidMask(String)
    /// A soft cap, ALiBi slopes or sink logits that do not fit (the reason in words).
    case invalidModification(String)

    public var description: String {
        switch self {
        case let .nonPositive(name, value):
            return "\(name) must be a positive integer, got \(value)"
        case let .headsNotDivisible(heads, kvHeads):
            return "heads (\(heads)) must be a multiple of kv-heads (\(kvHeads))"
        case let .bufferSize(name, expected, actual):
            return "\(name) has \(actual) elements but the shape needs \(expected)"
        case let .maskShape(expected, actual):
            return "mask has \(actual) elements; expected \(expected)"
        case let .negativeWindow(left, right):
            return "a sliding window needs left ≥ 0 and right ≥ 0, got (\(left), \(right))"
        case let .invalidMask(why), let .invalidModification(why):
            return why
        case let .tooLarge(bytes, limit):
            return "this needs about \(bytes) bytes of memory, more than the \(limit) allowed"
        }
    }
}
