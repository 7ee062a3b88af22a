import AttentionReference
import Foundation
import TestSupport
import Testing

/// Soft cap, ALiBi and sink logits in the forward references, against cases whose answer is
/// known in closed form and against the extended-precision reference.
@Suite struct ScoreModifications {
    /// Softmax-weighted sum of `values` under `logits`, plus an optional sink in the denominator,
    /// written out directly (the answer the references must give).
    static func expected(_ logits: [Double], _ values: [[Double]], sink: Double? = nil) -> (o: [Double], lse: Double) {
        let m = max(logits.max() ?? -.infinity, sink ?? -.infinity)
        let p = logits.map { Foundation.exp($0 - m) }
        let l = p.reduce(0, +) + (sink.map { Foundation.exp($0 - m) } ?? 0)
        let o = (0..<values[0].count).map { t in zip(p, values).reduce(0) { $0 + $1.0 * $1.1[t] } / l }
        return (o, m + Foundation.log(l))
    }

    /// With identical keys every score is the same, so ALiBi's bias alone sets the weights:
    /// key c of row r gets weight ∝ exp(−slope·|r + Nk − Nq − c|) (bottom-right, no mask) or
    /// |r − c| (top-left causal), per head with its own slope.
    @Test(arguments: [AttentionMask.none, .causal(.topLeft), .causal(.bottomRight)])
    func alibiWithIdenticalKeysWeighsByDistance(mask: AttentionMask) throws {
        let shape = AttentionShape(heads: 2, kvHeads: 1, nq: 5, nk: 7, d: 4)
        let q = randomArray(shape.qCount, seed: 3, in: -1...1)
        let k = Array(repeating: [0.3, -0.2, 0.5, 0.1], count: 7).flatMap { $0 }
        let v = randomArray(shape.vCount, seed: 4, in: -1...1)
        let mods = ScoreModification(alibiSlopes: [0.5, 0.125])
        let out = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, modification: mods)
        let ext = try ExtendedAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, modification: mods)
        let offset = mask == .causal(.topLeft) ? 0 : 2
        for h in 0..<2 {
            for r in 0..<5 {
                let keys = mask == .none ? 0..<7 : 0..<(r + offset + 1)
                // The common score scale·q·k cancels in the weights; the LSE carries it.
                let base = zip(q[(h * 5 + r) * 4..<(h * 5 + r + 1) * 4], k[0..<4]).reduce(0) { $0 + $1.0 * $1.1 } / 2
                let logits = keys.map { base - mods.alibiSlopes![h] * Double(abs(r + offset - $0)) }
                let want = Self.expected(logits, keys.map { Array(v[$0 * 4..<($0 + 1) * 4]) })
                for t in 0..<4 {
                    #expect(abs(out.o[(h * 5 + r) * 4 + t] - want.o[t]) < 1e-14, "head \(h) row \(r)")
                    #expect(abs(ext.o[(h * 5 + r) * 4 + t] - want.o[t]) < 1e-15)
                }
                #expect(abs(out.lse[h * 5 + r] - want.lse) < 1e-14 && abs(ext.lse[h * 5 + r] - want.lse) < 1e-15)
            }
        }
    }

    /// A sink logit of −∞ is no sink; a finite one shrinks O by the sink's share of the
    /// denominator and raises the LSE to log(Σ e^s + e^sink); a row that sees no key returns
    /// O = 0 and LSE = the sink.
    @Test func sinkLogitsAddToTheDenominatorOnly() throws {
        let shape = AttentionShape(heads: 2, nq: 6, nk: 6, d: 8)
        let (q, k, v) = AttentionInputs(shape, seed: 11).qkv
        let mask = AttentionMask.slidingWindow(left: 2, right: 0, alignment: .topLeft)
        let plain = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask)
        let none = try ReferenceAttention.forward(
            q: q, k: k, v: v, shape: shape, mask: mask, modification: ScoreModification(sinkLogits: [-.infinity, -.infinity]))
        #expect(none.o == plain.o && none.lse == plain.lse)
        let sinks = [0.7, -1.5]
        let with = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, modification: ScoreModification(sinkLogits: sinks))
        for h in 0..<2 {
            for r in 0..<6 {
                let i = h * 6 + r, lse = plain.lse[i], sink = sinks[h]
                let share = Foundation.exp(lse) / (Foundation.exp(lse) + Foundation.exp(sink))
                #expect(abs(with.lse[i] - Foundation.log(Foundation.exp(lse) + Foundation.exp(sink))) < 1e-14)
                for t in 0..<8 { #expect(abs(with.o[i * 8 + t] - plain.o[i * 8 + t] * share) < 1e-15) }
            }
        }
        // Nothing visible (a block mask with one empty block): O = 0, LSE = the sink.
        let empty = AttentionMask.blockSparse(
            BlockMask(blockQ: 6, blockK: 6, rows: 1, cols: 1, batch: 1, heads: 1, queryHeads: 2, values: [0], inner: .none))
        let hidden = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: empty, modification: ScoreModification(sinkLogits: sinks))
        #expect(hidden.o.allSatisfy { $0 == 0 } && hidden.lse == (0..<12).map { sinks[$0 / 6] })
    }

    /// A soft cap far above every score changes nothing measurable; a small one is C·tanh(s/C)
    /// exactly as written out; fp64, fp32 and the extended reference agree under the rule.
    @Test func softcapIsTanhOfTheScaledScores() throws {
        let shape = AttentionShape(nq: 4, nk: 9, d: 8)
        let (q, k, v) = AttentionInputs(shape, seed: 5, range: -3...3).qkv
        let plain = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape)
        let loose = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, modification: ScoreModification(softcap: 1e8))
        #expect(zip(loose.o, plain.o).allSatisfy { abs($0 - $1) < 1e-14 })
        let c = 0.8, mods = ScoreModification(softcap: c)
        let capped = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, modification: mods)
        for r in 0..<4 {
            let logits = (0..<9).map { j in
                c * Foundation.tanh(zip(q[r * 8..<(r + 1) * 8], k[j * 8..<(j + 1) * 8]).reduce(0) { $0 + $1.0 * $1.1 } / 8.0.squareRoot() / c)
            }
            let want = Self.expected(logits, (0..<9).map { Array(v[$0 * 8..<($0 + 1) * 8]) })
            for t in 0..<8 { #expect(abs(capped.o[r * 8 + t] - want.o[t]) < 1e-14) }
            #expect(abs(capped.lse[r] - want.lse) < 1e-14)
        }
        for precision in [Precision.fp64, .fp32, .fp16] {
            // The candidate computes on the inputs rounded to its dtype, as the check does.
            let (qr, kr, vr) = (precision.round(q), precision.round(k), precision.round(v))
            let candidate = try BaselineAttention.forward(q: qr, k: kr, v: vr, shape: shape, precision: precision, modification: mods)
            let report = try Equivalence.checkForward(candidate: candidate, q: q, k: k, v: v, shape: shape, precision: precision, modification: mods)
            #expect(report.passed, "\(precision): \(report)")
            // Forgetting the cap is caught.
            let uncapped = try BaselineAttention.forward(q: qr, k: kr, v: vr, shape: shape, precision: precision)
            #expect(
                !(try Equivalence.checkForward(candidate: uncapped, q: q, k: k, v: v, shape: shape, precision: precision, modification: mods)).passed)
        }
    }

    /// The gradients under all three modifications are the derivatives of Σ dO ∘ O: central
    /// differences of the fp64 forward agree with the reference and the extended-precision
    /// gradients; the backward check passes the baseline and fails gradients computed without the cap.
    @Test(arguments: [AttentionMask.none, .causal(.bottomRight)])
    func gradientsAreTheDerivativesOfTheModifiedForward(mask: AttentionMask) throws {
        let shape = AttentionShape(heads: 2, kvHeads: 1, nq: 4, nk: 5, d: 3, dv: 2)
        let (q, k, v) = AttentionInputs(shape, seed: 21, range: -2...2).qkv
        let dO = randomArray(shape.oCount, seed: 22, in: -1...1)
        let mods = ScoreModification(softcap: 1.2, alibiSlopes: [0.3, 0.7], sinkLogits: [0.4, -0.2])
        func loss(_ q: [Double], _ k: [Double], _ v: [Double]) throws -> Double {
            let o = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask, modification: mods).o
            return zip(o, dO).reduce(0) { $0 + $1.0 * $1.1 }
        }
        let g = try ReferenceGradients.backward(q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, modification: mods)
        let wide = try ExtendedGradients.backward(q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, modification: mods)
        let h = 1e-6
        for (name, x, grad, wideGrad) in [("dQ", 0, g.dq, wide.dq), ("dK", 1, g.dk, wide.dk), ("dV", 2, g.dv, wide.dv)] {
            var inputs = [q, k, v]
            for e in 0..<inputs[x].count {
                let x0 = inputs[x][e]
                inputs[x][e] = x0 + h
                let up = try loss(inputs[0], inputs[1], inputs[2])
                inputs[x][e] = x0 - h
                let down = try loss(inputs[0], inputs[1], inputs[2])
                inputs[x][e] = x0
                let numeric = (up - down) / (2 * h)
                #expect(abs(grad[e] - numeric) < 1e-8, "\(name)[\(e)]: \(grad[e]) vs \(numeric)")
                #expect(abs(grad[e] - wideGrad[e]) < 1e-14, "\(name)[\(e)] extended")
            }
        }
        for precision in [Precision.fp32, .fp16] {
            let (qr, kr, vr, dr) = (precision.round(q), precision.round(k), precision.round(v), precision.round(dO))
            let base = try BaselineBackward.backward(q: qr, k: kr, v: vr, dO: dr, shape: shape, mask: mask, precision: precision, modification: mods)
            #expect(
                try Equivalence.checkBackward(
                    candidate: base, q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, precision: precision, modification: mods
                ).passed)
            var uncapped = mods
            uncapped.softcap = nil
            let wrong = try BaselineBackward.backward(
                q: qr, k: kr, v: vr, dO: dr, shape: shape, mask: mask, precision: precision, modification: uncapped)
            #expect(
                !(try Equivalence.checkBackward(
                    candidate: wrong, q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, precision: precision, modification: mods)).passed)
        }
    }

    @Test func standardSlopesAreTheALiBiPapersAndBadValuesAreRefused() {
        #expect(ScoreModification.standardSlopes(heads: 8) == (1...8).map { Foundation.pow(2, -Double($0)) })
        #expect(ScoreModification.standardSlopes(heads: 12) == nil)
        let shape = AttentionShape(heads: 2, nq: 2, d: 4)
        let (q, k, v) = AttentionInputs(shape, seed: 1).qkv
        for (mods, says) in [
            (ScoreModification(softcap: 0), "soft cap"), (ScoreModification(softcap: .infinity), "soft cap"),
            (ScoreModification(alibiSlopes: [1]), "1 values for 2 query heads"), (ScoreModification(sinkLogits: [0, .nan]), "sink logits"),
        ] {
            #expect(throws: AttentionError.self, "\(says)") {
                try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, modification: mods)
            }
            #expect((try? mods.validate(heads: 2)) == nil)
        }
    }
}
