/// Plain (non-tiled) attention computed the way an ordinary implementation in a given precision
/// would, emulated on the CPU. It is the `base` of the tolerance rule (docs/numerics.md).
///
/// - fp64: the fp64 reference itself (dgemm, fp64 softmax).
/// - fp32: the same algorithm in fp32 (sgemm, fp32 softmax).
/// - fp16, bf16, fp8: inputs already in that format; S = QKᵀ accumulated in fp32, softmax in fp32,
///   the unnormalised probabilities rounded to the input format (fp8: scaled by 2⁸ first, see
///   ``Precision/roundProbability(_:)``) before the PV GEMM (as
///   FlashAttention kernels feed P to the tensor cores), O accumulated in fp32, divided by the
///   fp32 row sum and rounded to the output format (fp8 inputs give a bf16 output).
public enum BaselineAttention {
    /// The format an implementation in `precision` writes O in.
    public static func outputPrecision(for precision: Precision) -> Precision {
        switch precision {
        case .fp8e4m3, .fp8e5m2: .bf16
        default: precision
        }
    }

    public static func forward(
        q: [Double], k: [Double], v: [Double], shape: AttentionShape, mask: AttentionMask = .none,
        scale: Double? = nil, precision: Precision, modification: ScoreModification = .none
    ) throws(AttentionError) -> AttentionResult<Double> {
        // Score modifications are applied in the arithmetic of the scores: fp32 below fp64.
        switch precision {
        case .fp64:
            return try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, scale: scale, modification: modification)
        case .fp32:
            let r = try ReferenceAttention.forward(
                q: q.map(Float.init), k: k.map(Float.init), v: v.map(Float.init), shape: shape,
                mask: mask, scale: scale.map(Float.init), modification: modification)
            return AttentionResult(o: r.o.map(Double.init), lse: r.lse.map(Double.init))
        default:
            let out = outputPrecision(for: precision)
            let r = try ReferenceAttention.forward(
                q: q.map(Float.init), k: k.map(Float.init), v: v.map(Float.init), shape: shape,
                mask: mask, scale: scale.map(Float.init), chunkRows: nil,
                roundP: { Float(precision.roundProbability(Double($0))) },
                roundO: { Float(out.round(Double($0))) }, modification: modification)
            return AttentionResult(o: r.o.map(Double.init), lse: r.lse.map(Double.init))
        }
    }
}
