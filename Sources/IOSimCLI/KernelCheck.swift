import AttentionReference
import Foundation
import IOSim
import NpyIO

/// The work of `iosim check`, separate from the command line so that tests can run it with
/// any block size.
struct KernelCheck {
    struct Files {
        var q: NpyFile, k: NpyFile, v: NpyFile, o: NpyFile
        var lse: NpyFile? = nil
        /// The backward's upstream gradient and the kernel's gradients (any of the three).
        var dO: NpyFile? = nil
        var dq: NpyFile? = nil
        var dk: NpyFile? = nil
        var dv: NpyFile? = nil
    }

    /// Where an element sits: batch, head, row and (for O) column.
    struct Location: Equatable {
        var batch: Int, head: Int, row: Int
        var column: Int?

        var text: String { "(" + ([batch, head, row] + (column.map { [$0] } ?? [])).map(String.init).joined(separator: ", ") + ")" }
        var json: JSON {
            .object(
                [("batch", .int(batch)), ("head", .int(head)), ("row", .int(row))] + (column.map { [("column", JSON.int($0))] } ?? []))
        }
    }

    /// One tensor's verdict under the tolerance rule, gathered over every block.
    struct TensorResult: Equatable {
        var name: String
        var fileDType: NpyArray.DType
        var maxAbsError = 0.0
        var location: Location
        var baselineError = 0.0
        var rtol: Double
        var atol = 0.0
        /// Elements NaN or infinite in the output where the reference is finite.
        var nonFiniteOutputs = 0
        /// Elements where the reference is NaN or +∞, and where the first is.
        var unvouchedReferences = 0
        var firstUnvouched: Location?
        var allowed: Double { rtol * baselineError + atol }
        /// Why the tensor fails (``Comparison/verdict(maxAbsError:allowed:baselineError:nonFiniteCandidates:unvouchedReferences:)``), nil when it passes.
        var failure: String? {
            let why = Comparison.verdict(
                maxAbsError: maxAbsError, allowed: allowed, baselineError: baselineError, nonFiniteCandidates: nonFiniteOutputs,
                unvouchedReferences: unvouchedReferences)
            guard let why, unvouchedReferences > 0, let at = firstUnvouched else { return why }
            return why + ", the first at \(at.text)"
        }
        var passed: Bool { failure == nil }

        /// Folds in one block's comparison. Blocks come in C order (batch, head, row), and within
        /// a block ``Equivalence/compare(candidate:reference:baseline:format:rtol:)`` keeps the
        /// first worst element, so the worst location is the same as one whole-array comparison's.
        /// atol is two ulps at the largest |ref|; the ulp grows with the magnitude, so the largest
        /// block atol is the whole array's.
        mutating func fold(_ c: Comparison, at location: (Int) -> Location) {
            if Equivalence.worse(c.maxAbsError, than: maxAbsError) {
                maxAbsError = c.maxAbsError
                self.location = location(c.worstIndex)
            }
            baselineError = max(baselineError, c.baselineError)
            atol = max(atol, c.atol)
            nonFiniteOutputs += c.nonFiniteCandidates
            if let first = c.firstUnvouchedReference, firstUnvouched == nil { firstUnvouched = location(first) }
            unvouchedReferences += c.unvouchedReferences
        }
    }

    let files: Files
    let dtype: DType
    let mask: AttentionMask
    let scale: Double?
    let shape: AttentionShape
    /// A multiple of ``ReferenceAttention/gemmRows``, so that each block's GEMMs cover the same
    /// rows as one whole-head call's and the numbers are bitwise those of an unblocked check.
    let blockRows: Int

    /// Opens a file with the first raw format it takes (`--bf16-bits` and `--fp8-bits` may both be given).
    static func open(_ path: String, raws: [Npy.RawFormat]) throws(CheckInputError) -> NpyFile {
        do { return try RawBitsOptions.first(raws) { (raw) throws(NpyError) in try NpyFile(path: path, raw: raw) } } catch {
            throw CheckInputError(error.description)
        }
    }

