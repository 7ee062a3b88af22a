/// One attention problem as the simulator sees it: `batch·heads` independent (Nq × Nk) problems
/// with head dimension d, in a dtype, optionally causal (top-left aligned).
public struct AttentionProblem: Hashable, Sendable, Codable {
    public var n: Int
    public var nk: Int
    public var d: Int
    public var batch: Int
    public var heads: Int
    public var kvHeads: Int
    public var dtype: DType
    public var causal: Bool

    public init(n: Int, nk: Int? = nil, d: Int = 64, batch: Int = 1, heads: Int = 1, kvHeads: Int? = nil,
                dtype: DType = .fp16, causal: Bool = false) {
        self.n = n
        self.nk = nk ?? n
        self.d = d
        self.batch = batch
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.dtype = dtype
        self.causal = causal
    }

    /// Query heads times batch: the number of independent problems.
    public var instances: Int { batch * heads }  // ≤ 2⁴⁸ after validate()

    public func validate() throws(SimulationError) {
        let limits = [("N", n, Limits.maxSequence), ("Nk", nk, Limits.maxSequence), ("d", d, Limits.maxHeadDim),
                      ("batch", batch, Limits.maxBatchOrHeads), ("heads", heads, Limits.maxBatchOrHeads),
                      ("kv-heads", kvHeads, Limits.maxBatchOrHeads)]
        for (name, v, limit) in limits {
            guard v > 0 else { throw .invalid("--\(name) must be a positive integer, got \(v)") }
            guard v <= limit else { throw .invalid("--\(name) is \(v), above iosim's limit of \(limit)") }
        }
        if heads % kvHeads != 0 { throw .invalid("--heads (\(heads)) must be a multiple of --kv-heads (\(kvHeads))") }
        // Compulsory traffic (Q, K, V read, O written) in 8-byte elements must fit the counts: if it
        // does not, no schedule's counts can.
        let perHead = 2 * n * d + 2 * nk * d
        guard let total = Limits.product(perHead, instances), Limits.product(total, 8) != nil else {
            throw .countOverflow("the compulsory traffic of \(batch)·\(heads) heads (4·N·d elements each)")
        }
    }
}

/// Why a simulation cannot run, in words a user can act on.
public enum SimulationError: Error, Equatable, CustomStringConvertible {
    /// A load or allocation would take the SRAM past its capacity.
    case capacityExceeded(footprint: Int, capacity: Int, buffer: String)
    /// A compute step touched a buffer that is not resident, or a buffer was allocated twice:
    /// an error in the schedule itself.
    case scheduleBug(String)
    /// The schedule cannot run under M (reported per schedule, the others still run).
    case infeasible(String)
    case invalid(String)
    /// A count (elements or bytes, summed over batch·heads) would exceed Int64; names what overflowed.
    case countOverflow(String)

    public var description: String {
        switch self {
        case let .capacityExceeded(footprint, capacity, buffer):
            return "loading \(buffer) needs \(footprint) bytes of SRAM, more than M = \(capacity) bytes"
        case let .scheduleBug(s): return "schedule error: \(s)"
        case let .infeasible(s): return s
        case let .invalid(s): return s
        case let .countOverflow(what):
            return "\(what) would exceed 2^63 - 1 = 9223372036854775807, the largest count iosim reports; use a smaller --N, --batch or --heads"
        }
    }
}
