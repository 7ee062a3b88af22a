import AttentionReference

/// One attention problem as the simulator sees it: `batch·heads` independent (Nq × Nk) problems
/// with head dimension d, in a dtype, under a mask — the reference's ``AttentionMask`` (no mask,
/// causal with either alignment, sliding window), so that counts and data mode derive the live
/// tiles from the same column ranges the reference computes with.
public struct AttentionProblem: Hashable, Sendable {
    /// The reference's shape (batch, heads, kv_heads, Nq, Nk, d; dv = d). In the packed view of
    /// ``scheduled`` its Nq is the g·Nq packed rows and its heads the KV heads.
    public var shape: AttentionShape
    /// Query rows per instance (`--N`; with GQA packing, in the schedule's view, g·Nq packed rows).
    public var n: Int {
        get { shape.nq }
        set { shape.nq = newValue }
    }
    public var nk: Int {
        get { shape.nk }
        set { shape.nk = newValue }
    }
    public var d: Int {
        get { shape.d }
        set { (shape.d, shape.dv) = (newValue, newValue) }
    }
    public var batch: Int {
        get { shape.batch }
        set { shape.batch = newValue }
    }
    public var heads: Int {
        get { shape.heads }
        set { shape.heads = newValue }
    }
    public var kvHeads: Int {
        get { shape.kvHeads }
        set { shape.kvHeads = newValue }
    }
    public var dtype: DType
    public var mask: AttentionMask
    /// `--pack-gqa`: the g = heads/kv_heads query heads of a KV group run as one problem of g·Nq rows.
    public var packGQA: Bool
    /// Packed rows per query position in this view (1 unless this is ``scheduled``'s packed view).
    public private(set) var packFactor = 1
    /// How each sequence's K/V cache is stored (`--kv-layout`, docs/counting-rules.md §12). It lives on the
    /// problem, not on ``KernelConfig``, because it is a property of the data a schedule reads: every
    /// schedule that streams K/V through ``TileMachine/attend(_:kvInstance:rows:columnTiles:blockSize:)``
    /// reads it, and the data machine stores K and V in it.
    public var kvLayout: KVLayout = .contiguous
    /// Token slots per cache block (`--block-size`, vLLM's default 16): the unit a paged load
    /// reads whole. Used by the paged layout and by the paged schedules (which always read a
    /// paged cache).
    public var blockSize: Int = 16

    /// `--lengths`: the batch's sequences each with their own Nk, grouped by length (docs/counting-rules.md §13).
    /// nil: every sequence has `nk` keys. With lengths, `batch` is the number of sequences and
    /// `nk` the longest; ``Simulator/simulate(_:_:capacity:tiles:pass:)`` runs each distinct length
    /// once as a problem of `count` sequences and adds the counts.
    public var lengthGroups: [SequenceLengths.Group]?

    /// `--shared-prefix`: the first P tokens of every sequence of the batch are the same (a system
    /// prompt; docs/counting-rules.md §14). Only `chunk-attn` reads them once for the batch; every other schedule
    /// reads each sequence's cache as it always did, so its counts do not depend on P.
    public var sharedPrefix: Int = 0
    /// `--chunk`: tokens per chunk of ChunkAttention's prefix tree (default 64, the paper's).
    public var chunk: Int = 64
    /// `--mask-block Bq×Bk`: the blocks of a block mask (FlexAttention's `BLOCK_SIZE`, default
    /// 128 × 128); flex walks them.
    /// How documents are run (docs/cli.md §2): each as its own problem (`varlen`, FlashAttention's
    /// `cu_seqlens`) or as one masked sequence (`mask`). Only with documents.
    public var packing: Packing = .mask
    /// The file a block mask came from, as given (for the report; the mask itself is in `mask`).
    public var blockMaskFile: String?
    public var maskBlockQ: Int = 128
    public var maskBlockK: Int = 128

    /// The shortest sequence of the batch (`nk` without lengths).
    public var shortestLength: Int { lengthGroups?.first?.length ?? nk }

    /// The block size K/V loads round to under this problem's layout (nil: contiguous).
    @inline(__always) public var pagedBlockSize: Int? { kvLayout == .paged ? blockSize : nil }

    /// `causal` without a `mask` means bottom-right causal (the simulator's default, docs/counting-rules.md §5;
    /// with Nq = Nk both alignments are the same mask).
    public init(
        n: Int, nk: Int? = nil, d: Int = 64, batch: Int = 1, heads: Int = 1, kvHeads: Int? = nil,
        dtype: DType = .fp16, causal: Bool = false, mask: AttentionMask? = nil, packGQA: Bool = false
    ) {
        shape = AttentionShape(batch: batch, heads: heads, kvHeads: kvHeads, nq: n, nk: nk, d: d)
        self.dtype = dtype
        self.mask = mask ?? (causal ? .causal(.bottomRight) : .none)
        self.packGQA = packGQA
    }