    init(files: Files, dtype: DType, mask: AttentionMask, scale: Double?, blockRows: Int) throws(CheckInputError) {
        self.files = files
        self.dtype = dtype
        self.mask = mask
        self.scale = scale
        self.shape = try Self.shape(files)
        let g = ReferenceAttention.gemmRows
        self.blockRows = min((blockRows + g - 1) / g * g, (shape.nq + g - 1) / g * g)
        let out = Self.npyType(BaselineAttention.outputPrecision(for: dtype.precision))
        let written: [(String, NpyFile?, NpyArray.DType)] = [
            ("O", files.o, out), ("LSE", files.lse, dtype == .fp64 ? .float64 : .float32), ("dQ", files.dq, out), ("dK", files.dk, out),
            ("dV", files.dv, out),
        ]
        for (name, file, needed) in written {
            guard let file, !file.dtype.holdsAllValues(of: needed) else { continue }
            throw CheckInputError(
                "\(file.path) holds \(file.dtype.rawValue), narrower than the \(needed.rawValue) \(name) a \(dtype.rawValue) kernel writes; "
                    + "save it as the kernel wrote it (or pass the --dtype the kernel ran in)")
        }
    }

    /// The `.npy` element type of a precision.
    static func npyType(_ p: Precision) -> NpyArray.DType {
        switch p {
        case .fp64: .float64
        case .fp32: .float32
        case .fp16: .float16
        case .bf16: .bfloat16
        case .fp8e4m3: .float8e4m3fn
        case .fp8e5m2: .float8e5m2
        }
    }

    /// The attention shape from the four (or five) files, or the first inconsistency in one line.
    static func shape(_ f: Files) throws(CheckInputError) -> AttentionShape {
        let named = [("q", f.q), ("k", f.k), ("v", f.v), ("o", f.o)]
        for (name, a) in named {
            guard (2...4).contains(a.shape.count) else {
                throw CheckInputError("\(name) (\(a.path)) has shape \(a.shape); expected [N, d], [heads, N, d] or [batch, heads, N, d]")
            }
            guard !a.shape.contains(0) else { throw CheckInputError("\(name) (\(a.path)) is empty (shape \(a.shape))") }
        }
        let rank = f.q.shape.count
        guard named.allSatisfy({ $0.1.shape.count == rank }) else {
            throw CheckInputError(
                "q, k, v and o must have the same number of dimensions; got " + named.map { "\($0.0) \($0.1.shape)" }.joined(separator: ", "))
        }
        func dims(_ a: NpyFile) -> (b: Int, h: Int, n: Int, w: Int) {
            let s = a.shape
            return (rank == 4 ? s[0] : 1, rank >= 3 ? s[rank - 3] : 1, s[rank - 2], s[rank - 1])
        }
        let (q, k, v, o) = (dims(f.q), dims(f.k), dims(f.v), dims(f.o))
        guard k.w == q.w else { throw CheckInputError("q has d = \(q.w) but k has d = \(k.w)") }
        guard v.n == k.n else { throw CheckInputError("k has \(k.n) rows (Nk) but v has \(v.n)") }
        guard k.b == q.b, v.b == q.b, o.b == q.b else {
            throw CheckInputError("batch sizes differ: q \(q.b), k \(k.b), v \(v.b), o \(o.b)")
        }
        guard v.h == k.h else { throw CheckInputError("k has \(k.h) heads but v has \(v.h)") }
        guard q.h % k.h == 0 else { throw CheckInputError("q's heads (\(q.h)) must be a multiple of k's and v's (\(k.h))") }
        guard o.h == q.h, o.n == q.n, o.w == v.w else {
            throw CheckInputError("o has shape \(f.o.shape) but q and v make it \(Array(f.q.shape.dropLast()) + [v.w])")
        }
        if let lse = f.lse {
            let expected = Array(f.q.shape.dropLast())
            guard lse.shape == expected else { throw CheckInputError("lse has shape \(lse.shape); q makes it \(expected)") }
        }
        for (name, file, like, likeName) in [("do", f.dO, f.o, "o"), ("dq", f.dq, f.q, "q"), ("dk", f.dk, f.k, "k"), ("dv", f.dv, f.v, "v")] {
            guard let file, file.shape != like.shape else { continue }
            throw CheckInputError("\(name) has shape \(file.shape) but \(likeName) has \(like.shape)")
        }
        return AttentionShape(batch: q.b, heads: q.h, kvHeads: k.h, nq: q.n, nk: k.n, d: q.w, dv: v.w)
    }

