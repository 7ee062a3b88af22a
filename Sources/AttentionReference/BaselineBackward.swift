/// The plain (non-tiled) attention backward pass computed the way an ordinary implementation in a
/// given precision would, emulated on the CPU: the `base` of the tolerance rule for gradients
/// (docs/numerics.md, "Gradients"; rtol = 3). Inputs (Q, K, V, dO) must already be in the format.
///
/// - fp64: the fp64 reference gradients themselves (``ReferenceGradients``).
/// - fp32: the same algorithm in fp32 (sgemm, fp32 softmax and elementwise work).
/// - fp16, bf16, fp8 — as FlashAttention's backward kernels compute:
///   - O is the forward's stored output, ``BaselineAttention``'s O (in the output format: the input
///     format, bf16 for fp8), and D = rowsum(dO ∘ O) is computed from it in fp32;
///   - S = QKᵀ, dP = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q and dV = Pᵀ·dO are GEMMs of values in the input
///     format accumulated in fp32; the softmax, P = exp(S − max)/rowsum and dS = P ∘ (dP − D) are
///     fp32, with P unrounded in dS (FlashAttention keeps P in fp32 registers for it);
///   - P is rounded to the input format before the dV GEMM and dS before the dQ and dK GEMMs, as the
///     kernels convert them for the tensor cores (FlashAttention-2's `convert_type<Element>` of P
///     and dS). fp8: P is scaled by 2⁸ before its cast, as in the forward
///     (``Precision/roundProbability(_:)``); dS, which is not confined to [0, 1], is cast after
///     dividing each row by the power of two 2^⌈log₂(amax/max-finite)⌉, as fp8 tensors are
///     quantised with a power-of-two scale (exact, so only the cast rounds);
///   - dQ and dK are multiplied by the softmax scale after their GEMMs (in fp32), as FlashAttention
///     does; dK and dV of a K/V head are summed over its group in fp32; all three are rounded once to
///     the output format at the end.
public enum BaselineBackward {
    public static func backward(
        q: [Double], k: [Double], v: [Double], dO: [Double], shape: AttentionShape, mask: AttentionMask = .none,
        scale: Double? = nil, precision: Precision, modification: ScoreModification = .none
    ) throws(AttentionError) -> AttentionGradients<Double> {
        switch precision {
        case .fp64:
            return try ReferenceGradients.backward(
                q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, scale: scale, modification: modification)
        case .fp32:
            let g = try ReferenceGradients.backward(
                q: q.map(Float.init), k: k.map(Float.init), v: v.map(Float.init), dO: dO.map(Float.init),
                shape: shape, mask: mask, scale: scale.map(Float.init), modification: modification)
            return AttentionGradients(dq: g.dq.map(Double.init), dk: g.dk.map(Double.init), dv: g.dv.map(Double.init))
        default:
            let out = BaselineAttention.outputPrecision(for: precision)
            let forward = try BaselineAttention.forward(
                q: q, k: k, v: v, shape: shape, mask: mask, scale: scale, precision: precision, modification: modification)
            let low = ReferenceGradients.LowPrecision<Float>(
                o: forward.o.map(Float.init),
                roundP: { Float(precision.roundProbability(Double($0))) },
                roundDS: { row, count in roundScoreGradients(row, count: count, to: precision) },
                roundOutput: { Float(out.round(Double($0))) })
            let g = try ReferenceGradients.run(
                q: q.map(Float.init), k: k.map(Float.init), v: v.map(Float.init), dO: dO.map(Float.init),
                shape: shape, mask: mask, scale: scale.map(Float.init), chunkRows: nil, keepForward: false,
                lowPrecision: low, modification: modification
            ).gradients
            return AttentionGradients(dq: g.dq.map(Double.init), dk: g.dk.map(Double.init), dv: g.dv.map(Double.init))
        }
    }

    /// Rounds one row of dS to `precision` (see the type's documentation; fp8 with a power-of-two
    /// row scale).
    static func roundScoreGradients(_ row: UnsafeMutablePointer<Float>, count: Int, to precision: Precision) {
        var rowScale = 1.0
        if precision == .fp8e4m3 || precision == .fp8e5m2 {
            var amax = 0.0
            for j in 0..<count where row[j].isFinite { amax = Swift.max(amax, Double(Swift.abs(row[j]))) }
            if amax > 0 {
                let x = amax / precision.greatestFinite
                // The smallest power of two 2^e with amax / 2^e ≤ the largest finite value.
                let e = Int(x.exponent) + (x.significand == 1 ? 0 : 1)
                rowScale = Double(sign: .plus, exponent: e, significand: 1)
            }
        }
        for j in 0..<count { row[j] = Float(precision.round(Double(row[j]) / rowScale) * rowScale) }
    }
}
