/// How far one output array is from the reference, and what the tolerance rule allows.
public struct Comparison: Sendable, Equatable {
    /// max |candidate − reference| over all elements: NaN when the candidate has a NaN where the
    /// reference is finite, ∞ when an infinity disagrees.
    public var maxAbsError: Double
    /// Flat index of the worst element (the first NaN, if any).
    public var worstIndex: Int
    /// max |baseline − reference|: the error of plain attention in the implementation's precision.
    public var baselineError: Double
    public var rtol: Double
    /// A couple of ulps of the output format at the reference's largest magnitude.
    public var atol: Double
    /// rtol · baselineError + atol.
    public var allowed: Double
    /// Elements where the candidate is NaN or infinite and the reference finite.
    public var nonFiniteCandidates = 0
    /// Elements where the reference itself is NaN or +∞ (inputs holding NaN or Inf): nothing
    /// there can be vouched for. (−∞ is the LSE of a row that sees no key; it must be matched.)
    public var unvouchedReferences = 0
    /// Flat index of the first of those.
    public var firstUnvouchedReference: Int? = nil

    /// Why the comparison fails, or nil when it passes (``Comparison/verdict(maxAbsError:allowed:baselineError:nonFiniteCandidates:unvouchedReferences:)``).
    public var failure: String? {
        Self.verdict(
            maxAbsError: maxAbsError, allowed: allowed, baselineError: baselineError, nonFiniteCandidates: nonFiniteCandidates,
            unvouchedReferences: unvouchedReferences)
    }
    public var passed: Bool { failure == nil }

    /// The tolerance rule's verdict, never a pass it cannot vouch for: a reference that is not
    /// finite, a candidate NaN or infinity where the reference is finite, and an allowance that is
    /// not finite (the baseline overflowed, so any error would be "allowed") all fail, each with
    /// its reason; otherwise the output fails when its largest error is above the allowance.
    public static func verdict(
        maxAbsError: Double, allowed: Double, baselineError: Double, nonFiniteCandidates: Int, unvouchedReferences: Int
    ) -> String? {
        if unvouchedReferences > 0 {
            return "the reference is NaN or infinite at \(unvouchedReferences) element\(unvouchedReferences == 1 ? "" : "s") "
                + "(the inputs hold NaN or Inf?): nothing there can be checked"
        }
        if nonFiniteCandidates > 0 {
            return "\(nonFiniteCandidates) element\(nonFiniteCandidates == 1 ? " is" : "s are") NaN or infinite where the reference is finite"
        }
        if !allowed.isFinite {
            return "the allowance is not finite (baseline error \(Self.text(baselineError))): the plain attention in this precision "
                + "overflows, so no error bound can be vouched for"
        }
        return maxAbsError <= allowed ? nil : "max|err| is above the allowance"
    }

    /// A number for a report: NaN as `NaN`, infinities as `Inf` / `-Inf` (never `nan` or `inf`,
    /// which read like a typo), others as Swift prints them.
    public static func text(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x < 0 ? "-Inf" : "Inf" }
        return "\(x)"
    }
}

/// The result of checking an attention implementation against the fp64 reference.
public struct EquivalenceReport: Sendable, CustomStringConvertible {
    public var precision: Precision
    public var output: Comparison
    public var lse: Comparison?
    public var passed: Bool { output.passed && (lse?.passed ?? true) }

    public var description: String {
        var s = "precision \(precision): " + (passed ? "PASS" : "FAIL") + "\n" + output.line("O  ")
        if let lse { s += "\n" + lse.line("LSE") }
        return s
    }
}

extension Comparison {
    /// One line of a report: the error, where it is, and what was allowed.
    func line(_ name: String) -> String {
        "\(name): max|err| = \(Self.text(maxAbsError)) at index \(worstIndex), allowed \(Self.text(allowed))"
            + " = \(rtol)·\(Self.text(baselineError)) (baseline error) + \(Self.text(atol)) (atol)"
            + (failure.map { " — FAIL: \($0)" } ?? " — pass")
    }
}

