import RealModule

/// Attention gradients in extended precision (``WideFloat``) with compensated (Neumaier) sums, by
/// straightforward loops: the yardstick that the fp64 gradients of ``ReferenceGradients`` are
/// measured against, as ``ExtendedAttention`` is for the forward. Same formulas, same mask
/// semantics (D = rowsum(dO ∘ O) from this computation's own O). O(nq·nk·(d + dv)) time; memory
/// O(nk) per row plus two compensated accumulators per element of dK and dV. Meant for small and
/// moderate problems.
public enum ExtendedGradients {
    public static func backward(
        q: [Double], k: [Double], v: [Double], dO: [Double], shape: AttentionShape, mask: AttentionMask = .none,
        scale: Double? = nil, modification: ScoreModification = .none
    ) throws(AttentionError) -> AttentionGradients<Double> {
        try shape.validate(qCount: q.count, kCount: k.count, vCount: v.count, mask: mask)
        try modification.validate(heads: shape.heads)
        let offset = modification.rowOffset(mask, nq: shape.nq, nk: shape.nk)
        var capSlopes = [WideFloat](repeating: 1, count: modification.softcap == nil ? 0 : shape.nk)
        if dO.count != shape.oCount { throw .bufferSize(name: "dO", expected: shape.oCount, actual: dO.count) }
        let (nq, nk, d, dv) = (shape.nq, shape.nk, shape.d, shape.dv)
        let scale = WideFloat(scale ?? 1 / Double.sqrt(Double(d)))
        var dq = [Double](repeating: 0, count: shape.qCount)
        var dk = [CompensatedSum<WideFloat>](repeating: .init(), count: shape.kCount)
        var dvAcc = [CompensatedSum<WideFloat>](repeating: .init(), count: shape.vCount)
        var scores = [WideFloat](repeating: 0, count: nk)
        var probabilities = [WideFloat](repeating: 0, count: nk)
        var live = [Bool](repeating: false, count: nk)
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let bh = b * shape.heads + h
                let kvh = b * shape.kvHeads + h / shape.groupSize
                let moff = mask.planeOffset(bh: bh, plane: nq * nk)
                for r in 0..<nq {
                    let range = mask.keyRuns(row: r, nq: nq, nk: nk) ?? KeyRuns(0..<nk)
                    let qrow = (bh * nq + r) * d, grow = (bh * nq + r) * dv
                    var m = capSlopes.withUnsafeMutableBufferPointer { f in
                        ExtendedAttention.scoreRow(
                            q: q, qRow: qrow, k: k, kvHead: kvh, row: r, range: range, shape: shape, mask: mask, maskOffset: moff,
                            scale: scale, scores: &scores, live: &live, modification: modification.isNone ? nil : (modification, h, offset),
                            capSlopes: f.baseAddress)
                    }
                    // A fully masked row has P = 0: zero dQ, nothing added to dK and dV.
                    if m == -WideFloat.infinity { continue }
                    // A sink logit joins the max and the sum (its probability has no value row).
                    let sink = modification.sink(head: h).map { WideFloat($0) }
                    if let sink, sink > m { m = sink }
                    var l = CompensatedSum<WideFloat>()
                    if let sink { l.add(WideFloat.exp(sink - m)) }
                    for j in 0..<nk where live[j] {
                        probabilities[j] = WideFloat.exp(scores[j] - m)
                        l.add(probabilities[j])
                    }
                    for j in 0..<nk where live[j] { probabilities[j] /= l.value }
                    // D = rowsum(dO ∘ O), with this row's O.
                    var dsum = CompensatedSum<WideFloat>()
                    for t in 0..<dv {
                        var o = CompensatedSum<WideFloat>()
                        for j in 0..<nk where live[j] { o.add(probabilities[j] * WideFloat(v[(kvh * nk + j) * dv + t])) }
                        dsum.add(WideFloat(dO[grow + t]) * o.value)
                    }
                    var dqRow = [CompensatedSum<WideFloat>](repeating: .init(), count: d)
                    for j in 0..<nk where live[j] {
                        var dp = CompensatedSum<WideFloat>()
                        for t in 0..<dv { dp.add(WideFloat(dO[grow + t]) * WideFloat(v[(kvh * nk + j) * dv + t])) }
                        let ds = probabilities[j] * (dp.value - dsum.value) * (capSlopes.isEmpty ? 1 : capSlopes[j])
                        for t in 0..<d {
                            dqRow[t].add(ds * WideFloat(k[(kvh * nk + j) * d + t]))
                            dk[(kvh * nk + j) * d + t].add(scale * ds * WideFloat(q[qrow + t]))
                        }
                        for t in 0..<dv { dvAcc[(kvh * nk + j) * dv + t].add(probabilities[j] * WideFloat(dO[grow + t])) }
                    }
                    for t in 0..<d { dq[qrow + t] = Double(scale * dqRow[t].value) }
                }
            }
        }
        return AttentionGradients(dq: dq, dk: dk.map { Double($0.value) }, dv: dvAcc.map { Double($0.value) })
    }
}
