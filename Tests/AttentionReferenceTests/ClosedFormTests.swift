import AttentionReference
import TestSupport
import Testing

@Suite struct ClosedFormCases {
    static func meanOfV(_ v: [Double], nk: Int, dv: Int) -> [Double] {
        (0..<dv).map { t in (0..<nk).reduce(0.0) { $0 + v[$1 * dv + t] } / Double(nk) }
    }

    @Test func identicalKeysGiveTheMeanOfV() throws {
        let s = AttentionShape(nq: 9, nk: 40, d: 16)
        var x = AttentionInputs(s, seed: 1)
        let key = Array(x.k[0..<16])
        x.k = Array((0..<40).map { _ in key }.joined())
        let r = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s)
        let mean = Self.meanOfV(x.v, nk: 40, dv: 16)
        for row in 0..<9 {
            #expect(maxAbsDiff(Array(r.o[row * 16..<(row + 1) * 16]), mean) < 1e-15)
        }
    }

    @Test func scaleZeroGivesTheMeanOfVAndLogNk() throws {
        let s = AttentionShape(nq: 5, nk: 33, d: 8)
        let x = AttentionInputs(s, seed: 2)
        let r = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, scale: 0)
        let mean = Self.meanOfV(x.v, nk: 33, dv: 8)
        for row in 0..<5 {
            #expect(maxAbsDiff(Array(r.o[row * 8..<(row + 1) * 8]), mean) < 1e-15)
            #expect(abs(r.lse[row] - Double.log(33)) < 1e-15)
        }
    }

    @Test func oneDominantScoreSelectsThatRowOfV() throws {
        // q·k_j is 1000·d/√d larger for j = 7 than for any other key: exp(−huge) underflows to 0.
        let s = AttentionShape(nq: 1, nk: 20, d: 4)
        var x = AttentionInputs(s, seed: 3, range: -0.01...0.01)
        x.q = [1, 1, 1, 1]
        for t in 0..<4 { x.k[7 * 4 + t] = 1000 }
        let r = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s)
        #expect(r.o == Array(x.v[28..<32]))
        #expect(abs(r.lse[0] - 2000) < 1e-12)
    }

    @Test func fullyMaskedRowsGiveZeroOutputAndMinusInfinityLSE() throws {
        // Top-left causal with nq > nk leaves no row empty; a window right of the diagonal does.
        let s = AttentionShape(nq: 6, nk: 10, d: 4)
        let x = AttentionInputs(s, seed: 4)
        var keep = [Bool](repeating: true, count: 60)
        for c in 0..<10 { keep[2 * 10 + c] = false }
        for mask in [AttentionMask.boolean(keep), .additive(keep.map { $0 ? 0 : -.infinity })] {
            let r = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, mask: mask)
            #expect(r.o[8..<12].allSatisfy { $0 == 0 })
            #expect(r.lse[2] == -.infinity)
            #expect(r.lse.enumerated().allSatisfy { $0.offset == 2 || $0.element.isFinite })
        }
        // Bottom-right causal with nq > nk: the first nq − nk rows see nothing.
        let tall = AttentionShape(nq: 10, nk: 6, d: 4)
        let y = AttentionInputs(tall, seed: 5)
        let r = try ReferenceAttention.forward(q: y.q, k: y.k, v: y.v, shape: tall, mask: .causal(.bottomRight))
        #expect(r.lse[0..<4].allSatisfy { $0 == -.infinity })
        #expect(r.o[0..<16].allSatisfy { $0 == 0 })
        #expect(r.lse[4..<10].allSatisfy { $0.isFinite })
    }

    @Test func causalAlignmentsDifferOnlyWhenLengthsDiffer() throws {
        let square = AttentionShape(nq: 12, d: 8)
        let x = AttentionInputs(square, seed: 6)
        let tl = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: square, mask: .causal(.topLeft))
        let br = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: square, mask: .causal(.bottomRight))
        #expect(tl.o == br.o)
        let wide = AttentionShape(nq: 4, nk: 12, d: 8)
        let y = AttentionInputs(wide, seed: 7)
        let w1 = try ReferenceAttention.forward(q: y.q, k: y.k, v: y.v, shape: wide, mask: .causal(.topLeft))
        let w2 = try ReferenceAttention.forward(q: y.q, k: y.k, v: y.v, shape: wide, mask: .causal(.bottomRight))
        // Bottom-right: the last query sees every key, as unmasked attention does.
        let full = try ReferenceAttention.forward(q: y.q, k: y.k, v: y.v, shape: wide)
        #expect(Array(w2.o[24..<32]) == Array(full.o[24..<32]))
        #expect(Array(w1.o[24..<32]) != Array(full.o[24..<32]))
    }

    @Test func nanInOneQueryRowPoisonsOnlyThatRow() throws {
        let s = AttentionShape(nq: 4, nk: 8, d: 4)
        var x = AttentionInputs(s, seed: 8)
        x.q[1 * 4 + 2] = .nan
        let r = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s)
        #expect(r.o[4..<8].allSatisfy { $0.isNaN })
        #expect(r.lse[1].isNaN)
        #expect(r.o[0..<4].allSatisfy { $0.isFinite } && r.o[8..<16].allSatisfy { $0.isFinite })
        var y = AttentionInputs(s, seed: 8)
        y.v[3 * 4] = .infinity
        let w = try ReferenceAttention.forward(q: y.q, k: y.k, v: y.v, shape: s)
        #expect((0..<4).allSatisfy { !w.o[$0 * 4].isFinite })
    }

    @Test func badShapesAreRejectedWithAnActionableError() throws {
        let x = AttentionInputs(AttentionShape(nq: 4, d: 4), seed: 1)
        #expect(throws: AttentionError.headsNotDivisible(heads: 3, kvHeads: 2)) {
            try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: AttentionShape(heads: 3, kvHeads: 2, nq: 4, d: 4))
        }
        #expect(throws: AttentionError.nonPositive(name: "Nq", value: 0)) {
            try ReferenceAttention.forward(q: [], k: x.k, v: x.v, shape: AttentionShape(nq: 0, nk: 4, d: 4))
        }
        #expect(throws: AttentionError.bufferSize(name: "k", expected: 16, actual: 12)) {
            try ReferenceAttention.forward(q: x.q, k: Array(x.k.prefix(12)), v: x.v, shape: AttentionShape(nq: 4, d: 4))
        }
        #expect(throws: AttentionError.self) {
            try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: AttentionShape(nq: 4, d: 4), mask: .boolean([true]))
        }
    }
}
