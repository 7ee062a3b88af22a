import RealModule

#if arch(x86_64) || arch(i386)
    /// The wider type used to measure fp64 errors: x87 extended precision (64-bit significand).
    public typealias WideFloat = Float80
#else
    /// Platforms without Float80 fall back to fp64 with compensated sums.
    public typealias WideFloat = Double
#endif

/// Attention in extended precision with compensated (Neumaier) sums, by straightforward loops:
/// the yardstick that fp64 results are measured against. O(nq·nk·d) time and O(nk) memory per
/// row; meant for small and moderate problems.
public enum ExtendedAttention {
    public static func forward(
        q: [Double], k: [Double], v: [Double], shape: AttentionShape, mask: AttentionMask = .none,
        scale: Double? = nil, modification: ScoreModification = .none
    ) throws(AttentionError) -> AttentionResult<Double> {
        try shape.validate(qCount: q.count, kCount: k.count, vCount: v.count, mask: mask)
        try modification.validate(heads: shape.heads)
        let offset = modification.rowOffset(mask, nq: shape.nq, nk: shape.nk)
        let (nq, nk, d, dv) = (shape.nq, shape.nk, shape.d, shape.dv)
        let scale = WideFloat(scale ?? 1 / Double.sqrt(Double(d)))
        var o = [Double](repeating: 0, count: shape.oCount)
        var lse = [Double](repeating: 0, count: shape.lseCount)
        var scores = [WideFloat](repeating: 0, count: nk)
        var live = [Bool](repeating: false, count: nk)
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let bh = b * shape.heads + h
                let kvh = b * shape.kvHeads + h / shape.groupSize
                let moff = mask.planeOffset(bh: bh, plane: nq * nk)
                for r in 0..<nq {
                    let range = mask.keyRuns(row: r, nq: nq, nk: nk) ?? KeyRuns(0..<nk)
                    var m = scoreRow(
                        q: q, qRow: (bh * nq + r) * d, k: k, kvHead: kvh, row: r, range: range, shape: shape, mask: mask,
                        maskOffset: moff, scale: scale, scores: &scores, live: &live,
                        modification: modification.isNone ? nil : (modification, h, offset))
                    let orow = (bh * nq + r) * dv
                    // A sink logit joins the max and the sum, with no value row.
                    let sink = modification.sink(head: h).map { WideFloat($0) }
                    if let sink, sink > m { m = sink }
                    if m == -WideFloat.infinity {
                        lse[bh * nq + r] = -.infinity
                        continue
                    }
                    var l = CompensatedSum<WideFloat>()
                    if let sink { l.add(WideFloat.exp(sink - m)) }
                    var acc = [CompensatedSum<WideFloat>](repeating: .init(), count: dv)
                    for j in 0..<nk where live[j] {
                        let p = WideFloat.exp(scores[j] - m)
                        l.add(p)
                        for t in 0..<dv { acc[t].add(p * WideFloat(v[(kvh * nk + j) * dv + t])) }
                    }
                    for t in 0..<dv { o[orow + t] = Double(acc[t].value / l.value) }
                    lse[bh * nq + r] = Double(m + WideFloat.log(l.value))
                }
            }
        }
        return AttentionResult(o: o, lse: lse)
    }
}

extension ExtendedAttention {
    /// Row `row` of the scores scale·q·kᵀ (+ an additive mask) in extended precision with a
    /// compensated dot product, into `scores`; `live` marks the keys the mask keeps (`range` and
    /// a boolean mask). Returns the row's maximum over live keys: NaN when a score is NaN, −∞ when
    /// no key is live. Shared by the forward and ``ExtendedGradients`` so both see the same scores.
    /// `modification` (with the row's query head and ALiBi offset) changes each live score before
    /// an additive mask is added.
    static func scoreRow(
        q: [Double], qRow: Int, k: [Double], kvHead kvh: Int, row r: Int, range: KeyRuns, shape: AttentionShape,
        mask: AttentionMask, maskOffset moff: Int, scale: WideFloat, scores: inout [WideFloat], live: inout [Bool],
        modification: (ScoreModification, head: Int, offset: Int)? = nil, capSlopes: UnsafeMutablePointer<WideFloat>? = nil
    ) -> WideFloat {
        let (nk, d) = (shape.nk, shape.d)
        var m = -WideFloat.infinity
        var sawNaN = false
        let blocks: (mask: BlockMask, inner: KeyRuns?)? =
            if case let .blockSparse(b) = mask { (b, b.inner.keyRuns(row: r, nq: shape.nq, nk: nk)) } else { nil }
        for j in 0..<nk {
            live[j] = range.contains(j)
            if case let .boolean(keep) = mask, !keep[moff + r * nk + j] { live[j] = false }
            if let blocks, live[j] {
                live[j] = blocks.mask.allows(plane: moff, row: r, col: j, nq: shape.nq, nk: nk, innerRuns: blocks.inner)
            }
            guard live[j] else { continue }
            var dot = CompensatedSum<WideFloat>()
            for t in 0..<d { dot.add(WideFloat(q[qRow + t]) * WideFloat(k[(kvh * nk + j) * d + t])) }
            var s = scale * dot.value
            if let (mods, head, offset) = modification {
                // 1 − tanh²(s/C): the soft cap's slope, for the gradients.
                if let cap = mods.softcap.map({ WideFloat($0) }), let capSlopes {
                    let t = WideFloat.tanh(s / cap)
                    capSlopes[j] = 1 - t * t
                }
                s = mods.apply(s, head: head, row: r, col: j, offset: offset)
            }
            if case let .additive(bias) = mask { s += WideFloat(bias[moff + r * nk + j]) }
            scores[j] = s
            if s.isNaN { sawNaN = true } else if s > m { m = s }
        }
        return sawNaN ? .nan : m
    }
}

/// A running sum with Neumaier compensation, built on `Augmented.sum`.
public struct CompensatedSum<T: Real & Sendable>: Sendable {
    public private(set) var head: T = 0
    public private(set) var tail: T = 0
    public init() {}

    public mutating func add(_ x: T) {
        // Augmented.sum(large:small:) needs |large| ≥ |small|; order the pair to keep it exact.
        let (s, e) =
            Swift.abs(head) >= Swift.abs(x)
            ? Augmented.sum(large: head, small: x) : Augmented.sum(large: x, small: head)
        head = s
        tail += e
    }

    public var value: T { head + tail }
}
