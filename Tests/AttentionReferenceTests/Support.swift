import AttentionReference
import RealModule
import TestSupport

/// Textbook attention by triple loops: full score matrix, two-pass softmax, normalised P times V.
func naiveAttention(_ x: AttentionInputs, _ s: AttentionShape, mask: AttentionMask = .none, scale: Double? = nil)
    -> AttentionResult<Double>
{
    let scale = scale ?? 1 / Double.sqrt(Double(s.d))
    var o = [Double](repeating: 0, count: s.oCount), lse = [Double](repeating: 0, count: s.lseCount)
    for b in 0..<s.batch {
        for h in 0..<s.heads {
            let bh = b * s.heads + h, kvh = b * s.kvHeads + h / (s.heads / s.kvHeads)
            for r in 0..<s.nq {
                let scores = naiveScores(x, s, mask: mask, scale: scale, bh: bh, kvh: kvh, r: r)
                let m = scores.max()!
                if m == -.infinity { lse[bh * s.nq + r] = -.infinity; continue }
                let p = scores.map { Double.exp($0 - m) }
                let l = p.reduce(0, +)
                lse[bh * s.nq + r] = m + Double.log(l)
                for t in 0..<s.dv {
                    var acc = 0.0
                    for c in 0..<s.nk { acc += p[c] / l * x.v[(kvh * s.nk + c) * s.dv + t] }
                    o[(bh * s.nq + r) * s.dv + t] = acc
                }
            }
        }
    }
    return AttentionResult(o: o, lse: lse)
}

/// Row r of head bh's scores, scale·q·k (+ an additive mask), −∞ where the mask hides a key.
func naiveScores(_ x: AttentionInputs, _ s: AttentionShape, mask: AttentionMask, scale: Double, bh: Int, kvh: Int, r: Int) -> [Double] {
    var scores = [Double](repeating: -.infinity, count: s.nk)
    for c in 0..<s.nk where allowed(mask, bh: bh, r: r, c: c, s) {
        var dot = 0.0
        for t in 0..<s.d { dot += x.q[(bh * s.nq + r) * s.d + t] * x.k[(kvh * s.nk + c) * s.d + t] }
        scores[c] = scale * dot + bias(mask, bh: bh, r: r, c: c, s)
    }
    return scores
}

/// The mask semantics written out independently of the library, element by element.
func allowed(_ mask: AttentionMask, bh: Int, r: Int, c: Int, _ s: AttentionShape) -> Bool {
    switch mask {
    case .none, .additive: return true
    case let .causal(a): return c <= r + (a == .topLeft ? 0 : s.nk - s.nq)
    case let .slidingWindow(left, right, a):
        let rr = r + (a == .topLeft ? 0 : s.nk - s.nq)
        return c >= rr - left && c <= rr + right
    case let .boolean(keep):
        let plane = s.nq * s.nk
        return keep[(keep.count == plane ? 0 : bh * plane) + r * s.nk + c]
    case let .blockSparse(m):
        let (b, h) = (bh / s.heads, bh % s.heads)
        let plane = (m.batch == 1 ? 0 : b) * m.heads + (m.heads == 1 ? 0 : h)
        let v = m.values[(plane * m.rows + r / m.blockQ) * m.cols + c / m.blockK]
        return v == 2 || (v == 1 && allowed(m.inner, bh: 0, r: r, c: c, s))
    case let .structured(m):
        // Find the row's document by walking the lengths; the key must lie in it.
        var (start, length) = (0, s.nq)
        for n in m.documents {
            if r < start + n { length = n; break }
            start += n
        }
        if !m.documents.isEmpty && (c < start || c >= start + length) { return false }
        let local = m.documents.isEmpty ? s : AttentionShape(batch: 1, heads: 1, kvHeads: 1, nq: length, nk: length, d: s.d)
        let (lr, lc) = m.documents.isEmpty ? (r, c) : (r - start, c - start)
        var pos = lr
        if case let .causal(a) = m.base, a == .bottomRight { pos += local.nk - local.nq }
        if case let .slidingWindow(_, _, a) = m.base, a == .bottomRight { pos += local.nk - local.nq }
        if lc < m.prefix { return true }
        if lc < m.sinkTokens && lc <= pos { return true }
        return allowed(m.base, bh: bh, r: lr, c: lc, local)
    }
}

func bias(_ mask: AttentionMask, bh: Int, r: Int, c: Int, _ s: AttentionShape) -> Double {
    guard case let .additive(a) = mask else { return 0 }
    let plane = s.nq * s.nk
    return a[(a.count == plane ? 0 : bh * plane) + r * s.nk + c]
}

func maxAbsDiff(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var m = 0.0
    for i in a.indices {
        if a[i] == b[i] { continue }  // equal infinities
        m = max(m, abs(a[i] - b[i]))
        if a[i].isNaN != b[i].isNaN { return .infinity }
    }
    return m
}
