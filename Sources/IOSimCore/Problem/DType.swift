import AttentionReference

/// The problem's data type (`--dtype`). Q, K, V are stored in it; O too, except that fp8
/// problems write O in bf16. Softmax statistics and on-chip accumulators are fp32 for every
/// dtype (docs/counting-rules.md §2).
public enum DType: String, CaseIterable, Sendable, Codable {
    case fp16, bf16, fp32, fp64, fp8

    /// Bytes of one Q, K or V element; also the unit of M in elements for the bounds.
    public var size: Int {
        switch self {
        case .fp16, .bf16: 2
        case .fp32: 4
        case .fp64: 8
        case .fp8: 1
        }
    }

    /// The format the inputs are rounded to in data mode (fp8 means e4m3).
    public var precision: Precision {
        switch self {
        case .fp16: .fp16
        case .bf16: .bf16
        case .fp32: .fp32
        case .fp64: .fp64
        case .fp8: .fp8e4m3
        }
    }

    /// The format of O (and of standard attention's S and P in HBM).
    public var outputPrecision: Precision { self == .fp8 ? .bf16 : precision }
}

/// The storage format of one transfer, which fixes its bytes per element.
public enum Format: Sendable {
    /// The problem dtype (Q, K, V).
    case input
    /// The output dtype (O, and S/P of standard attention): bf16 for fp8 problems.
    case output
    /// fp32: statistics, accumulators, FA1's running O.
    case fp32
    /// int32: block-table entries of a paged KV cache (docs/counting-rules.md §12).
    case int32

    @inline(__always)
    public func bytes(_ dtype: DType) -> Int {
        switch self {
        case .input: dtype.size
        case .output: dtype == .fp8 ? 2 : dtype.size
        case .fp32, .int32: 4
        }
    }

    /// The format values are rounded to in data mode. fp64 problems keep statistics and
    /// accumulators in fp64 (they are still counted at 4 bytes, docs/counting-rules.md §2).
    public func precision(_ dtype: DType) -> Precision {
        switch self {
        case .input: dtype.precision
        case .output: dtype.outputPrecision
        case .fp32: dtype == .fp64 ? .fp64 : .fp32
        case .int32: .fp64  // integers below 2³¹ are exact in a Double
        }
    }
}
