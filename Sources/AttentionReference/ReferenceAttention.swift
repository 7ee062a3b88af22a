import Dispatch
import RealModule

/// Attention output: O `[batch, heads, nq, dv]` and the natural-log LSE of the scaled,
/// masked scores `[batch, heads, nq]`.
public struct AttentionResult<T: Sendable>: Sendable {
    public var o: [T]
    public var lse: [T]

    public init(o: [T], lse: [T]) {
        self.o = o
        self.lse = lse
    }
}

/// The exact CPU attention reference: O = softmax(scale·QKᵀ + mask)·V with cblas GEMMs in row
/// chunks, so memory is O(chunkRows·nk) and never nq·nk.
///
/// Chunk policy: `chunkRows` rows of Q at a time (rounded up to a whole number of `gemmRows`-row
/// GEMM blocks, at most nq), by default enough rows for an S block of about `defaultChunkBytes`.
/// Every GEMM covers one fixed block and each row's softmax depends only on that row, so the
/// output is bitwise the same for every chunk size (tested).
///
/// Numerics: a max-subtracted softmax in `T`; O is accumulated unnormalised and divided by the row
/// sum once. A fully masked row gives O = 0 and LSE = −∞. NaN in a row's scores makes that row's O
/// and LSE NaN; +∞ scores give NaN too (∞ − ∞); ±∞ or NaN in V propagate through the GEMM.
/// With `scale == 0` a GEMM with alpha 0 does not read Q or K (BLAS semantics), so scores are then
/// set as IEEE arithmetic gives 0·(q·k): NaN where the Q row or K row holds a NaN or ±∞, exactly 0
/// elsewhere. For any other scale nothing changes (the GEMMs read their inputs).
public enum ReferenceAttention {
    /// Rows of Q per GEMM call. OpenBLAS's result for an element depends on how the rows are split
    /// into calls (kernel edge cases, thread partitions), so calls always cover the same
    /// `gemmRows`-row blocks at fixed offsets, whatever the chunk size.
    public static let gemmRows = 32

    /// Target size of one S chunk, in bytes.
    public static let defaultChunkBytes = 4 << 20

    public static func defaultChunkRows(nk: Int, elementSize: Int) -> Int {
        max(1, defaultChunkBytes / max(1, nk * elementSize))
    }

    /// Computes attention in precision `T` (Double: fp64 reference; Float: fp32 reference).
    public static func forward<T: BLASScalar>(
        q: [T], k: [T], v: [T], shape: AttentionShape, mask: AttentionMask = .none,
        scale: T? = nil, chunkRows: Int? = nil, modification: ScoreModification = .none
    ) throws(AttentionError) -> AttentionResult<T> {
        try forward(
            q: q, k: k, v: v, shape: shape, mask: mask, scale: scale, chunkRows: chunkRows,
            roundP: nil, roundO: nil, modification: modification)
    }

