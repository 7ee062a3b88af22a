import AttentionReference
import RealModule
import TestSupport
import Testing

/// Textbook attention gradients by loops over the full score matrix: P row by row, O, D, dP, dS,
/// then dQ, dK and dV summed element by element (dK and dV over every query head of a group).
func naiveGradients(
    _ x: AttentionInputs, dO: [Double], _ s: AttentionShape, mask: AttentionMask = .none, scale: Double? = nil
) -> AttentionGradients<Double> {
    let scale = scale ?? 1 / Double.sqrt(Double(s.d))
    var dq = [Double](repeating: 0, count: s.qCount), dk = [Double](repeating: 0, count: s.kCount)
    var dv = [Double](repeating: 0, count: s.vCount)
    for b in 0..<s.batch {
        for h in 0..<s.heads {
            let bh = b * s.heads + h, kvh = b * s.kvHeads + h / (s.heads / s.kvHeads)
            for r in 0..<s.nq {
                let scores = naiveScores(x, s, mask: mask, scale: scale, bh: bh, kvh: kvh, r: r)
                let m = scores.max()!
                if m == -.infinity { continue }
                let e = scores.map { Double.exp($0 - m) }
                let l = e.reduce(0, +)
                let p = e.map { $0 / l }
                let g = Array(dO[((bh * s.nq + r) * s.dv)..<((bh * s.nq + r + 1) * s.dv)])
                var dsum = 0.0
                for t in 0..<s.dv {
                    var o = 0.0
                    for c in 0..<s.nk { o += p[c] * x.v[(kvh * s.nk + c) * s.dv + t] }
                    dsum += g[t] * o
                }
                for c in 0..<s.nk {
                    var dp = 0.0
                    for t in 0..<s.dv { dp += g[t] * x.v[(kvh * s.nk + c) * s.dv + t] }
                    let ds = p[c] * (dp - dsum)
                    for t in 0..<s.d {
                        dq[(bh * s.nq + r) * s.d + t] += scale * ds * x.k[(kvh * s.nk + c) * s.d + t]
                        dk[(kvh * s.nk + c) * s.d + t] += scale * ds * x.q[(bh * s.nq + r) * s.d + t]
                    }
                    for t in 0..<s.dv { dv[(kvh * s.nk + c) * s.dv + t] += p[c] * g[t] }
                }
            }
        }
    }
    return AttentionGradients(dq: dq, dk: dk, dv: dv)
}

/// max |a − ref| / max |ref| (∞ when NaN appears on one side only).
func relativeError(_ a: [Double], _ ref: [Double]) -> Double {
    maxAbsDiff(a, ref) / max(ref.map(abs).max() ?? 0, .leastNormalMagnitude)
}

/// max |cand − ref| of dQ, dK and dV, each over the largest |ref| of all three: one scale for the
/// problem, so that a gradient that is exactly 0 (dQ and dK with Nk = 1) is measured against the
/// others' size instead of against its own rounding noise.
func gradientErrors(_ cand: AttentionGradients<Double>, _ ref: AttentionGradients<Double>) -> [Double] {
    let scale = max([ref.dq, ref.dk, ref.dv].map { $0.map(abs).max() ?? 0 }.max()!, .leastNormalMagnitude)
    return [maxAbsDiff(cand.dq, ref.dq), maxAbsDiff(cand.dk, ref.dk), maxAbsDiff(cand.dv, ref.dv)].map { $0 / scale }
}

/// The upstream gradient for a shape, uniform in [−1, 1].
func upstream(_ s: AttentionShape, seed: UInt64) -> [Double] { randomArray(s.oCount, seed: seed) }

func bits(_ g: AttentionGradients<Double>) -> [[UInt64]] { [g.dq, g.dk, g.dv].map { $0.map(\.bitPattern) } }