/// The result of checking attention gradients against the reference gradients: one comparison
/// per gradient, each at rtol = ``Equivalence/backwardRtol``.
public struct BackwardEquivalenceReport: Sendable, CustomStringConvertible {
    public var precision: Precision
    public var dq: Comparison
    public var dk: Comparison
    public var dv: Comparison
    public var passed: Bool { dq.passed && dk.passed && dv.passed }

    public var description: String {
        "precision \(precision) (backward): " + (passed ? "PASS" : "FAIL") + "\n" + dq.line("dQ") + "\n"
            + dk.line("dK") + "\n" + dv.line("dV")
    }
}

/// The tolerance rule (docs/numerics.md): an implementation passes when, against the reference,
/// `max|out − ref| ≤ rtol · max|base − ref| + atol`, with `base` the plain attention in the
/// implementation's own precision (``BaselineAttention``), rtol 2 forward and 3 backward, and atol
/// two ulps of the output format at the output's scale. Inputs are rounded to the implementation's
/// format first, so both see the same numbers.
///
/// The reference is the fp64 reference, except for fp64 implementations: there it is the
/// extended-precision ``ExtendedAttention``, so that `base` (plain fp64) has a real error to
/// compare with. Gradients (``checkBackward(candidate:q:k:v:dO:shape:mask:scale:precision:roundInputs:)``)
/// follow the same rule with ``ReferenceGradients``, ``ExtendedGradients`` and
/// ``BaselineBackward`` in those roles and rtol = 3.
public enum Equivalence {
    public static let forwardRtol = 2.0
    public static let backwardRtol = 3.0
    public static let atolUlps = 2.0

    /// Compares element by element. Equal infinities and NaN against NaN count as exact; a NaN
    /// candidate where the reference is finite is a NaN error, and any other disagreement
    /// involving a non-finite value an infinite one. Such elements, and a reference that is NaN or
    /// +∞, are counted: the comparison then fails whatever the allowance (``Comparison/failure``).
    /// `emptyRowsAsPositiveInfinity` (for an LSE): a row that sees no key may be written +∞, as
    /// FlashAttention-2's kernels write it, where the reference's convention is −∞.
    public static func compare(
        candidate: [Double], reference: [Double], baseline: [Double], format: Precision,
        rtol: Double = forwardRtol, emptyRowsAsPositiveInfinity: Bool = false
    ) -> Comparison {
        precondition(candidate.count == reference.count && baseline.count == reference.count)
        func error(_ a: Double, _ r: Double) -> Double {
            if emptyRowsAsPositiveInfinity, r == -.infinity, a == .infinity { return 0 }
            if a.isNaN || r.isNaN { return a.isNaN && r.isNaN ? 0 : r.isNaN ? .infinity : .nan }
            if a.isInfinite || r.isInfinite { return a == r ? 0 : .infinity }
            return Swift.abs(a - r)
        }
        var worst = 0.0, worstIndex = 0, base = 0.0, scale = 0.0
        var nonFinite = 0, unvouched = 0, firstUnvouched: Int?
        for i in reference.indices {
            let (a, r) = (candidate[i], reference[i])
            let e = error(a, r)
            if worse(e, than: worst) { worst = e; worstIndex = i }
            base = Swift.max(base, error(baseline[i], r))
            if r.isFinite {
                scale = Swift.max(scale, Swift.abs(r))
                if !a.isFinite { nonFinite += 1 }
            } else if r.isNaN || r > 0 {
                unvouched += 1
                if firstUnvouched == nil { firstUnvouched = i }
            }
        }
        let atol = atolUlps * format.ulp(at: scale)
        return Comparison(
            maxAbsError: worst, worstIndex: worstIndex, baselineError: base, rtol: rtol,
            atol: atol, allowed: rtol * base + atol, nonFiniteCandidates: nonFinite, unvouchedReferences: unvouched,
            firstUnvouchedReference: firstUnvouched)
    }

