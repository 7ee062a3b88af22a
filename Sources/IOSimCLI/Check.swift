import ArgumentParser
import AttentionReference
import Foundation
import IOSim
import NpyIO

/// `iosim check`: a user's kernel output (O, and optionally its LSE) against the fp64 reference
/// under the tolerance rule (docs/numerics.md; the command: docs/cli.md §5). Exit 0 pass, 1 fail,
/// 2 bad input.
///
/// Options are typed (the parser reads them); a value it refuses is "bad input" (exit 2, one
/// line) like a bad file, not the parser's usage exit (64) that the other subcommands use: CI
/// scripts branch on these three codes (``ExitStatus``).
struct Check: ParsableCommand {
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
    @Option(help: ArgumentHelp("The kernel's data type (required; fp8: e4m3 inputs, bf16 O).", valueName: "dtype"))
    var dtype: DType?
    @Flag(help: "Causal mask (see --alignment).") var causal = false
    @Option(parsing: .unconditional, help: ProblemOptions.windowHelp, transform: Units.length) var window: Int?
    @OptionGroup var windowSides: WindowSides
    @OptionGroup var structure: StructureFlags
    @OptionGroup var scores: ScoreOptions
    @Option(
        name: .customLong("block-mask"),
        help: ArgumentHelp("A block mask (.npy; docs/cli.md §2) the kernel computed, blocks of --mask-block.", valueName: "FILE"))
    var blockMask: String?
    @Option(
        name: .customLong("mask-block"), help: ArgumentHelp("The block mask's blocks, B or BqxBk (default 128).", valueName: "B|BqxBk"))
    var maskBlock: String?
    @Option(
        help: ArgumentHelp(
            "Where the causal diagonal sits when Nq ≠ Nk: bottom-right (default; FlashAttention ≥ 2.1) or top-left (PyTorch's is_causal).",
            valueName: "alignment"))
    var alignment: CausalAlignment?
    @Option(parsing: .unconditional, help: "Score scale (default 1/√d).") var scale: Double?
    @OptionGroup var rawBits: RawBitsOptions
    @Option(
        name: .customLong("block-rows"), parsing: .unconditional,
        help: ArgumentHelp("Rows of Q and O checked at a time (rounded up to a multiple of 32; default 1024).", valueName: "R"))
    var blockRows: Int?
    @Option(help: ArgumentHelp("How to print the report.", valueName: "format")) var format: CheckFormat = .table
    @Option(
        help: ArgumentHelp(
            "The arrays' axis order: bhsd (default; [batch, heads, N, d]), bshd (FlashAttention's [batch, seqlen, heads, d]) or thd (varlen's packed [total_tokens, heads, d], with --documents); the LSE is [batch, heads, N] or [heads, total].",
            valueName: "layout"))
    var layout: CheckLayout = .bhsd

    enum CheckFormat: String, CaseIterable, ExpressibleByArgument {
        case table, json
        init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    }

    func run() throws {
        let report: KernelOutputCheck.Report
        // bshd and thd arrays are copied in bhsd order into a temporary folder for the check.
        var folder: String?
        defer { if let folder { try? FileManager.default.removeItem(atPath: folder) } }
        if layout != .bhsd {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("iosim-check-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
                .path
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw BadInput(command: "check", message: "cannot create a temporary folder for --layout \(layout.rawValue): \(error)")
            }
            folder = dir
        }
        do {
            report = try plan(folder: folder).run()
        } catch {
            throw BadInput(command: "check", message: error.message)
        }
        Console.print(format == .json ? report.json.text : report.table, terminator: format == .json ? "\n" : "")
        if !report.passed { throw FailedCheck() }
    }

    /// Every option checked and every file opened and measured, before any arithmetic. (The
    /// parser has checked each value's type; a value it refuses is bad input too, exit 2:
    /// ``ExitStatus/of(_:command:parserCode:parserMessage:)``.)
    func plan(folder: String? = nil) throws(KernelOutputCheck.InputError) -> KernelOutputCheck {
        guard let dtype else { throw .init("--dtype is required: the kernel's data type (fp16, bf16, fp8, fp32, fp64)") }
        let alignment = self.alignment ?? .bottomRight
        let structured: AttentionMask
        do { structured = try MaskFlags.mask(causal: causal, window: window, sides: windowSides, structure: structure, alignment: alignment) } catch {
            throw .init(error.message)
        }
        if let scale, !scale.isFinite { throw .init("--scale must be a finite number, got \(scale)") }
        let raws: [Npy.RawFormat]
        do { raws = try rawBits.formats() } catch { throw .init(error.message) }
        let rows = blockRows ?? 1024
        guard rows > 0, rows <= Limits.maxSequence else { throw .init("--block-rows must be a positive integer, got \(rows)") }
        if layout == .thd && structure.documents == nil {
            throw .init("--layout thd is varlen's packed layout: give --documents (the lengths its cu_seqlens hold)")
        }
        func open(_ flag: String, _ path: String?) throws(KernelOutputCheck.InputError) -> NpyFile {
            guard let path else { throw .init("\(flag) is required") }
            guard flag != "--lse", let folder else { return try KernelOutputCheck.open(path, raws: raws) }
            return try KernelOutputCheck.open(try layout.bhsd(path, flag: flag, raws: raws, folder: folder), raws: raws)
        }
        var files = KernelOutputCheck.Files(q: try open("--q", q), k: try open("--k", k), v: try open("--v", v), o: try open("--o", o))
        if let lse { files.lse = try open("--lse", lse) }
        let gradients = [("--dq", dq), ("--dk", dk), ("--dv", dv)].filter { $0.1 != nil }
        if dO == nil, let first = gradients.first {
            throw .init("\(first.0) needs --do, the upstream gradient the kernel's backward was given")
        }
        if dO != nil && gradients.isEmpty { throw .init("--do is given but no gradient to check (--dq, --dk, --dv)") }
        if let dO {
            files.dO = try open("--do", dO)
            if let dq { files.dq = try open("--dq", dq) }
            if let dk { files.dk = try open("--dk", dk) }
            if let dv { files.dv = try open("--dv", dv) }
        }
        var mask = structured
        let blocks: (Int, Int)
        do { blocks = try BlockMaskFile.blocks(maskBlock) } catch { throw .init(error.message) }
        if maskBlock != nil && blockMask == nil { throw .init("--mask-block sets a --block-mask file's blocks; give --block-mask") }
        if let blockMask {
            let s = try KernelOutputCheck.shape(files)
            do {
                mask = .blockSparse(
                    try BlockMaskFile.load(blockMask, blocks: blocks, batch: s.batch, heads: s.heads, nq: s.nq, nk: s.nk, inner: mask))
            } catch { throw .init(error.message) }
        }
        let heads = try KernelOutputCheck.shape(files).heads
        let modification: ScoreModification
        do { modification = try scores.modification(heads: heads) } catch { throw .init(error.message) }
        let check = try KernelOutputCheck(files: files, dtype: dtype, mask: mask, scale: scale, blockRows: rows, modification: modification)
        // Refused before reading a byte, rather than aborting half-way under a ulimit or cgroup.
        let budget = MemoryBudget.current()
        if check.memoryBound > budget.bytes {
            throw .init(
                "checking these files needs about \(check.memoryBound / 1_000_000) MB, more than the \(budget.bytes / 1_000_000) MB "
                    + "this process may use now (limited by \(budget.limitedBy))"
                    + (files.dO == nil ? "; a smaller --block-rows lowers it" : ""))
        }
        return check
    }
}
