import RealModule
import TestSupport
import Testing

@testable import AttentionReference

/// The tolerance rule for gradients (docs/numerics.md, "Gradients"; rtol = 3) and the baseline backward it measures
/// candidates against.
@Suite struct BackwardToleranceRule {
    static let shape = AttentionShape(batch: 1, heads: 4, kvHeads: 2, nq: 67, nk: 45, d: 32, dv: 24)

    static func inputs(_ p: Precision, seed: UInt64) -> (q: [Double], k: [Double], v: [Double], dO: [Double], raw: AttentionInputs, rawDO: [Double]) {
        let x = AttentionInputs(shape, seed: seed)
        let dO = upstream(shape, seed: seed + 100)
        return (p.round(x.q), p.round(x.k), p.round(x.v), p.round(dO), x, dO)
    }

    @Test(arguments: [Precision.fp64, .fp32, .fp16, .bf16, .fp8e4m3, .fp8e5m2])
    func plainBackwardInItsOwnPrecisionPassesTheRule(p: Precision) throws {
        let i = Self.inputs(p, seed: 21)
        for mask in [AttentionMask.none, .causal(.bottomRight)] {
            let base = try BaselineBackward.backward(q: i.q, k: i.k, v: i.v, dO: i.dO, shape: Self.shape, mask: mask, precision: p)
            let report = try Equivalence.checkBackward(
                candidate: base, q: i.raw.q, k: i.raw.k, v: i.raw.v, dO: i.rawDO, shape: Self.shape, mask: mask, precision: p)
            #expect(report.passed, "\(report)")
            for c in [report.dq, report.dk, report.dv] {
                #expect(c.rtol == 3)
                #expect(c.baselineError > 0, "a baseline in \(p) has an error to compare with")
            }
        }
    }

    @Test(arguments: [Precision.fp64, .fp16, .bf16])
    func aGradientPerturbedBeyondTheAllowanceFails(p: Precision) throws {
        let i = Self.inputs(p, seed: 22)
        let base = try BaselineBackward.backward(q: i.q, k: i.k, v: i.v, dO: i.dO, shape: Self.shape, precision: p)
        let ok = try Equivalence.checkBackward(
            candidate: base, q: i.raw.q, k: i.raw.k, v: i.raw.v, dO: i.rawDO, shape: Self.shape, precision: p)
        #expect(ok.passed)
        for which in 0..<3 {
            var cand = base
            switch which {
            case 0: cand.dq[100] += ok.dq.allowed * 1.5
            case 1: cand.dk[100] -= ok.dk.allowed * 1.5
            default: cand.dv[100] += ok.dv.allowed * 1.5
            }
            let bad = try Equivalence.checkBackward(
                candidate: cand, q: i.raw.q, k: i.raw.k, v: i.raw.v, dO: i.rawDO, shape: Self.shape, precision: p)
            #expect(!bad.passed)
            let failed = [bad.dq, bad.dk, bad.dv].enumerated().filter { !$0.element.passed }
            #expect(failed.map(\.offset) == [which] && failed.first?.element.worstIndex == 100, "\(bad)")
        }
    }

    @Test func fp16GradientsAreNotAcceptedAsFp64() throws {
        let i = Self.inputs(.fp64, seed: 23)
        let g16 = try BaselineBackward.backward(q: i.q, k: i.k, v: i.v, dO: i.dO, shape: Self.shape, precision: .fp16)
        let report = try Equivalence.checkBackward(
            candidate: g16, q: i.q, k: i.k, v: i.v, dO: i.dO, shape: Self.shape, precision: .fp64)
        #expect(!report.passed)
        #expect(report.description.contains("dQ") && report.description.contains("FAIL"))
    }

