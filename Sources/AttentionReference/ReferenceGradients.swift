import COpenBLAS
import Dispatch
import RealModule

/// The gradients of a scalar loss with respect to the inputs of attention, laid out as the inputs:
/// dQ `[batch, heads, nq, d]`, dK `[batch, kvHeads, nk, d]`, dV `[batch, kvHeads, nk, dv]`.
/// With GQA/MQA, dK and dV of a K/V head are summed over the query heads of its group.
public struct AttentionGradients<T: Sendable>: Sendable {
    public var dq: [T]
    public var dk: [T]
    public var dv: [T]

    public init(dq: [T], dk: [T], dv: [T]) {
        self.dq = dq
        self.dk = dk
        self.dv = dv
    }
}

/// The exact CPU gradients of O = softmax(scale·QKᵀ + mask)·V given dO = ∂L/∂O:
///
///     P = softmax(scale·QKᵀ + mask)     dV = Pᵀ·dO        dP = dO·Vᵀ
///     D = rowsum(dO ∘ O)                 dS = P ∘ (dP − D)
///     dQ = scale · dS·K                  dK = scale · dSᵀ·Q
///
/// computed in precision `T` (Double: the fp64 reference; Float: the fp32 one) with cblas GEMMs in
/// row chunks, so memory is O(chunkRows·nk) (two chunk-sized blocks, S/P and dP/dS) beside the
/// inputs and outputs, never nq·nk.
///
/// **O and D.** The backward recomputes the forward for each chunk with exactly the GEMM calls and
/// softmax of ``ReferenceAttention`` — its O and LSE are bitwise those of
/// ``ReferenceAttention/forward(q:k:v:shape:mask:scale:chunkRows:)`` (tested) — and takes
/// D = rowsum(dO ∘ O) from that recomputed O. No O is passed in, so the gradients are those of the
/// exact forward, not of whatever O a caller holds. ``forwardBackward(q:k:v:dO:shape:mask:scale:chunkRows:)``
/// returns that O and LSE too, at no extra cost.
///
/// **Determinism.** Every GEMM call covers one fixed block of rows at a fixed offset, whatever the
/// chunk size (OpenBLAS's rounding of an element depends on how the rows are split into calls):
/// the forward's ``ReferenceAttention/gemmRows``-row blocks for S and O, ``blockRows``-row blocks
/// for dP, dQ, dK and dV; chunks are whole numbers of the latter. dK and dV are accumulated by one GEMM per block with beta = 1, in a
/// fixed order — batch, K/V head, the query heads of its group in order, the row blocks in order —
/// so their summation order is the same for every chunk size, and all three gradients are bitwise
/// the same for every chunk size (tested).
///
/// **Scale.** dQ and dK are computed from the unscaled dS (GEMMs with alpha 1) and multiplied by
/// `scale` afterwards, so `scale == 0` gives IEEE arithmetic's 0·x: exactly 0 for finite x, NaN
/// where x holds a NaN or ±∞ (no GEMM skips its inputs).
///
/// **Masks and special values.** Every mask of ``AttentionMask`` (the same semantics as the
/// forward). A fully masked row has P = 0, O = 0 and D = 0: its dQ row is 0 and it adds nothing
/// to dK and dV. Keys that no row sees get zero dK and dV rows. NaN or ±∞ in the inputs or in dO
/// propagate through the GEMMs to the gradients they touch (0·NaN is NaN), as in the forward.
public enum ReferenceGradients {
    /// dQ, dK and dV in precision `T` for the upstream gradient `dO` (shaped as O).
    public static func backward<T: BLASScalar>(
        q: [T], k: [T], v: [T], dO: [T], shape: AttentionShape, mask: AttentionMask = .none,
        scale: T? = nil, chunkRows: Int? = nil, modification: ScoreModification = .none
    ) throws(AttentionError) -> AttentionGradients<T> {
        try run(
            q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, scale: scale, chunkRows: chunkRows,
            keepForward: false, lowPrecision: nil, modification: modification
        ).gradients
    }

