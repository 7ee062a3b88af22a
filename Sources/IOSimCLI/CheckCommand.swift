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
        help: ProblemOptions.windowHelp)
    var window: String?
    @Option(
        help: ArgumentHelp(
            "Where the causal diagonal sits when Nq ≠ Nk: bottom-right (default; FlashAttention ≥ 2.1) or top-left (PyTorch's is_causal).",
            valueName: "alignment"))
    var alignment: String?
    @Option(parsing: .unconditional, help: "Score scale (default 1/√d).") var scale: String?
    @OptionGroup var rawBits: RawBitsOptions
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
            throw BadInput(command: "check", message: error.message)
        }
        print(format == "json" ? report.json.text : report.table, terminator: format == "json" ? "\n" : "")
        if !report.passed { throw FailedCheck() }
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
        let raws: [Npy.RawFormat]
        do { raws = try rawBits.formats() } catch { throw CheckInputError(error.message) }
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
