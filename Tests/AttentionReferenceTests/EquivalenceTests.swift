import AttentionReference
import RealModule
import TestSupport
import Testing

@Suite struct ToleranceRule {
    static let shape = AttentionShape(batch: 1, heads: 2, nq: 67, nk: 45, d: 32)

    @Test func fp64ReferenceIsWithin1e14RelativeOfExtendedPrecision() throws {
        let s = AttentionShape(nq: 200, d: 64)
        let x = AttentionInputs(s, seed: 9, range: -3...3)
        let ref = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s)
        let ext = try ExtendedAttention.forward(q: x.q, k: x.k, v: x.v, shape: s)
        let scale = ext.o.map(abs).max()!
        let err = maxAbsDiff(ref.o, ext.o)
        #expect(err / scale <= 1e-14)
        #expect(err > 0, "the extended computation really differs from plain fp64")
    }

    @Test func compensatedSumIsExactWhereNaiveSummationIsNot() {
        // 1 + 1e-16 + … ten thousand times: plain fp64 loses every small term.
        var c = CompensatedSum<Double>()
        var plain = 0.0
        c.add(1); plain += 1
        for _ in 0..<10000 { c.add(1e-16); plain += 1e-16 }
        #expect(plain == 1)
        #expect(abs(c.value - (1 + 1e-12)) < 1e-27)
    }

    @Test(arguments: [Precision.fp64, .fp32, .fp16, .bf16, .fp8e4m3])
    func plainAttentionInItsOwnPrecisionPassesTheRule(p: Precision) throws {
        let x = AttentionInputs(Self.shape, seed: 21)
        let (q, k, v) = (p.round(x.q), p.round(x.k), p.round(x.v))
        let base = try BaselineAttention.forward(q: q, k: k, v: v, shape: Self.shape, mask: .causal(.topLeft), precision: p)
        let report = try Equivalence.checkForward(
            candidate: base, q: x.q, k: x.k, v: x.v, shape: Self.shape,
            mask: .causal(.topLeft), precision: p)
        #expect(report.passed, "\(report)")
        #expect(report.output.baselineError > 0, "a low-precision baseline has an error to compare with")
    }

    @Test(arguments: [Precision.fp64, .fp16, .bf16])
    func anOutputPerturbedBeyondTheAllowanceFails(p: Precision) throws {
        let x = AttentionInputs(Self.shape, seed: 22)
        let (q, k, v) = (p.round(x.q), p.round(x.k), p.round(x.v))
        var cand = try BaselineAttention.forward(q: q, k: k, v: v, shape: Self.shape, precision: p)
        let ok = try Equivalence.checkForward(candidate: cand, q: x.q, k: x.k, v: x.v, shape: Self.shape, precision: p)
        #expect(ok.passed)
        cand.o[100] += ok.output.allowed * 1.5
        let bad = try Equivalence.checkForward(candidate: cand, q: x.q, k: x.k, v: x.v, shape: Self.shape, precision: p)
        #expect(!bad.passed)
        #expect(bad.output.worstIndex == 100)
    }

    @Test func fp16OutputsAreNotAcceptedAsFp64() throws {
        // A fp16 implementation's error is far outside what an fp64 one may have.
        let x = AttentionInputs(Self.shape, seed: 23)
        let r16 = try BaselineAttention.forward(q: x.q, k: x.k, v: x.v, shape: Self.shape, precision: .fp16)
        let report = try Equivalence.checkForward(candidate: r16, q: x.q, k: x.k, v: x.v, shape: Self.shape, precision: .fp64)
        #expect(!report.passed)
    }

    @Test func nonFiniteValuesCompareExactlyOrFail() {
        let ref = [1.0, -.infinity, .nan]
        // Matching values agree exactly, but a NaN reference vouches for nothing: a failure.
        let same = Equivalence.compare(candidate: ref, reference: ref, baseline: ref, format: .fp32)
        #expect(same.maxAbsError == 0 && !same.passed && same.unvouchedReferences == 1 && same.firstUnvouchedReference == 2)
        let finite = Array(ref.prefix(2))
        let emptyRow = Equivalence.compare(candidate: finite, reference: finite, baseline: finite, format: .fp32)
        #expect(emptyRow.maxAbsError == 0 && emptyRow.passed, "−∞ (a row that sees nothing) matched exactly passes")
        // FlashAttention-2 writes +∞ for such a row's LSE: accepted for an LSE only.
        let fa2 = [1.0, .infinity]
        #expect(Equivalence.compare(candidate: fa2, reference: finite, baseline: finite, format: .fp32, emptyRowsAsPositiveInfinity: true).passed)
        #expect(!Equivalence.compare(candidate: fa2, reference: finite, baseline: finite, format: .fp32).passed)
        let wrong = Equivalence.compare(candidate: [1, 0, .nan], reference: ref, baseline: ref, format: .fp32)
        #expect(wrong.maxAbsError == .infinity && !wrong.passed && wrong.worstIndex == 1)
        let nan = Equivalence.compare(candidate: [.nan, -.infinity, .nan], reference: ref, baseline: ref, format: .fp32)
        #expect(!nan.passed && nan.worstIndex == 0)
    }

    @Test func atolIsTwoUlpsOfTheOutputFormatAtTheOutputScale() {
        let c = Equivalence.compare(candidate: [0.75, 0.5], reference: [0.75, 0.5], baseline: [0.75, 0.5], format: .fp16)
        #expect(c.atol == 2 * 0x1p-11)
        #expect(c.allowed == c.atol)
    }
}