    /// The document lengths of the mask (empty without documents).
    public var documents: [Int] {
        if case let .structured(s) = mask { return s.documents }
        return []
    }

    /// Whether any key is masked (causal, a window, sinks, a prefix, documents).
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

    /// The keys row `row` (in this view's rows) may see: one or two runs (a window; sinks or a
    /// prefix before it), empty for a row that sees nothing. The one place the simulator reads
    /// the mask row by row (element masks count as none).
    @inline(__always) public func visibleColumns(row: Int) -> KeyRuns {
        mask.keyRuns(row: row / packFactor, nq: nq, nk: nk) ?? KeyRuns(0..<nk)
    }

    /// The keys row `row` (in this view's rows) sees, element by element: ``visibleColumns(row:)``
    /// with a block mask's blocks on top (its first plane: data mode runs one). For data mode.
    public func visibleKeys(row: Int) -> RowKeys {
        let r = row / packFactor
        if case let .blockSparse(m) = mask {
            return RowKeys(runs: m.inner.keyRuns(row: r, nq: nq, nk: nk), row: r, block: m, nq: nq, nk: nk)
        }
        return RowKeys(runs: visibleColumns(row: row), row: r, block: nil, nq: nq, nk: nk)
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

    /// Checks the problem against iosim's limits. Errors are structured (which parameter, its value,
    /// the limit) and worded without flag names: a front end words them in its own terms.
    public func validate() throws(SimulationError) {
        let limits: [(ProblemParameter, Int, Int)] = [
            (.n, n, Limits.maxSequence), (.nk, nk, Limits.maxSequence), (.d, d, Limits.maxHeadDim),
            (.batch, batch, Limits.maxBatchOrHeads), (.heads, heads, Limits.maxBatchOrHeads),
            (.kvHeads, kvHeads, Limits.maxBatchOrHeads),
        ]
        for (parameter, v, limit) in limits {
            guard v > 0 else { throw .notPositive(parameter: parameter, value: v) }
            guard v <= limit else { throw .outOfRange(parameter: parameter, value: v, limit: limit) }
        }
        if heads % kvHeads != 0 { throw .headsNotDivisible(heads: heads, kvHeads: kvHeads) }
        guard blockSize > 0 else { throw .notPositive(parameter: .blockSize, value: blockSize) }
        guard blockSize <= Limits.maxSequence else { throw .outOfRange(parameter: .blockSize, value: blockSize, limit: Limits.maxSequence) }
        guard chunk > 0 else { throw .notPositive(parameter: .chunk, value: chunk) }
        guard chunk <= Limits.maxSequence else { throw .outOfRange(parameter: .chunk, value: chunk, limit: Limits.maxSequence) }
        guard sharedPrefix >= 0 else { throw .negativePrefix(sharedPrefix) }
        guard sharedPrefix <= shortestLength else { throw .sharedPrefixTooLong(prefix: sharedPrefix, length: shortestLength) }
        switch mask {
        case let .slidingWindow(left, right, _):
            if left < 0 || right < 0 || left >= Limits.maxSequence || right >= Limits.maxSequence {
                throw .invalidWindow(left: left, right: right, limit: Limits.maxSequence)
            }
        case .boolean, .additive: throw .unsupportedMask
        case .none, .causal, .blockSparse: break
        case let .structured(m):
            if case let .slidingWindow(left, right, _) = m.base, left >= Limits.maxSequence || right >= Limits.maxSequence {
                throw .invalidWindow(left: left, right: right, limit: Limits.maxSequence)
            }
            do { try mask.validate(shape) } catch { throw .invalid(error.description) }
            if !m.documents.isEmpty {
                if lengthGroups != nil { throw .invalid("documents and per-sequence lengths both set the sequence; use one") }
                if sharedPrefix > 0 { throw .invalid("documents and a shared prefix cannot be combined") }
                if kvLayout == .paged { throw .invalid("documents are packed in one contiguous sequence; a paged cache does not apply") }
            }
        }
        if case let .blockSparse(m) = mask {
            do { try mask.validate(shape) } catch { throw .invalid(error.description) }
            // A packed tile mixes the rows of a group's heads: with one plane they share a mask.
            if packGQA, m.heads > 1, heads > kvHeads {
                throw .invalid("a per-head block mask with packed GQA rows is not modelled yet; give one plane for every head or drop --pack-gqa")
            }
        }
        if packing == .varlen && documents.isEmpty { throw .invalid("varlen packing needs documents") }
        // Compulsory traffic (Q, K, V read, O written) in 8-byte elements must fit the counts: if it
        // does not, no schedule's counts can.
        let perHead = 2 * n * d + 2 * nk * d
        guard let total = Limits.product(perHead, instances), Limits.product(total, 8) != nil else {
            throw .countOverflow("the compulsory traffic of \(batch)·\(heads) heads (4·N·d elements each)")
        }
    }
}

/// One row's visible keys, for element-wise masking.
public struct RowKeys {
    /// The row's keys, or under a block mask its inner mask's (nil for an element inner mask).
    let runs: KeyRuns?, row: Int, block: BlockMask?, nq: Int, nk: Int