    /// The shared implementation, specialised for both BLAS types so the inner loops are not run
    /// through generic witness tables; `roundP` and `roundO` let the low-precision baseline round the
    /// unnormalised probabilities before the PV GEMM and the output at the end, as a kernel would.
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    static func forward<T: BLASScalar>(
        q: [T], k: [T], v: [T], shape: AttentionShape, mask: AttentionMask, scale: T?,
        chunkRows: Int?, roundP: (@Sendable (T) -> T)?, roundO: (@Sendable (T) -> T)?,
        modification: ScoreModification = .none
    ) throws(AttentionError) -> AttentionResult<T> {
        try shape.validate(qCount: q.count, kCount: k.count, vCount: v.count, mask: mask)
        try modification.validate(heads: shape.heads)
        let mods = modification.isNone ? nil : (modification, modification.rowOffset(mask, nq: shape.nq, nk: shape.nk))
        let scale = scale ?? 1 / T.sqrt(T(shape.d))
        let (nq, nk, d, dv) = (shape.nq, shape.nk, shape.d, shape.dv)
        let wanted = chunkRows ?? defaultChunkRows(nk: nk, elementSize: MemoryLayout<T>.size)
        let rows = min(nq, max(1, (wanted + gemmRows - 1) / gemmRows) * gemmRows)
        var o = [T](repeating: 0, count: shape.oCount)
        var lse = [T](repeating: 0, count: shape.lseCount)
        var s = [T](repeating: 0, count: rows * nk)
        var sums = [T](repeating: 0, count: rows)

        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let bh = b * shape.heads + h
                let kvh = b * shape.kvHeads + h / shape.groupSize
                // Only with scale 0: which K rows hold a NaN or ±∞ (see the type's documentation).
                let kNonFinite: [Bool] =
                    scale != 0
                    ? []
                    : (0..<nk).map { j in
                        (0..<d).contains { !k[(kvh * nk + j) * d + $0].isFinite }
                    }
                for r0 in stride(from: 0, to: nq, by: rows) {
                    let c = min(rows, nq - r0)
                    let blocks = stride(from: r0, to: r0 + c, by: gemmRows).map { $0..<min($0 + gemmRows, r0 + c) }
                    let his = blocks.map { lastColumn(mask, rows: $0, nq: nq, nk: nk) }
                    q.withUnsafeBufferPointer { qp in
                        k.withUnsafeBufferPointer { kp in
                            s.withUnsafeMutableBufferPointer { sp in
                                for (block, hi) in zip(blocks, his) where hi > 0 {
                                    T.gemm(
                                        transB: true, m: block.count, n: hi, k: d, alpha: scale,
                                        a: qp.baseAddress! + (bh * nq + block.lowerBound) * d, lda: d,
                                        b: kp.baseAddress! + kvh * nk * d, ldb: d,
                                        beta: 0, c: sp.baseAddress! + (block.lowerBound - r0) * nk, ldc: nk)
                                }
                                if scale == 0 {
                                    // alpha 0 left S exactly 0 without reading Q or K; 0·NaN and 0·∞ are NaN.
                                    for (block, hi) in zip(blocks, his) where hi > 0 {
                                        for r in block {
                                            let qrow = qp.baseAddress! + (bh * nq + r) * d
                                            let qNonFinite = (0..<d).contains { !qrow[$0].isFinite }
                                            let srow = sp.baseAddress! + (r - r0) * nk
                                            for j in 0..<hi where qNonFinite || kNonFinite[j] { srow[j] = .nan }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    s.withUnsafeMutableBufferPointer { sp in
                        sums.withUnsafeMutableBufferPointer { lp in
                            lse.withUnsafeMutableBufferPointer { lsep in
                                let sp = UnsafeMutableSendable(sp.baseAddress!), lp = UnsafeMutableSendable(lp.baseAddress!)
                                let lsep = UnsafeMutableSendable(lsep.baseAddress!)
                                let moff = mask.planeOffset(bh: bh, plane: nq * nk)
                                // Rows are independent: two workers take alternate rows.
                                DispatchQueue.concurrentPerform(iterations: min(c, 2)) { part in
                                    var i = part
                                    while i < c {
                                        let hi = his[i / gemmRows]
                                        let (m, l) = softmaxRow(
                                            sp.pointer + i * nk, row: r0 + i, hi: hi, nq: nq, nk: nk,
                                            mask: mask, maskOffset: moff, roundP: roundP,
                                            modification: mods.map { ($0.0, h, $0.1) })
                                        lp.pointer[i] = l
                                        lsep.pointer[bh * nq + r0 + i] = l == 0 ? -T.infinity : m + T.log(l)
                                        i += 2
                                    }
                                }
                            }
                        }
                    }
                    v.withUnsafeBufferPointer { vp in
                        s.withUnsafeBufferPointer { sp in
                            o.withUnsafeMutableBufferPointer { op in
                                for (block, hi) in zip(blocks, his) where hi > 0 {
                                    T.gemm(
                                        transB: false, m: block.count, n: dv, k: hi, alpha: 1,
                                        a: sp.baseAddress! + (block.lowerBound - r0) * nk, lda: nk,
                                        b: vp.baseAddress! + kvh * nk * dv, ldb: dv,
                                        beta: 0, c: op.baseAddress! + (bh * nq + block.lowerBound) * dv, ldc: dv)
                                }
                                for i in 0..<c {
                                    let l = sums[i]
                                    let row = op.baseAddress! + (bh * nq + r0 + i) * dv
                                    for j in 0..<dv {
                                        let x = l == 0 ? 0 : row[j] / l
                                        row[j] = roundO.map { $0(x) } ?? x
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return AttentionResult(o: o, lse: lse)
    }

    /// One past the last column any row of `rows` may see. Only the upper end is trimmed, so
    /// that GEMM's k-blocking, and so the bits, never depend on it.
    static func lastColumn(_ mask: AttentionMask, rows: Range<Int>, nq: Int, nk: Int) -> Int {
        switch mask {
        case .causal:
            return mask.columnRange(row: rows.upperBound - 1, nq: nq, nk: nk)!.upperBound
        case .slidingWindow, .structured:
            return rows.map { mask.keyRuns(row: $0, nq: nq, nk: nk)!.upperBound }.max()!
        case let .blockSparse(m):
            // The last non-empty block of the rows' block rows in any plane; a partial one no
            // further than the inner mask reaches.
            let inner = lastColumn(m.inner, rows: rows, nq: nq, nk: nk)
            var hi = 0
            for plane in 0..<m.planes {
                for a in rows.lowerBound / m.blockQ...(rows.upperBound - 1) / m.blockQ {
                    for b in m.nonEmpty(plane: plane, row: a).reversed() {
                        let end = min((Int(b) + 1) * m.blockK, nk)
                        let reach = m.value(plane: plane, row: a, col: Int(b)) == 2 ? end : min(end, inner)
                        if reach > Int(b) * m.blockK { hi = max(hi, reach); break }
                    }
                }
            }
            return hi
        default:
            return nk
        }
    }

    /// Turns one row of scaled scores into unnormalised probabilities in place (zero where masked,
    /// and past `hi`); returns the row max and the sum of the probabilities. A fully masked row
    /// returns a sum of 0. `modification` (with the row's query head and ALiBi offset) changes the
    /// visible scores first; a sink logit joins the max and adds its term to the sum only.
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    static func softmaxRow<T: BLASScalar>(
        _ row: UnsafeMutablePointer<T>, row r: Int, hi: Int, nq: Int, nk: Int,
        mask: AttentionMask, maskOffset: Int, roundP: (@Sendable (T) -> T)?,
        modification: (ScoreModification, head: Int, offset: Int)? = nil
    ) -> (max: T, sum: T) {
        let runs = mask.keyRuns(row: r, nq: nq, nk: nk) ?? KeyRuns(0..<nk)
        if let (mods, head, offset) = modification {
            runs.forEachRun { range in
                for j in range { row[j] = mods.apply(row[j], head: head, row: r, col: j, offset: offset) }
            }
        }
        // Apply element masks first, so that the max sees the masked scores.
        switch mask {
        case let .boolean(keep):
            for j in 0..<nk where !keep[maskOffset + r * nk + j] { row[j] = -T.infinity }
        case let .additive(bias):
            for j in 0..<nk { row[j] += T(bias[maskOffset + r * nk + j]) }
        case let .blockSparse(blocks):
            blocks.hide(row, plane: maskOffset, row: r, nq: nq, nk: nk)
        default: break
        }
        var m = -T.infinity
        var sawNaN = false
        for range in [runs.head, runs.window] {
            for j in range {
                let x = row[j]
                if x.isNaN { sawNaN = true } else if x > m { m = x }
            }
        }
        if sawNaN { m = .nan }
        let sink = modification.flatMap { $0.0.sink(head: $0.head) }.map { T($0) }
        if let sink, sink > m { m = sink }
        // Zero what no run covers, up to `hi`: before the head, between the runs, past the window.
        let end = runs.isEmpty ? 0 : runs.upperBound
        for j in 0..<(runs.isEmpty ? 0 : runs.lowerBound) { row[j] = 0 }
        if !runs.head.isEmpty { for j in runs.head.upperBound..<runs.window.lowerBound { row[j] = 0 } }
        for j in end..<max(end, hi) { row[j] = 0 }
        if m == -T.infinity {
            for range in [runs.head, runs.window] { for j in range { row[j] = 0 } }
            return (m, 0)
        }
        var l: T = sink.map { T.exp($0 - m) } ?? 0
        for range in [runs.head, runs.window] {
            for j in range {
                // The sum uses the unrounded probabilities, as FlashAttention kernels do.
                let p = T.exp(row[j] - m)
                l += p
                row[j] = roundP.map { $0(p) } ?? p
            }
        }
        return (m, l)
    }
}

/// A raw pointer handed to `concurrentPerform` workers that write disjoint rows.
struct UnsafeMutableSendable<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}