@Suite struct ReferenceGradientsMatchNaive {
    @Test(arguments: adversarialShapes)
    func gradientsEqualTripleLoopOnAdversarialShapes(shape: AttentionShape) throws {
        let x = AttentionInputs(shape, seed: UInt64(shape.nq * 1000 + shape.d))
        let dO = upstream(shape, seed: 99)
        let ref = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: shape)
        let errors = gradientErrors(ref, naiveGradients(x, dO: dO, shape))
        #expect(errors.allSatisfy { $0 < 1e-14 }, "dQ, dK, dV: \(errors)")
    }

    @Test(arguments: ReferenceMatchesNaive.maskCases)
    func everyMaskKindGradientsEqualTripleLoop(c: Case) throws {
        let x = AttentionInputs(c.shape, seed: 7)
        let dO = upstream(c.shape, seed: 8)
        let ref = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: c.shape, mask: c.mask)
        let errors = gradientErrors(ref, naiveGradients(x, dO: dO, c.shape, mask: c.mask))
        #expect(errors.allSatisfy { $0 < 1e-14 }, "dQ, dK, dV: \(errors)")
    }

    @Test func fp64GradientsAreWithin1e14RelativeOfExtendedPrecision() throws {
        let s = AttentionShape(batch: 1, heads: 2, kvHeads: 1, nq: 90, nk: 70, d: 32, dv: 24)
        let x = AttentionInputs(s, seed: 9, range: -3...3)
        let dO = upstream(s, seed: 10)
        for mask in [AttentionMask.none, .causal(.bottomRight)] {
            let ref = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s, mask: mask)
            let ext = try ExtendedGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s, mask: mask)
            for (name, a, e) in [("dQ", ref.dq, ext.dq), ("dK", ref.dk, ext.dk), ("dV", ref.dv, ext.dv)] {
                #expect(relativeError(a, e) <= 1e-14, "\(name) with \(mask)")
                #expect(maxAbsDiff(a, e) > 0, "\(name): the extended computation really differs from plain fp64")
            }
        }
    }

    @Test func fp32GradientsAreCloseToFp64() throws {
        let s = AttentionShape(nq: 100, nk: 80, d: 64)
        let x = AttentionInputs(s, seed: 3)
        let dO = upstream(s, seed: 4)
        let r64 = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s)
        let r32 = try ReferenceGradients.backward(
            q: x.q.map(Float.init), k: x.k.map(Float.init), v: x.v.map(Float.init), dO: dO.map(Float.init), shape: s)
        for (a, e) in [(r32.dq, r64.dq), (r32.dk, r64.dk), (r32.dv, r64.dv)] {
            let err = relativeError(a.map(Double.init), e)
            #expect(err > 0 && err < 1e-5)
        }
    }

    @Test func forwardBackwardReturnsTheForwardBitForBit() throws {
        let s = AttentionShape(batch: 2, heads: 4, kvHeads: 2, nq: 75, nk: 66, d: 24, dv: 20)
        let x = AttentionInputs(s, seed: 12)
        let dO = upstream(s, seed: 13)
        for mask in [AttentionMask.none, .causal(.topLeft), .slidingWindow(left: 7, right: 3, alignment: .bottomRight)] {
            for chunk in [1, 40, 75] {
                let fwd = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: s, mask: mask, chunkRows: chunk)
                let both = try ReferenceGradients.forwardBackward(
                    q: x.q, k: x.k, v: x.v, dO: dO, shape: s, mask: mask, chunkRows: chunk)
                let alone = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s, mask: mask, chunkRows: chunk)
                #expect(both.forward.o.map(\.bitPattern) == fwd.o.map(\.bitPattern), "O with \(mask)")
                #expect(both.forward.lse.map(\.bitPattern) == fwd.lse.map(\.bitPattern), "LSE with \(mask)")
                #expect(bits(both.gradients) == bits(alone), "gradients with \(mask)")
            }
        }
    }
}