    /// The forward (O and LSE, bitwise those of ``ReferenceAttention``) and the gradients in one
    /// pass over the chunks: each S block is computed once for both.
    public static func forwardBackward<T: BLASScalar>(
        q: [T], k: [T], v: [T], dO: [T], shape: AttentionShape, mask: AttentionMask = .none,
        scale: T? = nil, chunkRows: Int? = nil, modification: ScoreModification = .none
    ) throws(AttentionError) -> (forward: AttentionResult<T>, gradients: AttentionGradients<T>) {
        let r = try run(
            q: q, k: k, v: v, dO: dO, shape: shape, mask: mask, scale: scale, chunkRows: chunkRows,
            keepForward: true, lowPrecision: nil, modification: modification)
        return (r.forward!, r.gradients)
    }

    /// How ``BaselineBackward`` departs from the exact computation: it takes the forward's stored
    /// O instead of recomputing it, and rounds as a kernel in a low-precision format does.
    struct LowPrecision<T: Sendable>: Sendable {
        /// O as the implementation's forward stored it (in its output format).
        var o: [T]
        /// Rounds a normalised probability before the dV = PᵀdO GEMM.
        var roundP: @Sendable (T) -> T
        /// Rounds one row of dS (pointer, count) before the dQ and dK GEMMs.
        var roundDS: @Sendable (UnsafeMutablePointer<T>, Int) -> Void
        /// Rounds a finished gradient to the output format.
        var roundOutput: @Sendable (T) -> T
    }

