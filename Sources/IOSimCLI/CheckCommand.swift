import ArgumentParser
import AttentionReference
import Foundation
import IOSim
import NpyIO

/// `iosim check`: a user's kernel output (O, and optionally its LSE) against the fp64 reference
/// under the tolerance rule (docs/numerics.md; the command: docs/cli.md §5). Exit 0 pass, 1 fail,
/// 2 bad input.
///
/// Every option is read as text and checked here, not by the argument parser, so that a bad
/// value is "bad input" (exit 2, one line) like a bad file, rather than the parser's usage exit
/// (64) that the other subcommands use: CI scripts branch on these three codes.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a kernel's attention output (.npy) against the exact reference with the tolerance rule.",
        discussion: """
            Recomputes O (and the log-sum-exp) from --q, --k, --v with the fp64 reference,
            and the plain attention in the kernel's --dtype emulated on the CPU (the
            baseline), then applies the tolerance rule per tensor:
              max|out − ref| ≤ rtol · max|baseline − ref| + atol
            with rtol = 2 (forward) and atol two ulps of the output format at the
            reference's largest magnitude. Q, K and V are first rounded to --dtype (as the
            kernel saw them); O is rounded to the kernel's output format (fp8: bf16) and
            the LSE to fp32, so a kernel's output saved in a wider type is fine. An fp64
            kernel is measured against extended precision.

            Shapes: [N, d], [heads, N, d] or [batch, heads, N, d]; K and V may have fewer
            heads than Q (GQA/MQA: heads a multiple of theirs), their own length Nk, and V
            its own width dv. O is [.., N, dv] and the LSE [.., N] (natural log of the
            row's sum of exp(scale·q·k)). File dtypes: '<f8', '<f4', '<f2' (float16);
            bfloat16 as raw 16-bit words ('<u2', '<i2', or '<V2', which is what np.save
            writes for ml_dtypes.bfloat16) with --bf16-bits; fp8 as raw bytes ('|u1',
            '<V1', ...) with --fp8-bits e4m3|e5m2. O stored in a format narrower than the
            kernel's output (fp16 O for --dtype fp32) is refused: the kernel did not write
            it.

            With --do (the upstream gradient) and any of --dq, --dk, --dv, the kernel's
            gradients are checked too, against the reference gradients and the baseline
            backward in --dtype, with rtol = 3; one KV group (its query heads, whole) at a
            time, since dK and dV sum over every row. --dq, --dk or --dv without --do is
            bad input.

            Each tensor's line gives the largest error, where it is (batch, head, row,
            column), the allowance, the baseline's error and atol. Large inputs are read
            in pieces: one KV head's K and V at a time and --block-rows rows of Q and O,
            so memory stays near 20·Nk·(d+dv) + 8·R·(3d+6dv) bytes plus two 4 MiB score
            blocks, whatever the batch and head count (N = Nk = 32K, d = 128, 1024-row
            blocks: about 200 MB). The verdict and the errors do not depend on the block
            size.

            Exit codes:
              0   every tensor passes
              1   a tensor fails: above the allowance, NaN or Inf where the
                  reference is finite, a reference that is not finite (NaN or Inf in
                  the inputs), or an allowance that is not finite; the FAIL line says
                  which
              2   bad input: a missing or unreadable file, a shape mismatch, a dtype
                  the kernel cannot have written, a missing or unknown --dtype, an
                  unknown option or value, or a check needing more memory than the
                  process may use (ulimit, cgroup, free memory)
            (An option given without its value is the argument parser's usage error,
            exit 64.)
            Errors are one line on standard error, starting "iosim: check: ".
            """
    )

    @Option(help: "Query array (.npy).") var q: String?
    @Option(help: "Key array (.npy).") var k: String?
    @Option(help: "Value array (.npy).") var v: String?
    @Option(help: "The kernel's output O (.npy).") var o: String?
    @Option(help: "The kernel's row log-sum-exp (.npy, natural log), checked too when given.") var lse: String?
    @Option(name: .customLong("do"), help: "The upstream gradient dO (.npy, shaped as O); needed by --dq, --dk, --dv.") var dO: String?
    @Option(help: "The kernel's dQ (.npy, shaped as Q), checked against the reference gradient (rtol 3).") var dq: String?
    @Option(help: "The kernel's dK (.npy, shaped as K).") var dk: String?
    @Option(help: "The kernel's dV (.npy, shaped as V).") var dv: String?
    @Option(help: ArgumentHelp("The kernel's data type: fp16, bf16, fp8 (e4m3 inputs, bf16 O), fp32 or fp64 (required).", valueName: "dtype"))
    var dtype: String?
    @Flag(help: "Causal mask (see --alignment).") var causal = false
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Sliding window: a query at position pos sees the L keys at positions pos − L + 1 … pos (FlashAttention's window_size = (L − 1, 0)); implies --causal.",
            valueName: "L"))
    var window: String?
    @Option(
        help: ArgumentHelp(
            "Where the causal diagonal sits when Nq ≠ Nk: bottom-right (default; FlashAttention ≥ 2.1) or top-left (PyTorch's is_causal).",
            valueName: "alignment"))
    var alignment: String?
    @Option(parsing: .unconditional, help: "Score scale (default 1/√d).") var scale: String?
    @Flag(name: .customLong("bf16-bits"), help: "Read 16-bit raw files ('<u2', '<i2', '<V2', '|V2') as bfloat16 bit patterns.")
    var bf16Bits = false
    @Option(
        name: .customLong("fp8-bits"),
        help: ArgumentHelp("Read raw byte files ('|u1', '|i1', '<V1', '|V1', '<f1') as fp8 of this format: e4m3 or e5m2.", valueName: "format"))
    var fp8Bits: String?
    @Option(
        name: .customLong("block-rows"), parsing: .unconditional,
        help: ArgumentHelp("Rows of Q and O checked at a time (rounded up to a multiple of 32; default 1024).", valueName: "R"))
    var blockRows: String?
    @Option(help: ArgumentHelp("table or json (default table).", valueName: "format")) var format: String?
    /// Anything the parser does not know, refused in ``run()`` with exit 2 (see the type's comment).
    @Argument(parsing: .allUnrecognized, help: .hidden) var unrecognized: [String] = []

    func run() throws {
        let report: KernelCheck.Report
        let format: String
        do {
            let check = try plan()
            format = self.format?.lowercased() ?? "table"
            report = try check.run()
        } catch {
            printError("iosim: check: \(error.message)")
            Foundation_exit(2)
        }
        print(format == "json" ? report.json.text : report.table, terminator: format == "json" ? "\n" : "")
        Foundation_exit(report.passed ? 0 : 1)
    }

    /// Every option checked and every file opened and measured, before any arithmetic.
    func plan() throws(CheckInputError) -> KernelCheck {
        if let first = unrecognized.first {
            throw CheckInputError(first.hasPrefix("-") ? "unknown option '\(first)'" : "unexpected argument '\(first)'")
        }
        guard let dtypeText = dtype else { throw CheckInputError("--dtype is required: the kernel's data type (fp16, bf16, fp8, fp32, fp64)") }
        guard let dtype = DType(argument: dtypeText) else {
            throw CheckInputError("unknown --dtype '\(dtypeText)'; use fp16, bf16, fp8, fp32 or fp64")
        }
        if let format, !["table", "json"].contains(format.lowercased()) {
            throw CheckInputError("unknown --format '\(format)'; use table or json")
        }
        var alignment = CausalAlignment.bottomRight
        if let text = self.alignment {
            guard let a = CausalAlignment(argument: text) else {
                throw CheckInputError("unknown --alignment '\(text)'; use bottom-right or top-left")
            }
            alignment = a
        }
        var mask: AttentionMask = causal ? .causal(alignment) : .none
        if let text = window {
            guard let l = Int(text), l > 0 else { throw CheckInputError("--window must be a positive integer, got '\(text)'") }
            mask = .slidingWindow(left: l - 1, right: 0, alignment: alignment)
        }
        var scale: Double?
        if let text = self.scale {
            guard let s = Double(text), s.isFinite else { throw CheckInputError("--scale must be a finite number, got '\(text)'") }
            scale = s
        }
        var raws: [Npy.RawFormat] = bf16Bits ? [.bfloat16] : []
        if let text = fp8Bits {
            switch text.lowercased() {
            case "e4m3", "e4m3fn": raws.append(.float8e4m3fn)
            case "e5m2": raws.append(.float8e5m2)
            default: throw CheckInputError("unknown --fp8-bits '\(text)'; use e4m3 or e5m2")
            }
        }
        var rows = 1024
        if let text = blockRows {
            guard let r = Int(text), r > 0, r <= Limits.maxSequence else {
                throw CheckInputError("--block-rows must be a positive integer, got '\(text)'")
            }
            rows = r
        }
        func open(_ flag: String, _ path: String?) throws(CheckInputError) -> NpyFile {
            guard let path else { throw CheckInputError("\(flag) is required") }
            return try KernelCheck.open(path, raws: raws)
        }
        var files = KernelCheck.Files(q: try open("--q", q), k: try open("--k", k), v: try open("--v", v), o: try open("--o", o))
        if let lse { files.lse = try open("--lse", lse) }
        let gradients = [("--dq", dq), ("--dk", dk), ("--dv", dv)].filter { $0.1 != nil }
        if dO == nil, let first = gradients.first {
            throw CheckInputError("\(first.0) needs --do, the upstream gradient the kernel's backward was given")
        }
        if dO != nil && gradients.isEmpty { throw CheckInputError("--do is given but no gradient to check (--dq, --dk, --dv)") }
        if let dO {
            files.dO = try open("--do", dO)
            if let dq { files.dq = try open("--dq", dq) }
            if let dk { files.dk = try open("--dk", dk) }
            if let dv { files.dv = try open("--dv", dv) }
        }
        let check = try KernelCheck(files: files, dtype: dtype, mask: mask, scale: scale, blockRows: rows)
        // Refused before reading a byte, rather than aborting half-way under a ulimit or cgroup.
        let budget = MemoryBudget.current()
        if check.memoryBound > budget.bytes {
            throw CheckInputError(
                "checking these files needs about \(check.memoryBound / 1_000_000) MB, more than the \(budget.bytes / 1_000_000) MB "
                    + "this process may use now (limited by \(budget.limitedBy))"
                    + (files.dO == nil ? "; a smaller --block-rows lowers it" : ""))
        }
        return check
    }
}

