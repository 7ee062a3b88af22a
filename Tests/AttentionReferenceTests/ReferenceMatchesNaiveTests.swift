import AttentionReference
import TestSupport
import Testing

struct Case: CustomTestStringConvertible, Sendable {
    var shape: AttentionShape
    var mask: AttentionMask
    var testDescription: String {
        let kind: String
        switch mask {
        case .boolean(let m): kind = "boolean(\(m.count))"
        case .additive(let m): kind = "additive(\(m.count))"
        default: kind = "\(mask)"
        }
        return "\(shape) mask=\(kind)"
    }
}

let adversarialShapes: [AttentionShape] =
    [59, 64, 80, 111, 128, 256].map { AttentionShape(nq: 37, d: $0) } + [
        AttentionShape(nq: 1, d: 64),
        AttentionShape(nq: 1, nk: 53, d: 32),
        AttentionShape(nq: 53, nk: 1, d: 32),
        AttentionShape(nq: 97, nk: 41, d: 48),
        AttentionShape(nq: 41, nk: 97, d: 48),
        AttentionShape(batch: 2, heads: 3, nq: 23, d: 16, dv: 24),
        AttentionShape(batch: 2, heads: 4, kvHeads: 2, nq: 19, nk: 29, d: 16),
    ]

@Suite struct ReferenceMatchesNaive {
    @Test(arguments: adversarialShapes)
    func referenceEqualsTripleLoopOnAdversarialShapes(shape: AttentionShape) throws {
        let x = AttentionInputs(shape, seed: UInt64(shape.nq * 1000 + shape.d))
        let ref = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: shape)
        let naive = naiveAttention(x, shape)
        #expect(maxAbsDiff(ref.o, naive.o) < 1e-14)
        #expect(maxAbsDiff(ref.lse, naive.lse) < 1e-13)
    }

    static let maskCases: [Case] = {
        let shapes = [
            AttentionShape(nq: 45, nk: 45, d: 16), AttentionShape(nq: 30, nk: 71, d: 16),
            AttentionShape(nq: 71, nk: 30, d: 16), AttentionShape(batch: 2, heads: 2, nq: 13, nk: 17, d: 8),
        ]
        return shapes.flatMap { s -> [Case] in
            var g = SeededGenerator(seed: UInt64(s.nq * s.nk))
            let plane = s.nq * s.nk
            let full = plane * s.batch * s.heads
            return [
                Case(shape: s, mask: .none),
                Case(shape: s, mask: .causal(.topLeft)),
                Case(shape: s, mask: .causal(.bottomRight)),
                Case(shape: s, mask: .slidingWindow(left: 5, right: 0, alignment: .topLeft)),
                Case(shape: s, mask: .slidingWindow(left: 3, right: 4, alignment: .bottomRight)),
                Case(shape: s, mask: .boolean((0..<plane).map { _ in Bool.random(using: &g) })),
                Case(shape: s, mask: .boolean((0..<full).map { _ in Double.random(in: 0..<1, using: &g) < 0.7 })),
                Case(
                    shape: s,
                    mask: .additive(
                        (0..<plane).map { _ in
                            Double.random(in: 0..<1, using: &g) < 0.2 ? -.infinity : Double.random(in: -2...2, using: &g)
                        })),
            ] + structured(s)
        }
    }()

    /// Sinks, a prefix and documents (whose lengths must add up to Nq = Nk) on top of windows.
    static func structured(_ s: AttentionShape) -> [Case] {
        var masks: [AttentionMask] = [
            .structured(StructuredMask(base: .slidingWindow(left: 3, right: 0, alignment: .bottomRight), sinkTokens: 4)),
            .structured(StructuredMask(base: .slidingWindow(left: 2, right: 3, alignment: .topLeft), sinkTokens: 2)),
            .structured(StructuredMask(base: .causal(.topLeft), prefix: 9)),
            .structured(StructuredMask(base: .slidingWindow(left: 1, right: 0, alignment: .bottomRight), sinkTokens: 3, prefix: 5)),
        ]
        if s.nq == s.nk {
            let docs = s.nq == 45 ? [20, 1, 17, 7] : [5, 8]
            masks += [
                .structured(StructuredMask(base: .none, documents: docs)),
                .structured(StructuredMask(base: .causal(.bottomRight), documents: docs)),
                .structured(StructuredMask(base: .slidingWindow(left: 2, right: 0, alignment: .topLeft), sinkTokens: 2, documents: docs)),
                .structured(StructuredMask(base: .causal(.topLeft), prefix: 6, documents: docs)),
            ]
        }
        // Block masks of 8 × 8 blocks, one plane per (batch, head), over causal and over no mask.
        var g = SeededGenerator(seed: UInt64(s.nq + 31 * s.nk))
        let (rows, cols) = ((s.nq + 7) / 8, (s.nk + 7) / 8)
        for inner in [AttentionMask.causal(.bottomRight), .none] {
            let values = (0..<s.batch * s.heads * rows * cols).map { _ in UInt8.random(in: 0...2, using: &g) }
            masks.append(
                .blockSparse(
                    BlockMask(
                        blockQ: 8, blockK: 8, rows: rows, cols: cols, batch: s.batch, heads: s.heads, queryHeads: s.heads, values: values,
                        inner: inner)))
        }
        return masks.map { Case(shape: s, mask: $0) }
    }

    @Test(arguments: maskCases)
    func everyMaskKindEqualsTripleLoop(c: Case) throws {
        let x = AttentionInputs(c.shape, seed: 7)
        let ref = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: c.shape, mask: c.mask)
        let naive = naiveAttention(x, c.shape, mask: c.mask)
        #expect(maxAbsDiff(ref.o, naive.o) < 1e-14)
        #expect(maxAbsDiff(ref.lse, naive.lse) < 1e-13)
    }

    @Test func fp32ReferenceIsCloseToFp64() throws {
        let s = AttentionShape(nq: 100, d: 64)
        let x = AttentionInputs(s, seed: 3)
        let r64 = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s)
        let r32 = try ReferenceAttention.forward(
            q: x.q.map(Float.init), k: x.k.map(Float.init),
            v: x.v.map(Float.init), shape: s)
        let err = maxAbsDiff(r64.o, r32.o.map(Double.init))
        #expect(err > 0 && err < 1e-6)
        // LSE, a well-conditioned log-sum-exp, is within a few fp32 ulps of the fp64 one (O is
        // compared absolutely above: its elements near zero carry errors of many of their own ulps).
        let lse = maxUlpError(r32.lse, reference: r64.lse)
        #expect(lse.ulps <= 4, "row \(lse.index ?? -1)")
    }

    @Test(arguments: [1, 2, 3, 7, 16, 64, 500])
    func outputIsBitwiseIdenticalForEveryChunkSize(chunk: Int) throws {
        let s = AttentionShape(batch: 2, heads: 2, kvHeads: 1, nq: 150, nk: 130, d: 40)
        let x = AttentionInputs(s, seed: 11)
        for mask in [AttentionMask.none, .causal(.bottomRight), .slidingWindow(left: 9, right: 2, alignment: .topLeft)] {
            let whole = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, mask: mask, chunkRows: 150)
            let chunked = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, mask: mask, chunkRows: chunk)
            #expect(whole.o.map(\.bitPattern) == chunked.o.map(\.bitPattern), "O differs with \(mask)")
            #expect(whole.lse.map(\.bitPattern) == chunked.lse.map(\.bitPattern), "LSE differs with \(mask)")
        }
    }

    @Test func gqaEqualsRepeatedKeysAndValues() throws {
        let g = AttentionShape(batch: 2, heads: 6, kvHeads: 2, nq: 21, nk: 33, d: 12)
        let x = AttentionInputs(g, seed: 5)
        // Expand every KV head to the 3 query heads of its group.
        var k: [Double] = [], v: [Double] = []
        for b in 0..<2 {
            for h in 0..<6 {
                let kvh = b * 2 + h / 3
                k += x.k[(kvh * 33 * 12)..<((kvh + 1) * 33 * 12)]
                v += x.v[(kvh * 33 * 12)..<((kvh + 1) * 33 * 12)]
            }
        }
        let mha = AttentionShape(batch: 2, heads: 6, nq: 21, nk: 33, d: 12)
        let a = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: g, mask: .causal(.topLeft))
        let b = try ReferenceAttention.forward(q: x.q, k: k, v: v, shape: mha, mask: .causal(.topLeft))
        #expect(a.o == b.o)
        #expect(a.lse == b.lse)
    }
}