    /// The shared implementation (see the type's documentation), specialised for both BLAS types
    /// so that the inner loops are not run through generic witness tables.
    @_specialize(where T == Double)
    @_specialize(where T == Float)
    static func run<T: BLASScalar>(
        q: [T], k: [T], v: [T], dO: [T], shape: AttentionShape, mask: AttentionMask, scale: T?,
        chunkRows: Int?, keepForward: Bool, lowPrecision low: LowPrecision<T>?, modification: ScoreModification = .none
    ) throws(AttentionError) -> (forward: AttentionResult<T>?, gradients: AttentionGradients<T>) {
        try shape.validate(qCount: q.count, kCount: k.count, vCount: v.count, mask: mask)
        try modification.validate(heads: shape.heads)
        let offset = modification.rowOffset(mask, nq: shape.nq, nk: shape.nk)
        if dO.count != shape.oCount { throw .bufferSize(name: "dO", expected: shape.oCount, actual: dO.count) }
        if let low, low.o.count != shape.oCount {
            throw .bufferSize(name: "O", expected: shape.oCount, actual: low.o.count)
        }
        let scale = scale ?? 1 / T.sqrt(T(shape.d))
        let (nq, nk, d, dv) = (shape.nq, shape.nk, shape.d, shape.dv)
        let wanted = chunkRows ?? ReferenceAttention.defaultChunkRows(nk: nk, elementSize: MemoryLayout<T>.size)
        let rows = min(nq, max(1, (wanted + blockRows - 1) / blockRows) * blockRows)

        // Outputs and scratch as raw buffers, so that the loops below hold plain pointers; the
        // outputs are copied into arrays one at a time at the end.
        let dq = Buffer<T>(shape.qCount), dk = Buffer<T>(shape.kCount), dvOut = Buffer<T>(shape.vCount)
        let o = Buffer<T>(keepForward ? shape.oCount : 0), lse = Buffer<T>(keepForward ? shape.lseCount : 0)
        // S, then the unnormalised and then the normalised probabilities; dP, then dS.
        let s = Buffer<T>(rows * nk), ds = Buffer<T>(rows * nk)
        // The chunk's recomputed O when it is not kept, and the row sums.
        let oChunk = Buffer<T>(keepForward || low != nil ? 0 : rows * dv), sums = Buffer<T>(rows)
        // With a soft cap: ∂(C·tanh(s/C))/∂s = 1 − tanh²(s/C) of each score, for dS.
        let capSlopes = Buffer<T>(modification.softcap == nil ? 0 : rows * nk)

        q.withUnsafeBufferPointer { qb in
            k.withUnsafeBufferPointer { kb in
                v.withUnsafeBufferPointer { vb in
                    dO.withUnsafeBufferPointer { gb in
                        (low?.o ?? []).withUnsafeBufferPointer { storedO in
                            let (qp, kp, vp, gp) = (qb.baseAddress!, kb.baseAddress!, vb.baseAddress!, gb.baseAddress!)
                            for b in 0..<shape.batch {
                                for kvLocal in 0..<shape.kvHeads {
                                    let kvh = b * shape.kvHeads + kvLocal
                                    // The group's query heads in order: dK and dV of `kvh` sum them in this order.
                                    for h in (kvLocal * shape.groupSize)..<((kvLocal + 1) * shape.groupSize) {
                                        let bh = b * shape.heads + h
                                        for r0 in stride(from: 0, to: nq, by: rows) {
                                            let chunk = Chunk(
                                                r0: r0, c: min(rows, nq - r0), bh: bh, kvh: kvh, shape: shape, mask: mask,
                                                scale: scale, modification: modification.isNone ? nil : (modification, h, offset))
                                            chunk.scores(q: qp, k: kp, s: s.pointer)
                                            if modification.softcap != nil { chunk.capSlopes(s: s.pointer, into: capSlopes.pointer) }
                                            chunk.softmax(s: s.pointer, sums: sums.pointer, lse: keepForward ? lse.pointer : nil)
                                            // O for D: the baseline's stored O, else the recomputed one (bitwise the forward's).
                                            let oRows: UnsafePointer<T>
                                            if low != nil, let stored = storedO.baseAddress {
                                                oRows = stored + (bh * nq + r0) * dv
                                            } else {
                                                let target = keepForward ? o.pointer + (bh * nq + r0) * dv : oChunk.pointer
                                                chunk.output(p: s.pointer, sums: sums.pointer, v: vp, o: target)
                                                oRows = UnsafePointer(target)
                                            }
                                            chunk.scoreGradients(
                                                p: s.pointer, ds: ds.pointer, sums: sums.pointer, dO: gp, v: vp, o: oRows, low: low,
                                                capSlopes: modification.softcap == nil ? nil : UnsafePointer(capSlopes.pointer))
                                            chunk.inputGradients(
                                                p: s.pointer, ds: ds.pointer, q: qp, k: kp, dO: gp, dq: dq.pointer, dk: dk.pointer,
                                                dv: dvOut.pointer, roundOutput: low?.roundOutput)
                                        }
                                    }
                                    // The group is summed: scale dK once, and round both to the output format.
                                    for e in (kvh * nk * d)..<((kvh + 1) * nk * d) {
                                        let x = scale * dk.pointer[e]
                                        dk.pointer[e] = low.map { $0.roundOutput(x) } ?? x
                                    }
                                    if let low {
                                        for e in (kvh * nk * dv)..<((kvh + 1) * nk * dv) {
                                            dvOut.pointer[e] = low.roundOutput(dvOut.pointer[e])
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let gradients = AttentionGradients(dq: dq.array(), dk: dk.array(), dv: dvOut.array())
        return (keepForward ? AttentionResult(o: o.array(), lse: lse.array()) : nil, gradients)
    }

    /// Rows of Q per GEMM call of the backward's own products (dP, dQ, dK, dV): a multiple of
    /// ``ReferenceAttention/gemmRows``, at fixed offsets, and chunks hold whole blocks. Larger than
    /// the forward's blocks because dK and dV are accumulated with one GEMM per block: fewer,
    /// deeper calls run closer to the GEMM's peak and rewrite the nk-row accumulators less often.
    public static let blockRows = 4 * ReferenceAttention.gemmRows

    /// One chunk of rows `r0 ..< r0 + c` of query head `bh`: the forward's fixed `gemmRows`-row
    /// blocks for S and O, and fixed ``blockRows``-row blocks for the backward's products.
    struct Chunk<T: BLASScalar> {
        let r0: Int, c: Int, bh: Int, kvh: Int
        let shape: AttentionShape
        let mask: AttentionMask
        let scale: T
        /// Score modifications with the chunk's query head and ALiBi offset.
        let modification: (ScoreModification, head: Int, offset: Int)?
        /// The forward's GEMM blocks of the chunk, and one past the last column each may see.
        let blocks: [Range<Int>], his: [Int]
        /// The backward's GEMM blocks and their column bounds (the largest of their rows').
        let backwardBlocks: [Range<Int>], backwardHis: [Int]

        init(
            r0: Int, c: Int, bh: Int, kvh: Int, shape: AttentionShape, mask: AttentionMask, scale: T,
            modification: (ScoreModification, head: Int, offset: Int)? = nil
        ) {
            (self.r0, self.c, self.bh, self.kvh, self.shape, self.mask, self.scale) = (r0, c, bh, kvh, shape, mask, scale)
            self.modification = modification
            let gemmRows = ReferenceAttention.gemmRows
            blocks = stride(from: r0, to: r0 + c, by: gemmRows).map { $0..<min($0 + gemmRows, r0 + c) }
            his = blocks.map { ReferenceAttention.lastColumn(mask, rows: $0, nq: shape.nq, nk: shape.nk) }
            backwardBlocks = stride(from: r0, to: r0 + c, by: blockRows).map { $0..<min($0 + blockRows, r0 + c) }
            backwardHis = backwardBlocks.map { ReferenceAttention.lastColumn(mask, rows: $0, nq: shape.nq, nk: shape.nk) }
        }

        /// Column bound of local row `i` in the forward's blocks (S and P hold columns below it).
        func hi(_ i: Int) -> Int { his[i / ReferenceAttention.gemmRows] }

        /// Column bound of local row `i` in the backward's blocks (at least ``hi(_:)``).
        func backwardHi(_ i: Int) -> Int { backwardHis[i / blockRows] }

        /// S = scale·QKᵀ, block by block exactly as ``ReferenceAttention`` computes it.
        func scores(q: UnsafePointer<T>, k: UnsafePointer<T>, s: UnsafeMutablePointer<T>) {
            let (nq, nk, d) = (shape.nq, shape.nk, shape.d)
            for (block, hi) in zip(blocks, his) where hi > 0 {
                T.gemm(
                    transB: true, m: block.count, n: hi, k: d, alpha: scale,
                    a: q + (bh * nq + block.lowerBound) * d, lda: d, b: k + kvh * nk * d, ldb: d,
                    beta: 0, c: s + (block.lowerBound - r0) * nk, ldc: nk)
            }
            guard scale == 0 else { return }
            // alpha 0 left S exactly 0 without reading Q or K; 0·NaN and 0·∞ are NaN (as the forward).
            let kNonFinite = (0..<nk).map { j in (0..<d).contains { !k[(kvh * nk + j) * d + $0].isFinite } }
            for (block, hi) in zip(blocks, his) where hi > 0 {
                for r in block {
                    let qrow = q + (bh * nq + r) * d
                    let qNonFinite = (0..<d).contains { !qrow[$0].isFinite }
                    let srow = s + (r - r0) * nk
                    for j in 0..<hi where qNonFinite || kNonFinite[j] { srow[j] = .nan }
                }
            }
        }

        /// 1 − tanh²(s/C) of each computed score (before the softmax overwrites them).
        func capSlopes(s: UnsafeMutablePointer<T>, into f: UnsafeMutablePointer<T>) {
            guard let cap = modification?.0.softcap.map({ T($0) }) else { return }
            for i in 0..<c {
                for j in 0..<hi(i) {
                    let t = T.tanh(s[i * shape.nk + j] / cap)
                    f[i * shape.nk + j] = 1 - t * t
                }
            }
        }

        /// Each row's softmax in place (unnormalised probabilities), its sum, and its LSE when asked.
        func softmax(s: UnsafeMutablePointer<T>, sums: UnsafeMutablePointer<T>, lse: UnsafeMutablePointer<T>?) {
            let (nq, nk) = (shape.nq, shape.nk)
            let sp = UnsafeMutableSendable(s), lp = UnsafeMutableSendable(sums)
            let ep = lse.map { UnsafeMutableSendable($0 + bh * nq + r0) }
            let moff = mask.planeOffset(bh: bh, plane: nq * nk)
            // Rows are independent: two workers take alternate rows.
            DispatchQueue.concurrentPerform(iterations: min(c, 2)) { part in
                for i in stride(from: part, to: c, by: 2) {
                    let (m, l) = ReferenceAttention.softmaxRow(
                        sp.pointer + i * nk, row: r0 + i, hi: hi(i), nq: nq, nk: nk, mask: mask, maskOffset: moff,
                        roundP: nil, modification: modification)
                    lp.pointer[i] = l
                    ep?.pointer[i] = l == 0 ? -T.infinity : m + T.log(l)
                }
            }
        }

        /// O = PV / rowsum into `o` (the chunk's rows), exactly as the forward computes it.
        func output(p: UnsafePointer<T>, sums: UnsafePointer<T>, v: UnsafePointer<T>, o: UnsafeMutablePointer<T>) {
            let (nk, dv) = (shape.nk, shape.dv)
            for (block, hi) in zip(blocks, his) where hi > 0 {
                T.gemm(
                    transB: false, m: block.count, n: dv, k: hi, alpha: 1, a: p + (block.lowerBound - r0) * nk, lda: nk,
                    b: v + kvh * nk * dv, ldb: dv, beta: 0, c: o + (block.lowerBound - r0) * dv, ldc: dv)
            }
            for i in 0..<c {
                let l = sums[i]
                let row = o + i * dv
                for j in 0..<dv { row[j] = l == 0 ? 0 : row[j] / l }
            }
        }

        /// dP = dO·Vᵀ into `ds`; then, row by row, D = rowsum(dO ∘ O), P = p / rowsum in place and
        /// dS = P ∘ (dP − D) in place of dP, and the baseline's roundings of dS and P.
        func scoreGradients(
            p: UnsafeMutablePointer<T>, ds: UnsafeMutablePointer<T>, sums: UnsafePointer<T>, dO: UnsafePointer<T>,
            v: UnsafePointer<T>, o: UnsafePointer<T>, low: LowPrecision<T>?, capSlopes: UnsafePointer<T>? = nil
        ) {
            let (nq, nk, dv) = (shape.nq, shape.nk, shape.dv)
            for (block, hi) in zip(backwardBlocks, backwardHis) where hi > 0 {
                T.gemm(
                    transB: true, m: block.count, n: hi, k: dv, alpha: 1, a: dO + (bh * nq + block.lowerBound) * dv, lda: dv,
                    b: v + kvh * nk * dv, ldb: dv, beta: 0, c: ds + (block.lowerBound - r0) * nk, ldc: nk)
            }
            let sp = UnsafeMutableSendable(p), dsp = UnsafeMutableSendable(ds)
            let lp = UnsafeSendable(sums), gp = UnsafeSendable(dO + (bh * nq + r0) * dv), op = UnsafeSendable(o)
            let fp = capSlopes.map { UnsafeSendable($0) }
            DispatchQueue.concurrentPerform(iterations: min(c, 2)) { part in
                for i in stride(from: part, to: c, by: 2) {
                    let hi = hi(i), wide = backwardHi(i), l = lp.pointer[i]
                    let prow = sp.pointer + i * nk, grow = dsp.pointer + i * nk
                    // Columns the row's forward block did not compute but its backward block reads.
                    for j in hi..<Swift.max(hi, wide) {
                        prow[j] = 0
                        grow[j] = 0
                    }
                    guard l != 0 else {
                        // Fully masked: P is already 0 and so is dS, whatever dP holds.
                        for j in 0..<hi { grow[j] = 0 }
                        continue
                    }
                    var dsum: T = 0
                    for t in 0..<dv { dsum += gp.pointer[i * dv + t] * op.pointer[i * dv + t] }
                    for j in 0..<hi {
                        let pj = prow[j] / l
                        prow[j] = pj
                        grow[j] = pj * (grow[j] - dsum)
                    }
                    // A soft cap: the chain rule through C·tanh(s/C).
                    if let fp { for j in 0..<hi { grow[j] *= fp.pointer[i * nk + j] } }
                    if let low {
                        low.roundDS(grow, hi)
                        for j in 0..<hi { prow[j] = low.roundP(prow[j]) }
                    }
                }
            }
        }

        /// dQ = scale · dS·K for the chunk's rows; dV += Pᵀ·dO and dK += dSᵀ·Q, one GEMM per block
        /// in block order (dK is scaled once its group is summed).
        func inputGradients(
            p: UnsafePointer<T>, ds: UnsafePointer<T>, q: UnsafePointer<T>, k: UnsafePointer<T>, dO: UnsafePointer<T>,
            dq: UnsafeMutablePointer<T>, dk: UnsafeMutablePointer<T>, dv: UnsafeMutablePointer<T>,
            roundOutput: (@Sendable (T) -> T)?
        ) {
            let (nq, nk, d, dvn) = (shape.nq, shape.nk, shape.d, shape.dv)
            for (block, hi) in zip(backwardBlocks, backwardHis) {
                let local = block.lowerBound - r0
                let dqRows = dq + (bh * nq + block.lowerBound) * d
                // A block that sees no key keeps dQ = 0 (its buffer starts zeroed) and adds nothing.
                guard hi > 0 else { continue }
                T.gemm(
                    transB: false, m: block.count, n: d, k: hi, alpha: 1, a: ds + local * nk, lda: nk,
                    b: k + kvh * nk * d, ldb: d, beta: 0, c: dqRows, ldc: d)
                for e in 0..<(block.count * d) {
                    let x = scale * dqRows[e]
                    dqRows[e] = roundOutput.map { $0(x) } ?? x
                }
                gemmAccumulateTransposedA(
                    m: hi, n: dvn, k: block.count, a: p + local * nk, lda: nk, b: dO + (bh * nq + block.lowerBound) * dvn,
                    ldb: dvn, c: dv + kvh * nk * dvn, ldc: dvn)
                gemmAccumulateTransposedA(
                    m: hi, n: d, k: block.count, a: ds + local * nk, lda: nk, b: q + (bh * nq + block.lowerBound) * d,
                    ldb: d, c: dk + kvh * nk * d, ldc: d)
            }
        }
    }

    /// Row-major `C[m×n] += A[k×m]ᵀ · B[k×n]`: cblas with A transposed for Double and Float, and
    /// for any other ``BLASScalar`` an explicit transpose of A followed by its `gemm`.
    static func gemmAccumulateTransposedA<T: BLASScalar>(
        m: Int, n: Int, k: Int, a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
        c: UnsafeMutablePointer<T>, ldc: Int
    ) {
        if T.self == Double.self {
            cblas_dgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1,
                UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), blasint(lda),
                UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), blasint(ldb), 1,
                UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), blasint(ldc))
        } else if T.self == Float.self {
            cblas_sgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k), 1,
                UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), blasint(lda),
                UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), blasint(ldb), 1,
                UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), blasint(ldc))
        } else {
            var at = [T](repeating: 0, count: m * k)
            for r in 0..<k { for col in 0..<m { at[col * k + r] = a[r * lda + col] } }
            at.withUnsafeBufferPointer { ap in
                T.gemm(transB: false, m: m, n: n, k: k, alpha: 1, a: ap.baseAddress!, lda: k, b: b, ldb: ldb, beta: 1, c: c, ldc: ldc)
            }
        }
    }
}

/// A zero-filled buffer whose pointer ``ReferenceGradients`` uses directly; freed with the object,
/// so each output's buffer goes as soon as it has been copied into its array.
final class Buffer<T: BLASScalar> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int
    init(_ count: Int) {
        self.count = count
        pointer = .allocate(capacity: Swift.max(count, 1))
        pointer.initialize(repeating: 0, count: Swift.max(count, 1))
    }
    func array() -> [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
    deinit { pointer.deallocate() }
}

/// A read-only raw pointer handed to `concurrentPerform` workers.
struct UnsafeSendable<T>: @unchecked Sendable {
    let pointer: UnsafePointer<T>
    init(_ pointer: UnsafePointer<T>) { self.pointer = pointer }
}