/// Bad input to `iosim check`: one line, exit 2.
struct CheckInputError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }

    /// An error met while reading and checking the files, in one line: the reader's or the
    /// reference's own description.
    init(reading error: any Error) {
        switch error {
        case let e as CheckInputError: message = e.message
        case let e as NpyError: message = e.description
        case let e as AttentionError: message = e.description
        default: message = "\(error)"
        }
    }

    var description: String { message }
}

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

    struct Report {
        var dtype: DType
        var shape: AttentionShape
        var mask: AttentionMask
        var scale: Double
        var blockRows: Int
        var memoryBytes: Int
        var tensors: [TensorResult]
        var passed: Bool { tensors.allSatisfy(\.passed) }

        var table: String {
            var maskText = "no mask"
            switch mask {
            case let .causal(a): maskText = "causal (\(a.argument))"
            case let .slidingWindow(left, _, a): maskText = "window \(left + 1) (\(a.argument))"
            default: break
            }
            var lines = [
                "iosim check: \(dtype.rawValue) kernel, \(shape), \(maskText), scale \(scale)",
                "tolerance: max|out − ref| ≤ rtol·(baseline error) + atol",
                "",
            ]
            let header = ["tensor", "max|err|", "where (b, h, row, col)", "allowed", "rtol", "baseline err", "atol", "verdict"]
            var rows = [header]
            for t in tensors {
                rows.append([
                    t.name, sci(t.maxAbsError), t.location.text, sci(t.allowed), "\(Int(t.rtol))", sci(t.baselineError), sci(t.atol),
                    t.passed ? "pass" : "FAIL",
                ])
            }
            let widths = header.indices.map { i in rows.map { $0[i].count }.max()! }
            for r in rows { lines.append(zip(r, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")) }
            lines.append("")
            lines += passed ? ["PASS"] : tensors.compactMap { t in t.failure.map { "FAIL: \(t.name): \($0)" } }
            return lines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }.joined(separator: "\n") + "\n"
        }

        var json: JSON {
            var problem: [(String, JSON)] = [
                ("batch", .int(shape.batch)), ("heads", .int(shape.heads)), ("kv_heads", .int(shape.kvHeads)), ("N", .int(shape.nq)),
                ("Nk", .int(shape.nk)), ("d", .int(shape.d)), ("dv", .int(shape.dv)), ("dtype", .string(dtype.rawValue)),
            ]
            switch mask {
            case let .causal(a): problem += [("causal", .bool(true)), ("alignment", .string(a.argument))]
            case let .slidingWindow(left, _, a): problem += [("causal", .bool(true)), ("alignment", .string(a.argument)), ("window", .int(left + 1))]
            default: problem.append(("causal", .bool(false)))
            }
            problem.append(("scale", .double(scale)))
            return .object([
                ("passed", .bool(passed)), ("problem", .object(problem)),
                (
                    "tensors",
                    .array(
                        tensors.map { t in
                            .object([
                                ("name", .string(t.name)), ("passed", .bool(t.passed)), ("max_abs_error", .number(t.maxAbsError)),
                                ("where", t.location.json), ("allowed", .number(t.allowed)), ("rtol", .double(t.rtol)),
                                ("baseline_error", .number(t.baselineError)), ("atol", .number(t.atol)),
                                ("file_dtype", .string(t.fileDType.rawValue)), ("reason", t.failure.map(JSON.string) ?? .null),
                                ("non_finite_outputs", .int(t.nonFiniteOutputs)), ("non_finite_reference", .int(t.unvouchedReferences)),
                            ])
                        })
                ),
                ("block_rows", .int(blockRows)), ("memory_bound_bytes", .int(memoryBytes)),
            ])
        }

        func sci(_ x: Double) -> String { x.isFinite ? String(format: "%.3e", x) : Comparison.text(x) }
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
        var lastError: NpyError?
        for raw in raws.isEmpty ? [nil] : raws.map(Optional.some) {
            do { return try NpyFile(path: path, raw: raw) } catch { lastError = error }
        }
        throw CheckInputError(lastError!.description)
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
                                let cl = Equivalence.compare(candidate: lBlock, reference: ref.lse, baseline: base.lse, format: lseFormat)
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
