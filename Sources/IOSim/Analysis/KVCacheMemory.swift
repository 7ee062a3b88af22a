import IOSimChecking
import IOSimCore
import IOSimFormats
import IOSimTimeModel

/// How a serving engine sizes each sequence's KV cache (docs/cli.md §7).
public enum KVAllocationPolicy: String, CaseIterable, Sendable {
    /// Contiguous, the maximum length reserved for every sequence up front: FasterTransformer and
    /// Orca, the PagedAttention paper's baseline (Kwon et al. 2023, §3).
    case reserve
    /// Blocks of `b` token slots taken as the sequence grows (vLLM's PagedAttention): ⌈L/b⌉·b slots.
    case paged
    /// Capacity that starts at `initial` tokens and doubles whenever it is full: the Paged-FlexAttention
    /// paper's FMS cache, whose memory grows "only at sequence lengths exceeding 2048 tokens due to
    /// its power-of-two cache allocations" (Joshi et al. 2025, arXiv:2506.07311, abstract).
    case pow2
}

/// What one token costs in a KV cache: K and V, `kvHeads·d` elements each, in every layer.
public struct KVCacheShape: Sendable, Equatable {
    public var layers: Int
    public var kvHeads: Int
    public var d: Int
    public var dtype: DType

    public init(layers: Int, kvHeads: Int, d: Int, dtype: DType) {
        (self.layers, self.kvHeads, self.d, self.dtype) = (layers, kvHeads, d, dtype)
    }

    /// 2 (K and V) · layers · kvHeads · d · bytes per element; checked, since kvHeads and d are
    /// each allowed up to 2²⁴ and 2¹⁴.
    public func bytesPerToken() throws(SimulationError) -> Int {
        var b = try Int.checkedMul(2, layers)
        b = try Int.checkedMul(b, kvHeads)
        b = try Int.checkedMul(b, d)
        return try Int.checkedMul(b, dtype.size)
    }
}

/// The sizes a policy needs besides the lengths.
public struct KVCachePolicyParameters: Sendable, Equatable {
    /// `reserve`'s capacity per sequence, in tokens (at least the longest length).
    public var maxLength: Int
    /// `paged`'s block, in token slots.
    public var blockSize: Int
    /// `pow2`'s first capacity, in tokens.
    public var initial: Int

    public init(maxLength: Int, blockSize: Int, initial: Int) {
        (self.maxLength, self.blockSize, self.initial) = (maxLength, blockSize, initial)
    }
}

/// One policy's bytes for a batch: allocated, used (the tokens the sequences hold) and wasted.
public struct KVCacheUsage: Sendable, Equatable {
    public var policy: KVAllocationPolicy
    /// Token slots allocated over the batch (one slot holds a token's K and V in every layer).
    public var allocatedTokens: Int
    /// Tokens held: Σ L.
    public var usedTokens: Int
    public var allocatedBytes: Int
    public var usedBytes: Int
    /// Allocated but not holding a token.
    public var wastedBytes: Int { allocatedBytes - usedBytes }
    /// used / allocated.
    public var utilization: Double { Double(usedBytes) / Double(allocatedBytes) }
}

/// Why a KV-cache computation cannot run, with no command-line flag named (a front end adds them).
public enum KVCacheMemoryError: Error, Equatable, CustomStringConvertible {
    /// A policy parameter that must be positive is not, or is above its limit.
    case parameterOutOfRange(name: String, value: Int, limit: Int)
    /// `reserve`'s capacity is shorter than a sequence of the batch.
    case maxLengthBelowLongest(maxLength: Int, longest: Int)
    /// A sum or product would leave Int64 (the inner ``SimulationError`` names which).
    case overflow(SimulationError)

    public var description: String {
        switch self {
        case let .parameterOutOfRange(name, value, limit):
            value <= 0 ? "\(name) must be a positive integer, got \(value)" : "\(name) is \(value), above iosim's limit of \(limit)"
        case let .maxLengthBelowLongest(maxLength, longest):
            "the maximum length \(maxLength) is shorter than the longest sequence (\(longest) tokens); reserve could not hold it"
        case let .overflow(e): e.description
        }
    }
}

/// KV-cache bytes per allocation policy for a batch of sequence lengths (docs/cli.md §7).
public enum KVCacheMemory {
    /// Token slots `policy` gives one sequence of `length` tokens.
    public static func capacity(_ policy: KVAllocationPolicy, length: Int, _ p: KVCachePolicyParameters) -> Int {
        switch policy {
        case .reserve:
            return p.maxLength
        case .paged:
            return (length + p.blockSize - 1) / p.blockSize * p.blockSize
        case .pow2:
            // Doubles when full: at most 24 doublings, since length ≤ 2²⁴ and initial ≥ 1.
            var c = p.initial
            while c < length { c *= 2 }
            return c
        }
    }

    /// Checks the parameters against the lengths and iosim's limits.
    public static func validate(_ p: KVCachePolicyParameters, longest: Int) throws(KVCacheMemoryError) {
        for (name, v) in [("the maximum length", p.maxLength), ("the block size", p.blockSize), ("the initial capacity", p.initial)] {
            guard v > 0, v <= Limits.maxSequence else { throw .parameterOutOfRange(name: name, value: v, limit: Limits.maxSequence) }
        }
        guard p.maxLength >= longest else { throw .maxLengthBelowLongest(maxLength: p.maxLength, longest: longest) }
    }

    /// Each policy's usage, in ``KVAllocationPolicy/allCases`` order: one pass over the lengths
    /// per policy (linear; grouping equal lengths would need a sort, which costs more).
    public static func usage(
        _ lengths: SequenceLengths, shape: KVCacheShape, _ p: KVCachePolicyParameters
    ) throws(KVCacheMemoryError) -> [KVCacheUsage] {
        try validate(p, longest: lengths.max)
        do {
            let perToken = try shape.bytesPerToken()
            let usedBytes = try Int.checkedMul(lengths.sum, perToken)
            return try KVAllocationPolicy.allCases.map { (policy) throws(SimulationError) -> KVCacheUsage in
                var slots = 0
                if policy == .reserve {
                    slots = try Int.checkedMul(lengths.count, p.maxLength)
                } else {
                    for l in lengths.values { slots = try Int.checkedAdd(slots, capacity(policy, length: l, p)) }
                }
                let allocated: Int
                do { allocated = try Int.checkedMul(slots, perToken) } catch {
                    throw .countOverflow("the \(policy.rawValue) policy's allocated bytes")
                }
                return KVCacheUsage(
                    policy: policy, allocatedTokens: slots, usedTokens: lengths.sum, allocatedBytes: allocated, usedBytes: usedBytes)
            }
        } catch {
            throw .overflow(error)
        }
    }

    /// Where `pow2`'s capacity doubles between 1 and `upTo` tokens: the lengths L at which a
    /// sequence first needs the larger capacity (initial + 1, 2·initial + 1, …), each with the
    /// capacity it then gets.
    public static func pow2Steps(initial: Int, upTo: Int) -> [(length: Int, capacity: Int)] {
        var steps: [(Int, Int)] = []
        var c = initial
        while c < upTo {
            steps.append((c + 1, 2 * c))
            c *= 2
        }
        return steps
    }
}