@Suite struct GradientChunking {
    static let shape = AttentionShape(batch: 2, heads: 4, kvHeads: 2, nq: 300, nk: 130, d: 40, dv: 24)
    static let masks: [AttentionMask] = {
        var g = SeededGenerator(seed: 31)
        return [
            .none, .causal(.bottomRight), .causal(.topLeft), .slidingWindow(left: 9, right: 2, alignment: .topLeft),
            .boolean((0..<(300 * 130)).map { _ in Double.random(in: 0..<1, using: &g) < 0.8 }),
        ]
    }()

    @Test(arguments: [1, 3, 64, 200, 300])
    func gradientsAreBitwiseIdenticalForEveryChunkSize(chunk: Int) throws {
        let s = Self.shape
        let x = AttentionInputs(s, seed: 11)
        let dO = upstream(s, seed: 12)
        for mask in Self.masks {
            // The whole of Nq in one chunk against `chunk` rows at a time (rounded up to whole
            // backward blocks: 1, 3 and 64 give chunks of 128 rows, 200 of 256).
            let whole = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s, mask: mask, chunkRows: s.nq)
            let chunked = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s, mask: mask, chunkRows: chunk)
            #expect(bits(chunked) == bits(whole), "gradients differ with \(mask)")
            let default_ = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s, mask: mask)
            #expect(bits(default_) == bits(whole), "the default chunk differs with \(mask)")
        }
    }

    @Test(arguments: [1, 64])
    func fp32GradientsAreBitwiseIdenticalForEveryChunkSize(chunk: Int) throws {
        let s = Self.shape
        let x = AttentionInputs(s, seed: 13)
        let (q, k, v, dO) = (x.q.map(Float.init), x.k.map(Float.init), x.v.map(Float.init), upstream(s, seed: 14).map(Float.init))
        let whole = try ReferenceGradients.backward(q: q, k: k, v: v, dO: dO, shape: s, mask: .causal(.topLeft), chunkRows: s.nq)
        let chunked = try ReferenceGradients.backward(q: q, k: k, v: v, dO: dO, shape: s, mask: .causal(.topLeft), chunkRows: chunk)
        #expect(whole.dq.map(\.bitPattern) == chunked.dq.map(\.bitPattern))
        #expect(whole.dk.map(\.bitPattern) == chunked.dk.map(\.bitPattern))
        #expect(whole.dv.map(\.bitPattern) == chunked.dv.map(\.bitPattern))
    }
}

/// Central differences of L = Σ dO ∘ O(Q, K, V), whose gradients are dQ, dK and dV.
@Suite struct GradientsMatchFiniteDifferences {
    struct Tiny: CustomTestStringConvertible, Sendable {
        var shape: AttentionShape
        var mask: AttentionMask
        var testDescription: String { "\(shape) \(mask)" }
    }

    static let cases: [Tiny] = [
        Tiny(shape: AttentionShape(nq: 3, nk: 4, d: 3, dv: 2), mask: .none),
        Tiny(shape: AttentionShape(batch: 2, heads: 2, kvHeads: 1, nq: 2, nk: 3, d: 2, dv: 3), mask: .none),
        Tiny(shape: AttentionShape(nq: 4, nk: 3, d: 2), mask: .causal(.bottomRight)),
        Tiny(shape: AttentionShape(nq: 3, nk: 5, d: 2), mask: .causal(.topLeft)),
        Tiny(shape: AttentionShape(nq: 4, nk: 5, d: 3, dv: 2), mask: .slidingWindow(left: 1, right: 1, alignment: .topLeft)),
        Tiny(shape: AttentionShape(nq: 3, nk: 3, d: 2), mask: .boolean([true, false, true, false, false, false, true, true, false])),
        Tiny(shape: AttentionShape(nq: 2, nk: 3, d: 2), mask: .additive([0.5, -1, -.infinity, 2, 0, -0.25])),
    ]

    static func loss(_ x: AttentionInputs, _ dO: [Double], _ t: Tiny) throws -> Double {
        let o = try ReferenceAttention.forward(q: x.q, k: x.k, v: x.v, shape: t.shape, mask: t.mask).o
        return zip(o, dO).reduce(0) { $0 + $1.0 * $1.1 }
    }