    /// About the most memory the check holds at once (see the command's discussion).
    var memoryBound: Int {
        let (nk, d, dv) = (shape.nk, shape.d, shape.dv)
        let scoreBlock = max(ReferenceAttention.defaultChunkBytes, ReferenceAttention.gemmRows * nk * 8)
        let forward = 20 * nk * (d + dv) + 8 * blockRows * (3 * d + 6 * dv + 8) + 2 * scoreBlock
        guard files.dO != nil else { return forward }
        // The gradient check holds one KV group whole (see ``gradients()``), three times over:
        // the files' values, the reference's and the baseline's.
        let group = 8 * (shape.groupSize * shape.nq + nk) * (2 * d + 2 * dv)
        return max(forward, 3 * group + 2 * scoreBlock)
    }

    /// The mask of rows `r0 ..< r0 + c` as a problem of its own (c query rows, all Nk keys) that
    /// gives every row the columns it has in the whole problem. A causal mask or window shifted by
    /// the block's first row is a window of the block when its sides stay non-negative; otherwise
    /// (rows at the start that see nothing, windows in the middle of long sequences) the block
    /// gets the equivalent boolean mask, c·Nk bytes.
    func blockMask(r0: Int, c: Int) -> AttentionMask {
        let (nq, nk) = (shape.nq, shape.nk)
        if r0 == 0 && c == nq { return mask }
        func same(_ m: AttentionMask) -> Bool {
            (0..<c).allSatisfy { i in m.columnRange(row: i, nq: c, nk: nk) == mask.columnRange(row: r0 + i, nq: nq, nk: nk) }
        }
        var candidates: [AttentionMask] = []
        switch mask {
        case .none: return .none
        case let .causal(a):
            let s = r0 + (a == .topLeft ? 0 : nk - nq)
            if s >= 0 { candidates.append(.slidingWindow(left: nk + c, right: s, alignment: .topLeft)) }
        case let .slidingWindow(left, right, a):
            let s = r0 + (a == .topLeft ? 0 : nk - nq)
            for (offset, alignment) in [(0, CausalAlignment.topLeft), (nk - c, .bottomRight)] {
                let (l, r) = (left - s + offset, right + s - offset)
                if l >= 0 && r >= 0 { candidates.append(.slidingWindow(left: l, right: r, alignment: alignment)) }
            }
        default: break
        }
        if let m = candidates.first(where: same) { return m }
        var keep = [Bool](repeating: false, count: c * nk)
        for i in 0..<c {
            if let range = mask.columnRange(row: r0 + i, nq: nq, nk: nk) { for j in range { keep[i * nk + j] = true } }
        }
        return .boolean(keep)
    }

    /// Reads, recomputes and compares block by block.
    func run() throws(CheckInputError) -> Report {
        let precision = dtype.precision
        let outFormat = BaselineAttention.outputPrecision(for: precision)
        let lseFormat: Precision = precision == .fp64 ? .fp64 : .fp32
        let (nq, nk, d, dv) = (shape.nq, shape.nk, shape.d, shape.dv)
        let origin = Location(batch: 0, head: 0, row: 0, column: 0)
        var o = TensorResult(name: "O", fileDType: files.o.dtype, location: origin, rtol: Equivalence.forwardRtol)
        var lse = files.lse.map {
            TensorResult(name: "LSE", fileDType: $0.dtype, location: Location(batch: 0, head: 0, row: 0), rtol: Equivalence.forwardRtol)
        }
        do {
            for b in 0..<shape.batch {
                for kvh in 0..<shape.kvHeads {
                    let kv = b * shape.kvHeads + kvh
                    let kBlock = precision.round(try files.k.read(kv * nk * d..<(kv + 1) * nk * d))
                    let vBlock = precision.round(try files.v.read(kv * nk * dv..<(kv + 1) * nk * dv))
                    for h in kvh * shape.groupSize..<(kvh + 1) * shape.groupSize {
                        let bh = b * shape.heads + h
                        for r0 in stride(from: 0, to: nq, by: blockRows) {
                            let c = min(blockRows, nq - r0)
                            let row0 = bh * nq + r0
                            let qBlock = precision.round(try files.q.read(row0 * d..<(row0 + c) * d))
                            let oBlock = outFormat.round(try files.o.read(row0 * dv..<(row0 + c) * dv))
                            let sub = AttentionShape(batch: 1, heads: 1, kvHeads: 1, nq: c, nk: nk, d: d, dv: dv)
                            let m = blockMask(r0: r0, c: c)
                            let ref =
                                precision == .fp64
                                ? try ExtendedAttention.forward(q: qBlock, k: kBlock, v: vBlock, shape: sub, mask: m, scale: scale)
                                : try ReferenceAttention.forward(q: qBlock, k: kBlock, v: vBlock, shape: sub, mask: m, scale: scale)
                            let base = try BaselineAttention.forward(
                                q: qBlock, k: kBlock, v: vBlock, shape: sub, mask: m, scale: scale, precision: precision)
                            let co = Equivalence.compare(candidate: oBlock, reference: ref.o, baseline: base.o, format: outFormat)
                            o.fold(co) { Location(batch: b, head: h, row: r0 + $0 / dv, column: $0 % dv) }
                            if let file = files.lse {
                                let lBlock = lseFormat.round(try file.read(row0..<row0 + c))
                                let cl = Equivalence.compare(
                                    candidate: lBlock, reference: ref.lse, baseline: base.lse, format: lseFormat,
                                    emptyRowsAsPositiveInfinity: true)
                                lse?.fold(cl) { Location(batch: b, head: h, row: r0 + $0) }
                            }
                        }
                    }
                }
            }
        } catch {
            throw CheckInputError(reading: error)
        }
        return Report(
            dtype: dtype, shape: shape, mask: mask, scale: scale ?? 1 / Double(d).squareRoot(), blockRows: blockRows,
            memoryBytes: memoryBound, tensors: [o] + (lse.map { [$0] } ?? []) + (try gradients()))
    }

