import AttentionReference

/// One attention problem as the simulator sees it: `batch·heads` independent (Nq × Nk) problems
/// with head dimension d, in a dtype, under a mask — the reference's ``AttentionMask`` (no mask,
/// causal with either alignment, sliding window), so that counts and data mode derive the live
/// tiles from the same column ranges the reference computes with.
public struct AttentionProblem: Hashable, Sendable {
    /// Query rows per instance (`--N`; with GQA packing, in the schedule's view, g·Nq packed rows).
    public var n: Int
    public var nk: Int
    public var d: Int
    public var batch: Int
    public var heads: Int
    public var kvHeads: Int
    public var dtype: DType
    public var mask: AttentionMask
    /// `--pack-gqa`: the g = heads/kv_heads query heads of a KV group run as one problem of g·Nq rows.
    public var packGQA: Bool
    /// Packed rows per query position in this view (1 unless this is ``scheduled``'s packed view).
    public private(set) var packFactor = 1

    /// `causal` without a `mask` means bottom-right causal (the simulator's default, DESIGN §10;
    /// with Nq = Nk both alignments are the same mask).
    public init(n: Int, nk: Int? = nil, d: Int = 64, batch: Int = 1, heads: Int = 1, kvHeads: Int? = nil,
                dtype: DType = .fp16, causal: Bool = false, mask: AttentionMask? = nil, packGQA: Bool = false) {
        self.n = n
        self.nk = nk ?? n
        self.d = d
        self.batch = batch
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.dtype = dtype
        self.mask = mask ?? (causal ? .causal(.bottomRight) : .none)
        self.packGQA = packGQA
    }

    /// Whether any key is masked (causal or a window).
    public var causal: Bool { mask != .none }

    /// Query rows per sequence in the user's problem (`n` divided back when packed).
    public var nq: Int { n / packFactor }

    /// The problem the schedules run: with `packGQA`, one instance per (batch, KV head) holding
    /// the g query heads' rows interleaved (packed row p is position ⌊p/g⌋ of head p mod g).
    public var scheduled: AttentionProblem {
        guard packGQA, packFactor == 1, heads > kvHeads else { return self }
        var p = self
        p.packFactor = heads / kvHeads
        p.n = n * p.packFactor
        p.heads = kvHeads
        return p
    }

    /// The keys row `row` (in this view's rows) may see: a contiguous range, empty for a row that
    /// sees nothing. The one place the simulator reads the mask.
    @inline(__always) public func visibleColumns(row: Int) -> Range<Int> {
        mask.columnRange(row: row / packFactor, nq: nq, nk: nk) ?? 0..<nk
    }

    /// Flat row index in the user's [batch, heads, Nq] layout of query row `row` of instance
    /// `instance` of this view (packed rows go back to their head and position).
    @inline(__always) public func queryRow(instance: Int, row: Int) -> Int {
        guard packFactor > 1 else { return instance * n + row }
        let b = instance / heads, kh = instance % heads
        let head = kh * packFactor + row % packFactor
        return (b * heads * packFactor + head) * nq + row / packFactor
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
        if case let .slidingWindow(left, right, _) = mask, left < 0 || right < 0 || left >= Limits.maxSequence {
            throw .invalid("--window must be a positive integer no larger than \(Limits.maxSequence), got \(left + 1)")
        }
        switch mask {
        case .boolean, .additive: throw .invalid("the simulator takes structured masks only (none, causal, window)")
        default: break
        }
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
