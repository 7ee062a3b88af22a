import AttentionReference
import Foundation
import IOSimCore
import NpyIO

/// A kernel's output files (O, and its LSE and gradients when given) checked against the exact
/// reference with the tolerance rule (docs/numerics.md): the engine of `iosim check`, a library
/// so that a program (or a test) can run it with any block size and read the verdicts as values.
public struct KernelOutputCheck {
    /// The files to check: the inputs, the kernel's O, and optionally its LSE and gradients.
    public struct Files {
        public var q: NpyFile, k: NpyFile, v: NpyFile, o: NpyFile
        public var lse: NpyFile? = nil
        /// The backward's upstream gradient and the kernel's gradients (any of the three).
        public var dO: NpyFile? = nil
        public var dq: NpyFile? = nil
        public var dk: NpyFile? = nil
        public var dv: NpyFile? = nil

        public init(
            q: NpyFile, k: NpyFile, v: NpyFile, o: NpyFile, lse: NpyFile? = nil, dO: NpyFile? = nil, dq: NpyFile? = nil,
            dk: NpyFile? = nil, dv: NpyFile? = nil
        ) {
            (self.q, self.k, self.v, self.o, self.lse) = (q, k, v, o, lse)
            (self.dO, self.dq, self.dk, self.dv) = (dO, dq, dk, dv)
        }
    }

    /// Where an element sits: batch, head, row and (for O) column.
    public struct Location: Equatable, Sendable {
        public var batch: Int, head: Int, row: Int
        public var column: Int?

        public init(batch: Int, head: Int, row: Int, column: Int? = nil) {
            (self.batch, self.head, self.row, self.column) = (batch, head, row, column)
        }

        public var text: String { "(" + ([batch, head, row] + (column.map { [$0] } ?? [])).map(String.init).joined(separator: ", ") + ")" }
    }

    /// One tensor's verdict under the tolerance rule, gathered over every block.
    public struct TensorResult: Equatable, Sendable {
        public var name: String
        public var fileDType: NpyArray.DType
        public var maxAbsError = 0.0
        public var location: Location
        public var baselineError = 0.0
        public var rtol: Double
        public var atol = 0.0
        /// Elements NaN or infinite in the output where the reference is finite.
        public var nonFiniteOutputs = 0
        /// Elements where the reference is NaN or +∞, and where the first is.
        public var unvouchedReferences = 0
        public var firstUnvouched: Location?
        public var allowed: Double { rtol * baselineError + atol }
        /// Why the tensor fails (``Comparison/verdict(maxAbsError:allowed:baselineError:nonFiniteCandidates:unvouchedReferences:)``), nil when it passes.
        public var failure: String? {
            let why = Comparison.verdict(
                maxAbsError: maxAbsError, allowed: allowed, baselineError: baselineError, nonFiniteCandidates: nonFiniteOutputs,
                unvouchedReferences: unvouchedReferences)
            guard let why, unvouchedReferences > 0, let at = firstUnvouched else { return why }
            return why + ", the first at \(at.text)"
        }
        public var passed: Bool { failure == nil }

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

    public let files: Files
    public let dtype: DType
    public let mask: AttentionMask
    public let scale: Double?
    /// Soft cap, ALiBi slopes and sink logits the kernel applied (forward only).
    public let modification: ScoreModification
    public let shape: AttentionShape
    /// A multiple of ``ReferenceAttention/gemmRows``, so that each block's GEMMs cover the same
    /// rows as one whole-head call's and the numbers are bitwise those of an unblocked check.
    public let blockRows: Int

    /// Opens a file with the first raw format it takes (`--bf16-bits` and `--fp8-bits` may both be given).
    public static func open(_ path: String, raws: [Npy.RawFormat]) throws(InputError) -> NpyFile {
        do { return try Npy.RawFormat.first(raws) { (raw) throws(NpyError) in try NpyFile(path: path, raw: raw) } } catch {
            throw InputError(error.description)
        }
    }