    /// dQ, dK and dV (those given) against the reference gradients, one KV group at a time: its
    /// query heads' Q, dO, dQ and its K, V, dK, dV whole, since dK and dV sum over every row
    /// (memory about 8·group·N·(2d + 2dv) + 8·Nk·(2d + 2dv) bytes plus the reference's blocks).
    func gradients() throws(CheckInputError) -> [TensorResult] {
        guard let dOFile = files.dO else { return [] }
        let precision = dtype.precision
        let outFormat = BaselineAttention.outputPrecision(for: precision)
        let (nq, nk, d, dv, g) = (shape.nq, shape.nk, shape.d, shape.dv, shape.groupSize)
        let origin = Location(batch: 0, head: 0, row: 0, column: 0)
        let named = [("dQ", files.dq), ("dK", files.dk), ("dV", files.dv)]
        var results = named.map { name, file in
            file.map { TensorResult(name: name, fileDType: $0.dtype, location: origin, rtol: Equivalence.backwardRtol) }
        }
        do {
            for b in 0..<shape.batch {
                for kvh in 0..<shape.kvHeads {
                    let kv = b * shape.kvHeads + kvh
                    let h0 = b * shape.heads + kvh * g
                    let qRange = h0 * nq * d..<(h0 + g) * nq * d
                    let kRange = kv * nk * d..<(kv + 1) * nk * d, vRange = kv * nk * dv..<(kv + 1) * nk * dv
                    let sub = AttentionShape(batch: 1, heads: g, kvHeads: 1, nq: nq, nk: nk, d: d, dv: dv)
                    func candidate(_ file: NpyFile?, _ range: Range<Int>) throws -> [Double] {
                        guard let file else { return [Double](repeating: 0, count: range.count) }
                        return outFormat.round(try file.read(range))
                    }
                    let report = try Equivalence.checkBackward(
                        candidate: AttentionGradients(
                            dq: try candidate(files.dq, qRange), dk: try candidate(files.dk, kRange), dv: try candidate(files.dv, vRange)),
                        q: try files.q.read(qRange), k: try files.k.read(kRange), v: try files.v.read(vRange),
                        dO: try dOFile.read(h0 * nq * dv..<(h0 + g) * nq * dv), shape: sub, mask: mask, scale: scale, precision: precision)
                    results[0]?.fold(report.dq) { Location(batch: b, head: kvh * g + $0 / (nq * d), row: $0 / d % nq, column: $0 % d) }
                    results[1]?.fold(report.dk) { Location(batch: b, head: kvh, row: $0 / d, column: $0 % d) }
                    results[2]?.fold(report.dv) { Location(batch: b, head: kvh, row: $0 / dv, column: $0 % dv) }
                }
            }
        } catch {
            throw CheckInputError(reading: error)
        }
        return results.compactMap { $0 }
    }
}