    @inline(__always) public func contains(_ key: Int) -> Bool {
        guard let m = block else { return runs?.contains(key) ?? true }
        return m.allows(plane: 0, row: row, col: key, nq: nq, nk: nk, innerRuns: runs)
    }
}

/// How a problem's documents run: each as its own problem, or as one masked sequence.
public enum Packing: String, Sendable, CaseIterable {
    /// FlashAttention's `cu_seqlens` interface: every document is a problem of its own.
    case varlen
    /// One sequence under a document mask (FlexAttention's document mask).
    case mask
}

/// A size of ``AttentionProblem`` that ``AttentionProblem/validate()`` checks.
public enum ProblemParameter: String, Sendable, CaseIterable {
    /// Query rows per sequence.
    case n = "N"
    /// Keys per sequence.
    case nk = "Nk"
    case d, batch, heads
    case kvHeads = "kv_heads"
    /// Token slots per block of a paged K/V cache.
    case blockSize = "block_size"
    /// Tokens per chunk of ChunkAttention's prefix tree.
    case chunk
}

/// How a sequence's K and V are stored in HBM (docs/counting-rules.md §12).
public enum KVLayout: String, Hashable, Sendable, CaseIterable {
    /// One array per sequence and KV head: a tile load reads exactly its rows.
    case contiguous
    /// vLLM's PagedAttention: blocks of ``AttentionProblem/blockSize`` token slots anywhere in
    /// HBM, found through an int32 block table. A K or V tile load reads the whole blocks it
    /// covers (the last, partly filled block too) and one table entry per block.
    case paged
}

/// Why a simulation cannot run, in words a user can act on. The library never names a
/// command-line flag: a front end words the structured cases (``notPositive(parameter:value:)``,
/// ``outOfRange(parameter:value:limit:)``, …) in its own terms.
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
    /// A problem size that must be positive is not.
    case notPositive(parameter: ProblemParameter, value: Int)
    /// A problem size above iosim's limit for it.
    case outOfRange(parameter: ProblemParameter, value: Int, limit: Int)
    /// The query heads do not split evenly over the K/V heads.
    case headsNotDivisible(heads: Int, kvHeads: Int)
    /// A sliding window with a negative side, or a side at or above `limit`.
    case invalidWindow(left: Int, right: Int, limit: Int)
    /// A dense (boolean or additive) mask: the simulator takes structured masks only.
    case unsupportedMask
    /// A shared prefix of negative length.
    case negativePrefix(Int)
    /// A shared prefix longer than a sequence (`length`: the shortest one's tokens).
    case sharedPrefixTooLong(prefix: Int, length: Int)
    /// Data mode for `schedule` would hold about `neededBytes` in memory, more than the
    /// `availableBytes` it may take on this machine (half its physical memory). Raised before
    /// anything is allocated.
    case dataModeMemory(schedule: ScheduleKind, neededBytes: Double, availableBytes: Int)

    public var description: String {
        switch self {
        case let .capacityExceeded(footprint, capacity, buffer):
            return "loading \(buffer) needs \(footprint) bytes of SRAM, more than M = \(capacity) bytes"
        case let .scheduleBug(s): return "schedule error: \(s)"
        case let .infeasible(s): return s
        case let .invalid(s): return s
        case let .countOverflow(what):
            return "\(what) would exceed 2^63 - 1 = 9223372036854775807, the largest count iosim reports; use a smaller N, batch or heads"
        case let .notPositive(parameter, value):
            return "\(parameter.rawValue) must be a positive integer, got \(value)"
        case let .outOfRange(parameter, value, limit):
            return "\(parameter.rawValue) is \(value), above iosim's limit of \(limit)"
        case let .headsNotDivisible(heads, kvHeads):
            return "heads (\(heads)) must be a multiple of kv_heads (\(kvHeads))"
        case let .invalidWindow(left, right, limit):
            return "a sliding window needs 0 ≤ left < \(limit) and 0 ≤ right < \(limit), got left = \(left), right = \(right)"
        case let .negativePrefix(p):
            return "the shared prefix must be 0 or more tokens, got \(p)"
        case let .sharedPrefixTooLong(prefix, length):
            return "the shared prefix (\(prefix) tokens) is longer than a sequence of \(length) tokens"
        case .unsupportedMask:
            return "the simulator takes structured masks only (none, causal, sliding window)"
        case let .dataModeMemory(schedule, needed, available):
            let mb = needed / 1e6 < 1e15 ? "\(Int(needed / 1e6))" : "\(needed / 1e6)"
            return "data mode for \(schedule.rawValue) would need about \(mb) MB, more than the \(available / 1_000_000) MB "
                + "this process may use now (half the machine's memory, free memory, ulimit -v/-d and cgroup limits); use a smaller problem (N, batch or heads)"
        }
    }
}