    @Test(arguments: cases)
    func gradientsEqualCentralDifferencesOfTheForward(t: Tiny) throws {
        let x = AttentionInputs(t.shape, seed: 41, range: -2...2)
        let dO = upstream(t.shape, seed: 42)
        let g = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: t.shape, mask: t.mask)
        // Truncation error ~h²·|L'''| ≈ 1e-10, rounding ~ε·|L|/h ≈ 1e-11: 1e-8 leaves a wide margin
        // while a wrong term (a missing D, a wrong scale) is off by O(0.1).
        let h = 1e-5
        for (name, path, grad) in [("q", \AttentionInputs.q, g.dq), ("k", \.k, g.dk), ("v", \.v, g.dv)] {
            for i in x[keyPath: path].indices {
                var plus = x, minus = x
                plus[keyPath: path][i] += h
                minus[keyPath: path][i] -= h
                let fd = (try Self.loss(plus, dO, t) - Self.loss(minus, dO, t)) / (2 * h)
                #expect(abs(fd - grad[i]) < 1e-8, "d\(name)[\(i)]: \(grad[i]) vs central difference \(fd)")
            }
        }
    }
}

@Suite struct GradientClosedForms {
    @Test func zeroQueriesGiveUniformAttentionGradients() throws {
        // P = 1/Nk everywhere: dV_j = (1/Nk)·Σ_i dO_i for every key, dK = scale·dSᵀQ = 0 exactly, and
        // dQ_i = (scale/Nk)·Σ_j (dO_i·v_j)(k_j − mean k).
        let s = AttentionShape(nq: 6, nk: 16, d: 8, dv: 5)
        var x = AttentionInputs(s, seed: 51)
        x.q = [Double](repeating: 0, count: s.qCount)
        let dO = upstream(s, seed: 52)
        let g = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s)
        #expect(g.dk.allSatisfy { $0 == 0 })
        let scale = 1 / Double(s.d).squareRoot()
        let kMean = (0..<s.d).map { t in (0..<s.nk).reduce(0.0) { $0 + x.k[$1 * s.d + t] } / Double(s.nk) }
        var dv: [Double] = [], dq: [Double] = []
        for _ in 0..<s.nk {
            dv += (0..<s.dv).map { t in (0..<s.nq).reduce(0.0) { $0 + dO[$1 * s.dv + t] } / Double(s.nk) }
        }
        for i in 0..<s.nq {
            dq += (0..<s.d).map { t in
                (0..<s.nk).reduce(0.0) { acc, j in
                    let dp = (0..<s.dv).reduce(0.0) { $0 + dO[i * s.dv + $1] * x.v[j * s.dv + $1] }
                    return acc + scale / Double(s.nk) * dp * (x.k[j * s.d + t] - kMean[t])
                }
            }
        }
        #expect(relativeError(g.dv, dv) < 1e-15)
        #expect(relativeError(g.dq, dq) < 1e-14)
    }

    @Test func zeroUpstreamGradientGivesZeroGradients() throws {
        let s = AttentionShape(batch: 2, heads: 2, kvHeads: 1, nq: 9, nk: 12, d: 8)
        let x = AttentionInputs(s, seed: 53)
        let g = try ReferenceGradients.backward(
            q: x.q, k: x.k, v: x.v, dO: [Double](repeating: 0, count: s.oCount), shape: s, mask: .causal(.topLeft))
        #expect([g.dq, g.dk, g.dv].allSatisfy { $0.allSatisfy { $0 == 0 } })
    }

    @Test func aDominantKeyRoutesTheUpstreamGradientToItsValueRow() throws {
        // q·k_7 exceeds every other score by ~2000: P is exactly one-hot, so dV_7 = dO and every
        // other dV row is 0; dS = P∘(dP − D) = 0 up to rounding since D = dO·O = dO·v_7 = dP_7.
        let s = AttentionShape(nq: 1, nk: 20, d: 4, dv: 6)
        var x = AttentionInputs(s, seed: 54, range: -0.01...0.01)
        x.q = [1, 1, 1, 1]
        for t in 0..<4 { x.k[7 * 4 + t] = 1000 }
        let dO = upstream(s, seed: 55)
        let g = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s)
        #expect(Array(g.dv[42..<48]) == dO)
        #expect(g.dv.enumerated().allSatisfy { (42..<48).contains($0.offset) || $0.element == 0 })
        #expect(g.dq.allSatisfy { abs($0) < 1e-13 })
        #expect(g.dk.allSatisfy { abs($0) < 1e-13 })
    }

    @Test func valueRowsSumToTheUpstreamRowsAndKeyRowsSumToZero() throws {
        // Rows of P sum to 1, so Σ_j dV_j = Σ_i dO_i; rows of dS sum to 0 (softmax is shift
        // invariant), so Σ_j dK_j = scale·Σ_i (Σ_j dS_ij)·q_i = 0.
        let s = AttentionShape(nq: 40, nk: 50, d: 16, dv: 12)
        let x = AttentionInputs(s, seed: 56)
        let dO = upstream(s, seed: 57)
        let g = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s, mask: .causal(.bottomRight))
        for t in 0..<s.dv {
            let sumV = (0..<s.nk).reduce(0.0) { $0 + g.dv[$1 * s.dv + t] }
            let sumO = (0..<s.nq).reduce(0.0) { $0 + dO[$1 * s.dv + t] }
            #expect(abs(sumV - sumO) < 1e-13)
        }
        let dkScale = g.dk.map(abs).max()!
        for t in 0..<s.d {
            #expect(abs((0..<s.nk).reduce(0.0) { $0 + g.dk[$1 * s.d + t] }) < 1e-14 * Double(s.nk) * dkScale)
        }
    }

    @Test func identicalValueRowsGiveNoScoreGradient() throws {
        // O = v for every row, so dP_ij = dO_i·v = D_i and dS = 0: dQ and dK vanish up to rounding.
        let s = AttentionShape(nq: 12, nk: 15, d: 8, dv: 6)
        var x = AttentionInputs(s, seed: 58)
        let row = Array(x.v[0..<6])
        x.v = Array((0..<15).map { _ in row }.joined())
        let g = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: upstream(s, seed: 59), shape: s)
        #expect(g.dq.allSatisfy { abs($0) < 1e-14 })
        #expect(g.dk.allSatisfy { abs($0) < 1e-14 })
    }

    @Test func fullyMaskedRowsAndUnseenKeysGetZeroGradients() throws {
        // Bottom-right causal with Nq > Nk: the first Nq − Nk rows see nothing.
        let tall = AttentionShape(nq: 10, nk: 6, d: 4, dv: 3)
        let x = AttentionInputs(tall, seed: 60)
        let g = try ReferenceGradients.backward(
            q: x.q, k: x.k, v: x.v, dO: upstream(tall, seed: 61), shape: tall, mask: .causal(.bottomRight))
        #expect(g.dq[0..<16].allSatisfy { $0 == 0 })
        #expect([g.dq, g.dk, g.dv].allSatisfy { $0.allSatisfy(\.isFinite) })
        #expect(g.dq[16...].contains { $0 != 0 })
        // A boolean row of false and an additive row of −∞.
        let s = AttentionShape(nq: 6, nk: 10, d: 4)
        let y = AttentionInputs(s, seed: 62)
        var keep = [Bool](repeating: true, count: 60)
        for c in 0..<10 { keep[2 * 10 + c] = false }
        for mask in [AttentionMask.boolean(keep), .additive(keep.map { $0 ? 0 : -.infinity })] {
            let h = try ReferenceGradients.backward(q: y.q, k: y.k, v: y.v, dO: upstream(s, seed: 63), shape: s, mask: mask)
            #expect(h.dq[8..<12].allSatisfy { $0 == 0 })
            #expect([h.dq, h.dk, h.dv].allSatisfy { $0.allSatisfy(\.isFinite) })
        }
        // Top-left causal with Nq < Nk: keys at or past Nq are seen by no row.
        let wide = AttentionShape(nq: 5, nk: 9, d: 4, dv: 3)
        let z = AttentionInputs(wide, seed: 64)
        let w = try ReferenceGradients.backward(
            q: z.q, k: z.k, v: z.v, dO: upstream(wide, seed: 65), shape: wide, mask: .causal(.topLeft))
        #expect(w.dk[(5 * 4)...].allSatisfy { $0 == 0 })
        #expect(w.dv[(5 * 3)...].allSatisfy { $0 == 0 })
    }

    @Test func gqaGradientsAreGroupSumsOfRepeatedHeads() throws {
        let g = AttentionShape(batch: 2, heads: 6, kvHeads: 2, nq: 21, nk: 33, d: 12, dv: 10)
        let x = AttentionInputs(g, seed: 66)
        let dO = upstream(g, seed: 67)
        var k: [Double] = [], v: [Double] = []
        for b in 0..<2 {
            for h in 0..<6 {
                let kvh = b * 2 + h / 3
                k += x.k[(kvh * 33 * 12)..<((kvh + 1) * 33 * 12)]
                v += x.v[(kvh * 33 * 10)..<((kvh + 1) * 33 * 10)]
            }
        }
        let mha = AttentionShape(batch: 2, heads: 6, nq: 21, nk: 33, d: 12, dv: 10)
        let a = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: g, mask: .causal(.topLeft))
        let m = try ReferenceGradients.backward(q: x.q, k: k, v: v, dO: dO, shape: mha, mask: .causal(.topLeft))
        #expect(a.dq == m.dq, "dQ of a query head does not depend on how K and V are stored")
        // Sum the expanded heads' dK and dV over each group.
        var dk = [Double](repeating: 0, count: g.kCount), dv = [Double](repeating: 0, count: g.vCount)
        for b in 0..<2 {
            for h in 0..<6 {
                let kvh = b * 2 + h / 3, bh = b * 6 + h
                for e in 0..<(33 * 12) { dk[kvh * 33 * 12 + e] += m.dk[bh * 33 * 12 + e] }
                for e in 0..<(33 * 10) { dv[kvh * 33 * 10 + e] += m.dv[bh * 33 * 10 + e] }
            }
        }
        #expect(relativeError(a.dk, dk) < 1e-15)
        #expect(relativeError(a.dv, dv) < 1e-15)
    }

    @Test func scaleZeroGivesExactlyZeroQueryAndKeyGradients() throws {
        let s = AttentionShape(nq: 7, nk: 9, d: 4)
        let x = AttentionInputs(s, seed: 68)
        let dO = upstream(s, seed: 69)
        let g = try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: dO, shape: s, scale: 0)
        #expect(g.dq.allSatisfy { $0 == 0 } && g.dk.allSatisfy { $0 == 0 })
        // Uniform attention: every dV row is the mean of the dO rows times Nq / Nk.
        let dvRow = (0..<s.dv).map { t in (0..<s.nq).reduce(0.0) { $0 + dO[$1 * s.dv + t] } / Double(s.nk) }
        #expect(relativeError(g.dv, Array((0..<s.nk).map { _ in dvRow }.joined())) < 1e-15)
    }

    @Test func aWronglySizedUpstreamGradientIsRefused() {
        let s = AttentionShape(nq: 4, nk: 5, d: 3, dv: 2)
        let x = AttentionInputs(s, seed: 70)
        #expect(throws: AttentionError.bufferSize(name: "dO", expected: 8, actual: 9)) {
            try ReferenceGradients.backward(q: x.q, k: x.k, v: x.v, dO: [Double](repeating: 0, count: 9), shape: s)
        }
    }
}
