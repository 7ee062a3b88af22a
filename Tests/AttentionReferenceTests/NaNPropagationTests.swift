import AttentionReference
import RealModule
import TestSupport
import Testing

/// NaN and ±∞ in the inputs reach the rows they touch whatever the scale, 0 included (a GEMM
/// with alpha 0 does not read its inputs, so the reference has to put them back).
@Suite struct NaNPropagation {
    static let shape = AttentionShape(batch: 1, heads: 2, nq: 37, nk: 41, d: 8, dv: 5)

    /// Row `r` of head `h`'s output, and its LSE.
    static func row(_ res: AttentionResult<Double>, h: Int, r: Int) -> (o: ArraySlice<Double>, lse: Double) {
        let s = shape
        let start = (h * s.nq + r) * s.dv
        return (res.o[start..<start + s.dv], res.lse[h * s.nq + r])
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity])
    func nanInQueryPropagatesWithScaleZero(bad: Double) throws {
        let s = Self.shape
        var x = AttentionInputs(s, seed: 7)
        x.q[(1 * s.nq + 20) * s.d + 3] = bad  // head 1, row 20
        let res = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, scale: 0)
        for h in 0..<s.heads {
            for r in 0..<s.nq {
                let (o, lse) = Self.row(res, h: h, r: r)
                if h == 1 && r == 20 {
                    #expect(o.allSatisfy { $0.isNaN } && lse.isNaN, "the row the bad value touches")
                } else {
                    #expect(o.allSatisfy { $0.isFinite } && lse == Double.log(Double(s.nk)), "h \(h) r \(r)")
                }
            }
        }
        // Bitwise the same for every chunk size, NaN rows included.
        let chunked = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, scale: 0, chunkRows: 1)
        #expect(res.o.map(\.bitPattern) == chunked.o.map(\.bitPattern))
        #expect(res.lse.map(\.bitPattern) == chunked.lse.map(\.bitPattern))
    }

    @Test func nonFiniteKeyPropagatesOnlyToRowsThatSeeItWithScaleZero() throws {
        let s = AttentionShape(nq: 40, nk: 40, d: 8)
        var x = AttentionInputs(s, seed: 11)
        x.k[30 * s.d + 5] = .infinity
        let res = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, mask: .causal(.topLeft), scale: 0)
        for r in 0..<s.nq {
            let o = res.o[r * s.dv..<(r + 1) * s.dv]
            if r >= 30 {
                #expect(o.allSatisfy { $0.isNaN } && res.lse[r].isNaN, "row \(r) sees key 30")
            } else {
                #expect(o.allSatisfy { $0.isFinite } && res.lse[r] == Double.log(Double(r + 1)), "row \(r) is masked off key 30")
            }
        }
    }

    @Test func scaleZeroWithFiniteInputsGivesExactlyUniformWeights() throws {
        let s = Self.shape
        let x = AttentionInputs(s, seed: 3, range: -1e200...1e200)  // q·k overflows fp64; 0·(q·k) is still 0
        let res = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, scale: 0)
        #expect(res.lse.allSatisfy { $0 == Double.log(Double(s.nk)) })
        #expect(res.o.allSatisfy { $0.isFinite })
    }

    @Test func nanInQueryPropagatesWithScaleZeroInFloatAndLowPrecisionBaselines() throws {
        let s = AttentionShape(nq: 33, nk: 20, d: 4)
        var x = AttentionInputs(s, seed: 5)
        x.q[32 * s.d] = .nan
        for precision in [Precision.fp32, .bf16] {
            let res = try BaselineAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, scale: 0, precision: precision)
            #expect(res.lse[32].isNaN && res.o[(32 * s.dv)...].allSatisfy { $0.isNaN }, "\(precision)")
            #expect(res.lse[..<32].allSatisfy { $0.isFinite }, "\(precision)")
        }
    }

    @Test func extendedReferenceAgreesOnNaNRowsWithScaleZero() throws {
        let s = AttentionShape(nq: 9, nk: 7, d: 4)
        var x = AttentionInputs(s, seed: 9)
        x.q[4 * s.d + 1] = .nan
        x.k[2 * s.d] = -.infinity
        let fast = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, mask: .causal(.topLeft), scale: 0)
        let slow = try ExtendedAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, mask: .causal(.topLeft), scale: 0)
        #expect(fast.lse.map(\.isNaN) == slow.lse.map(\.isNaN))
        #expect(fast.o.map(\.isNaN) == slow.o.map(\.isNaN))
        #expect(fast.lse[..<2] == slow.lse[..<2], "rows 0 and 1 see neither bad value")
    }

    @Test func negativeScaleMatchesTheTripleLoop() throws {
        let s = AttentionShape(batch: 2, heads: 2, kvHeads: 1, nq: 19, nk: 23, d: 16)
        let x = AttentionInputs(s, seed: 13)
        let ref = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, scale: -1)
        let naive = naiveAttention(x, s, scale: -1)
        #expect(maxAbsDiff(ref.o, naive.o) < 1e-14)
        #expect(maxAbsDiff(ref.lse, naive.lse) < 1e-13)
    }
}