    @Test func baselineErrorsShrinkWithPrecision() throws {
        // Against the fp64 reference: fp8 > bf16 > fp16 > fp32 for each gradient.
        let x = AttentionInputs(Self.shape, seed: 24)
        let dO = upstream(Self.shape, seed: 25)
        var previous = [Double](repeating: .infinity, count: 3)
        for p in [Precision.fp8e4m3, .bf16, .fp16, .fp32] {
            let (q, k, v, g) = (p.round(x.q), p.round(x.k), p.round(x.v), p.round(dO))
            let ref = try ReferenceGradients.backward(q: q, k: k, v: v, dO: g, shape: Self.shape)
            let base = try BaselineBackward.backward(q: q, k: k, v: v, dO: g, shape: Self.shape, precision: p)
            let errors = [maxAbsDiff(base.dq, ref.dq), maxAbsDiff(base.dk, ref.dk), maxAbsDiff(base.dv, ref.dv)]
            #expect(zip(errors, previous).allSatisfy { $0 < $1 }, "\(p): \(errors) after \(previous)")
            previous = errors
        }
    }

    @Test func theBaselineRoundsPToTheInputFormatBeforeTheValueGradient() throws {
        // One query row and dv = 1: dV_j = round16(P_j' · dO) with P_j' = P_j rounded to fp16 first
        // (the product of two fp16 numbers is exact in fp32). P_j is the fp32 softmax, read off an
        // fp32 forward with V = I (then O = P exactly, by the same sgemm and softmax).
        let s = AttentionShape(nq: 1, nk: 16, d: 4, dv: 1)
        var x = AttentionInputs(s, seed: 26, range: -2...2)
        (x.q, x.k) = (Precision.fp16.round(x.q), Precision.fp16.round(x.k))
        let dO = [1 + 0x1p-10]
        let identity = (0..<(16 * 16)).map { $0 / 16 == $0 % 16 ? Float(1) : 0 }
        let p = try ReferenceAttention.forward(
            q: x.q.map(Float.init), k: x.k.map(Float.init), v: identity, shape: AttentionShape(nq: 1, nk: 16, d: 4, dv: 16)
        ).o
        let base = try BaselineBackward.backward(
            q: x.q, k: x.k, v: Precision.fp16.round(x.v), dO: dO, shape: s, precision: .fp16)
        let rounded = p.map { Precision.fp16.round(Double(Float(Precision.fp16.round(Double($0))) * Float(dO[0]))) }
        let unrounded = p.map { Precision.fp16.round(Double($0 * Float(dO[0]))) }
        #expect(base.dv == rounded)
        #expect(rounded != unrounded, "the inputs tell the two orders apart")
    }

    @Test(arguments: [Precision.fp8e4m3, .fp8e5m2])
    func fp8ScoreGradientsKeepTheirRelativePrecisionWhateverTheirSize(p: Precision) {
        // dS of size 1e-5 would be zero or subnormal in e4m3 without the power-of-two row scale.
        var row: [Float] = [1e-5, -3e-6, 7.5e-7, 0, -1.1e-5]
        let original = row
        row.withUnsafeMutableBufferPointer { BaselineBackward.roundScoreGradients($0.baseAddress!, count: 5, to: p) }
        for (r, o) in zip(row, original) {
            // Half an ulp of the format, relative: 2^-(mantissa + 1).
            #expect(abs(Double(r) - Double(o)) <= abs(Double(o)) * Double(sign: .plus, exponent: -(p.mantissaBits + 1), significand: 1))
            #expect((r == 0) == (o == 0))
        }
        #expect(row != original, "the row really was rounded")
    }

    @Test func wronglySizedCandidatesAreRefused() {
        let i = Self.inputs(.fp32, seed: 27)
        let s = Self.shape
        let cand = AttentionGradients<Double>(dq: [0], dk: [Double](repeating: 0, count: s.kCount), dv: [Double](repeating: 0, count: s.vCount))
        #expect(throws: AttentionError.bufferSize(name: "dQ", expected: s.qCount, actual: 1)) {
            try Equivalence.checkBackward(candidate: cand, q: i.q, k: i.k, v: i.v, dO: i.dO, shape: s, precision: .fp32)
        }
    }
}