    /// The check of `files` for a `dtype` kernel under `mask` (`scale` nil: 1/√d), reading
    /// `blockRows` rows of Q and O at a time (rounded up to the reference's GEMM rows); throws
    /// when the files' shapes disagree or a written tensor is narrower than the kernel writes.
    public init(
        files: Files, dtype: DType, mask: AttentionMask, scale: Double?, blockRows: Int, modification: ScoreModification = .none
    ) throws(InputError) {
        self.files = files
        self.dtype = dtype
        self.mask = mask
        self.scale = scale
        self.modification = modification
        self.shape = try Self.shape(files)
        do { try mask.validate(shape) } catch { throw InputError("the mask does not fit the arrays (\(shape)): \(error.description)") }
        do { try modification.validate(heads: shape.heads) } catch { throw InputError(error.description) }

        var g = ReferenceAttention.gemmRows
        // Row blocks of a block-masked check start on whole mask blocks.
        if case let .blockSparse(b) = mask { g = g / gcd(g, b.blockQ) * b.blockQ }
        self.blockRows = min((blockRows + g - 1) / g * g, (shape.nq + g - 1) / g * g)
        let out = Self.npyType(BaselineAttention.outputPrecision(for: dtype.precision))
        let written: [(String, NpyFile?, NpyArray.DType)] = [
            ("O", files.o, out), ("LSE", files.lse, dtype == .fp64 ? .float64 : .float32), ("dQ", files.dq, out), ("dK", files.dk, out),
            ("dV", files.dv, out),
        ]
        for (name, file, needed) in written {
            guard let file, !file.dtype.holdsAllValues(of: needed) else { continue }
            throw InputError(
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
    public static func shape(_ f: Files) throws(InputError) -> AttentionShape {
        let named = [("q", f.q), ("k", f.k), ("v", f.v), ("o", f.o)]
        for (name, a) in named {
            guard (2...4).contains(a.shape.count) else {
                throw InputError("\(name) (\(a.path)) has shape \(a.shape); expected [N, d], [heads, N, d] or [batch, heads, N, d]")
            }
            guard !a.shape.contains(0) else { throw InputError("\(name) (\(a.path)) is empty (shape \(a.shape))") }
        }
        let rank = f.q.shape.count
        guard named.allSatisfy({ $0.1.shape.count == rank }) else {
            throw InputError(
                "q, k, v and o must have the same number of dimensions; got " + named.map { "\($0.0) \($0.1.shape)" }.joined(separator: ", "))
        }
        func dims(_ a: NpyFile) -> (b: Int, h: Int, n: Int, w: Int) {
            let s = a.shape
            return (rank == 4 ? s[0] : 1, rank >= 3 ? s[rank - 3] : 1, s[rank - 2], s[rank - 1])
        }
        let (q, k, v, o) = (dims(f.q), dims(f.k), dims(f.v), dims(f.o))
        guard k.w == q.w else { throw InputError("q has d = \(q.w) but k has d = \(k.w)") }
        guard v.n == k.n else { throw InputError("k has \(k.n) rows (Nk) but v has \(v.n)") }
        guard k.b == q.b, v.b == q.b, o.b == q.b else {
            throw InputError("batch sizes differ: q \(q.b), k \(k.b), v \(v.b), o \(o.b)")
        }
        guard v.h == k.h else { throw InputError("k has \(k.h) heads but v has \(v.h)") }
        guard q.h % k.h == 0 else { throw InputError("q's heads (\(q.h)) must be a multiple of k's and v's (\(k.h))") }
        guard o.h == q.h, o.n == q.n, o.w == v.w else {
            throw InputError("o has shape \(f.o.shape) but q and v make it \(Array(f.q.shape.dropLast()) + [v.w])")
        }
        if let lse = f.lse {
            let expected = Array(f.q.shape.dropLast())
            guard lse.shape == expected else { throw InputError("lse has shape \(lse.shape); q makes it \(expected)") }
        }
        for (name, file, like, likeName) in [("do", f.dO, f.o, "o"), ("dq", f.dq, f.q, "q"), ("dk", f.dk, f.k, "k"), ("dv", f.dv, f.v, "v")] {
            guard let file, file.shape != like.shape else { continue }
            throw InputError("\(name) has shape \(file.shape) but \(likeName) has \(like.shape)")
        }
        return AttentionShape(batch: q.b, heads: q.h, kvHeads: k.h, nq: q.n, nk: k.n, d: q.w, dv: v.w)
    }

    /// About the most memory the check holds at once (see the command's discussion).
    public var memoryBound: Int {
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
    package func blockMask(r0: Int, c: Int) -> AttentionMask { Self.rows(of: mask, r0: r0, c: c, nq: shape.nq, nk: shape.nk) }

    /// The mask of the query heads `bh0 ..< bh0 + count` (flat batch·heads indices) as a problem
    /// of those heads alone: a block mask's planes for them, any other mask as it is.
    package static func heads(of mask: AttentionMask, from bh0: Int, count: Int) -> AttentionMask {
        guard case let .blockSparse(m) = mask, m.planes > 1 else { return mask }
        let planes = (bh0..<bh0 + count).map { m.plane(bh: $0) }
        if Set(planes).count == 1 { return .blockSparse(m.single(planes[0])) }
        let size = m.rows * m.cols
        return .blockSparse(
            BlockMask(
                blockQ: m.blockQ, blockK: m.blockK, rows: m.rows, cols: m.cols, batch: 1, heads: count, queryHeads: count,
                values: planes.flatMap { m.values[$0 * size..<($0 + 1) * size] }, inner: m.inner))
    }

    /// ``blockMask(r0:c:)`` of any mask. A block mask's rows start on a block (the check's row
    /// blocks are whole mask blocks): its block rows are cut out of every plane, and its inner
    /// mask cut as above.
    package static func rows(of mask: AttentionMask, r0: Int, c: Int, nq: Int, nk: Int) -> AttentionMask {
        if r0 == 0 && c == nq { return mask }
        if case let .blockSparse(b) = mask {
            let (first, end) = (r0 / b.blockQ, (r0 + c + b.blockQ - 1) / b.blockQ)
            var values: [UInt8] = []
            for plane in 0..<b.planes { values += b.values[(plane * b.rows + first) * b.cols..<(plane * b.rows + end) * b.cols] }
            return .blockSparse(
                BlockMask(
                    blockQ: b.blockQ, blockK: b.blockK, rows: end - first, cols: b.cols, batch: b.batch, heads: b.heads,
                    queryHeads: b.queryHeads, values: values, inner: rows(of: b.inner, r0: r0, c: c, nq: nq, nk: nk)))
        }
        func same(_ m: AttentionMask) -> Bool {
            (0..<c).allSatisfy { i in m.keyRuns(row: i, nq: c, nk: nk) == mask.keyRuns(row: r0 + i, nq: nq, nk: nk) }
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
            if let runs = mask.keyRuns(row: r0 + i, nq: nq, nk: nk) { for j in runs { keep[i * nk + j] = true } }
        }
        return .boolean(keep)
    }
}

/// Greatest common divisor of two positive integers.
private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