    /// Whether error `e` replaces `worst` as the largest: NaN above everything (the first one
    /// stays), then infinity, then magnitude.
    public static func worse(_ e: Double, than worst: Double) -> Bool {
        if worst.isNaN { return false }
        if e.isNaN { return true }
        return e > worst
    }

    /// Checks a forward result computed by an implementation in `precision` from `q`, `k`, `v`
    /// (rounded here to `precision`; the candidate must have seen the same rounded values).
    /// With `roundInputs: false` the inputs are taken as the candidate saw them — for fp8 inputs
    /// already quantized with scales, which are not e4m3 values themselves.
    /// Pass `candidate.lse` empty to skip the LSE check.
    public static func checkForward(
        candidate: AttentionResult<Double>, q: [Double], k: [Double], v: [Double],
        shape: AttentionShape, mask: AttentionMask = .none, scale: Double? = nil, precision: Precision,
        roundInputs: Bool = true, modification: ScoreModification = .none
    ) throws(AttentionError) -> EquivalenceReport {
        let (q, k, v) = roundInputs ? (precision.round(q), precision.round(k), precision.round(v)) : (q, k, v)
        guard candidate.o.count == shape.oCount else {
            throw .bufferSize(name: "output", expected: shape.oCount, actual: candidate.o.count)
        }
        let ref =
            precision == .fp64
            ? try ExtendedAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, scale: scale, modification: modification)
            : try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, scale: scale, modification: modification)
        let base = try BaselineAttention.forward(
            q: q, k: k, v: v, shape: shape, mask: mask, scale: scale,
            precision: precision, modification: modification)
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
                format: precision == .fp64 ? .fp64 : .fp32, emptyRowsAsPositiveInfinity: true)
        }
        return EquivalenceReport(precision: precision, output: out, lse: lse)
    }
    /// Checks gradients computed by an implementation in `precision` for the upstream gradient
    /// `dO` from `q`, `k`, `v` (all four rounded here to `precision` unless `roundInputs` is false;
    /// the candidate must have seen the same values). Each of dQ, dK and dV passes when
    /// `max|cand − ref| ≤ 3 · max|base − ref| + atol`, with `base` = ``BaselineBackward`` in
    /// `precision`, `ref` the fp64 reference gradients (``ExtendedGradients`` for fp64), and atol
    /// two ulps of the output format at the largest |ref| of that gradient.
    public static func checkBackward(
        candidate: AttentionGradients<Double>, q: [Double], k: [Double], v: [Double], dO: [Double],
        shape: AttentionShape, mask: AttentionMask = .none, scale: Double? = nil, precision: Precision,
        roundInputs: Bool = true, modification: ScoreModification = .none
    ) throws(AttentionError) -> BackwardEquivalenceReport {
        let (q, k, v, dO) =
            roundInputs
            ? (precision.round(q), precision.round(k), precision.round(v), precision.round(dO)) : (q, k, v, dO)
        for (name, actual, expected) in [
            ("dQ", candidate.dq.count, shape.qCount), ("dK", candidate.dk.count, shape.kCount),
            ("dV", candidate.dv.count, shape.vCount),
        ] where actual != expected {
            throw .bufferSize(name: name, expected: expected, actual: actual)
        }
        let ref =
            precision == .fp64
            ? try ExtendedGradients.backward(q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, scale: scale, modification: modification)
            : try ReferenceGradients.backward(q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, scale: scale, modification: modification)
        let base = try BaselineBackward.backward(
            q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, scale: scale, precision: precision, modification: modification)
        let format = BaselineAttention.outputPrecision(for: precision)
        func check(_ cand: [Double], _ ref: [Double], _ base: [Double]) -> Comparison {
            compare(candidate: cand, reference: ref, baseline: base, format: format, rtol: backwardRtol)
        }
        return BackwardEquivalenceReport(
            precision: precision, dq: check(candidate.dq, ref.dq, base.dq), dk: check(candidate.dk, ref.dk, base.dk),
            dv: check(candidate.dv, ref.dv, base.dv))
    }
}
