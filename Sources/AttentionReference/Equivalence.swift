/// How far one output array is from the reference, and what the tolerance rule allows.
public struct Comparison: Sendable, Equatable {
    /// max |candidate − reference| over all elements (∞ when NaN or an infinity disagrees).
    public var maxAbsError: Double
    /// Flat index of the worst element.
    public var worstIndex: Int
    /// max |baseline − reference|: the error of plain attention in the implementation's precision.
    public var baselineError: Double
    public var rtol: Double
    /// A couple of ulps of the output format at the reference's largest magnitude.
    public var atol: Double
    /// rtol · baselineError + atol.
    public var allowed: Double
    public var passed: Bool { maxAbsError <= allowed }
}

/// The result of checking an attention implementation against the fp64 reference.
public struct EquivalenceReport: Sendable, CustomStringConvertible {
    public var precision: Precision
    public var output: Comparison
    public var lse: Comparison?
    public var passed: Bool { output.passed && (lse?.passed ?? true) }

    public var description: String {
        func line(_ name: String, _ c: Comparison) -> String {
            "\(name): max|err| = \(c.maxAbsError) at index \(c.worstIndex), allowed \(c.allowed)"
                + " = \(c.rtol)·\(c.baselineError) (baseline error) + \(c.atol) (atol)"
                + (c.passed ? " — pass" : " — FAIL")
        }
        var s = "precision \(precision): " + (passed ? "PASS" : "FAIL") + "\n" + line("O  ", output)
        if let lse { s += "\n" + line("LSE", lse) }
        return s
    }
}

/// The tolerance rule of DESIGN §7: an implementation passes when, against the reference,
/// `max|out − ref| ≤ rtol · max|base − ref| + atol`, with `base` the plain attention in the
/// implementation's own precision (``BaselineAttention``), rtol 2 forward and 3 backward, and atol
/// two ulps of the output format at the output's scale. Inputs are rounded to the implementation's
/// format first, so both see the same numbers.
///
/// The reference is the fp64 reference, except for fp64 implementations: there it is the
/// extended-precision ``ExtendedAttention``, so that `base` (plain fp64) has a real error to
/// compare with.
public enum Equivalence {
    public static let forwardRtol = 2.0
    public static let backwardRtol = 3.0
    public static let atolUlps = 2.0

    /// Compares element by element. Equal infinities and NaN against NaN count as exact;
    /// any other disagreement involving a non-finite value is an infinite error.
    public static func compare(
        candidate: [Double], reference: [Double], baseline: [Double], format: Precision,
        rtol: Double = forwardRtol
    ) -> Comparison {
        precondition(candidate.count == reference.count && baseline.count == reference.count)
        func error(_ a: Double, _ r: Double) -> Double {
            if a.isNaN || r.isNaN { return a.isNaN && r.isNaN ? 0 : .infinity }
            if a.isInfinite || r.isInfinite { return a == r ? 0 : .infinity }
            return Swift.abs(a - r)
        }
        var worst = 0.0, worstIndex = 0, base = 0.0, scale = 0.0
        for i in reference.indices {
            let e = error(candidate[i], reference[i])
            if e > worst || (e.isInfinite && !worst.isInfinite) { worst = e; worstIndex = i }
            base = Swift.max(base, error(baseline[i], reference[i]))
            if reference[i].isFinite { scale = Swift.max(scale, Swift.abs(reference[i])) }
        }
        let atol = atolUlps * format.ulp(at: scale)
        return Comparison(
            maxAbsError: worst, worstIndex: worstIndex, baselineError: base, rtol: rtol,
            atol: atol, allowed: rtol * base + atol)
    }

    /// Checks a forward result computed by an implementation in `precision` from `q`, `k`, `v`
    /// (rounded here to `precision`; the candidate must have seen the same rounded values).
    /// With `roundInputs: false` the inputs are taken as the candidate saw them — for fp8 inputs
    /// already quantized with scales, which are not e4m3 values themselves.
    /// Pass `candidate.lse` empty to skip the LSE check.
    public static func checkForward(
        candidate: AttentionResult<Double>, q: [Double], k: [Double], v: [Double],
        shape: AttentionShape, mask: AttentionMask = .none, scale: Double? = nil, precision: Precision,
        roundInputs: Bool = true
    ) throws(AttentionError) -> EquivalenceReport {
        let (q, k, v) = roundInputs ? (precision.round(q), precision.round(k), precision.round(v)) : (q, k, v)
        guard candidate.o.count == shape.oCount else {
            throw .bufferSize(name: "output", expected: shape.oCount, actual: candidate.o.count)
        }
        let ref =
            precision == .fp64
            ? try ExtendedAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, scale: scale)
            : try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, scale: scale)
        let base = try BaselineAttention.forward(
            q: q, k: k, v: v, shape: shape, mask: mask, scale: scale,
            precision: precision)
        let out = compare(
            candidate: candidate.o, reference: ref.o, baseline: base.o,
            format: BaselineAttention.outputPrecision(for: precision))
        var lse: Comparison?
        if !candidate.lse.isEmpty {
            guard candidate.lse.count == shape.lseCount else {
                throw .bufferSize(name: "LSE", expected: shape.lseCount, actual: candidate.lse.count)
            }
            // Softmax statistics are fp32 in every low-precision kernel.
            lse = compare(
                candidate: candidate.lse, reference: ref.lse, baseline: base.lse,
                format: precision == .fp64 ? .fp64 : .fp32)
        }
        return EquivalenceReport(precision: precision, output: out, lse: lse)
    }
}
