import ArgumentParser
import AttentionReference
import Foundation
import IOSim

/// Problem and schedule options shared by `simulate`, `sweep` and `verify`. The commands check
/// them in their `validate()` (through ``problem(n:)`` and ``capacity()``), so that a bad value is
/// a usage error (exit 64) before anything runs.
struct ProblemOptions: ParsableArguments {
    @Option(
        name: .customLong("N"), parsing: .unconditional,
        help: ArgumentHelp(
            "Sequence length (rows of Q, and of K/V unless --Nk). K = 1024, M = 1024². Default 4096, or the --model preset's Nq.",
            valueName: "N"))
    var nText: String?
    @Option(name: .customLong("Nk"), parsing: .unconditional, help: "Rows of K and V (default: N, or the --model preset's Nk).")
    var nk: String?
    @Option(
        name: .customLong("M"), parsing: .unconditional,
        help:
            "SRAM capacity: bytes, or B, KB, MB, GB (10³ⁿ), KiB, MiB, GiB (2¹⁰ⁿ). Default 100KB, or with --hardware its shared memory per block plus register file."
    )
    var m: String?
    @Option(parsing: .unconditional, help: "Head dimension (default 64, or the --model's).") var d: Int?
    @Option(parsing: .unconditional, help: "Batch size (default 1, or the --model preset's).") var batch: Int?
    @Option(parsing: .unconditional, help: "Query heads (default 1, or the --model's).") var heads: Int?
    @Option(name: .customLong("kv-heads"), parsing: .unconditional, help: "K/V heads (GQA/MQA); default: heads.") var kvHeads: Int?
    @Option(help: "Data type of Q, K and V (fp8: e4m3 Q/K/V with bf16 O).") var dtype: DType = .fp16
    @Option(name: .customLong("schedule"), help: ScheduleSelection.help, transform: ScheduleSelection.parse)
    var scheduleOption: ScheduleSelection = .all
    @Option(name: .customLong("Br"), parsing: .unconditional, help: "Row tile (rows of Q).") var br: Int?
    @Option(name: .customLong("Bc"), parsing: .unconditional, help: "Column tile (rows of K/V).") var bc: Int?
    @Option(help: ProblemOptions.tilesHelp) var tiles: TilePolicy?
    @Option(
        parsing: .unconditional, help: "split-kv's splits of each row tile's K/V (default: FlashAttention-2's heuristic with --hardware, else 1).")
    var splits: Int?
    @Option(parsing: .unconditional, help: "lean's CTAs (default: 2 per SM with --hardware, else one per row tile per head).")
    var ctas: Int?
    @Flag(help: "Causal mask; fully masked tile pairs are skipped (see --alignment).") var causal = false
    @Option(
        parsing: .unconditional,
        help: ProblemOptions.windowHelp, transform: Units.length)
    var window: Int?
    @OptionGroup var windowSides: WindowSides
    @OptionGroup var structure: StructureFlags
    @Option(
        name: .customLong("mask-block"), parsing: .unconditional,
        help: ArgumentHelp(
            "The block mask's blocks, B or BqxBk (FlexAttention's BLOCK_SIZE; default 128): the blocks flex walks, K and V of each non-empty one whole.",
            valueName: "B|BqxBk"))
    var maskBlock: String?
    @Option(
        name: .customLong("block-mask"),
        help: ArgumentHelp(
            "A block mask (.npy, bool or integer: 0 empty, 1 partial, 2 full) of [heads, ⌈N/Bq⌉, ⌈Nk/Bk⌉] or [batch, heads, …] blocks of --mask-block; partial blocks show what the other mask flags show.",
            valueName: "FILE"))
    var blockMask: String?
    /// Optional so that the help shows the command-line spelling of the default (the parser
    /// would print a case-iterable default's raw value, `bottomRight`).
    @Option(help: "Where the causal diagonal sits when Nq ≠ Nk, with --causal or --window (default: bottom-right).")
    var alignment: CausalAlignment?
    @Flag(
        name: .customLong("pack-gqa"),
        help:
            "Process the heads/kv-heads query heads of a KV group as one problem of (heads/kv-heads)·N rows, so K/V tiles load once per KV head per row tile."
    )
    var packGQA = false
    @Option(
        name: .customLong("kv-layout"),
        help:
            "How the K/V cache is stored: contiguous, or paged (vLLM's blocks: tile loads read whole blocks and an int32 table entry per block; fa2, fa3, split-kv, lean)."
    )
    var kvLayout: KVLayout = .contiguous
    @Option(
        name: .customLong("block-size"), parsing: .unconditional,
        help: "Token slots per block of a paged cache (--kv-layout paged, paged-v1, paged-v2); --Bc must be a multiple of it. (default: 16)",
        transform: Units.length)
    var blockSize: Int = 16
    @Option(
        help: ArgumentHelp(
            "Each sequence's own Nk: a file with one length per line, or a comma list (decode: --N defaults to 1; the batch is the number of lengths).",
            valueName: "FILE|a,b,c"))
    var lengths: String?
    @Option(
        name: .customLong("shared-prefix"), parsing: .unconditional,
        help: ArgumentHelp(
            "Tokens every sequence of the batch shares at its start (a system prompt); chunk-attn reads their ⌊P/--chunk⌋ whole chunks once per head, every other schedule once per sequence as before. (default: 0)",
            valueName: "P"), transform: Units.length)
    var sharedPrefix: Int = 0
    @Option(
        parsing: .unconditional,
        help:
            "Tokens per chunk of chunk-attn's prefix tree (ChunkAttention's default 64); chunk-attn's column tile, whatever --Bc says. (default: 64)",
        transform: Units.length)
    var chunk: Int = 64
    @Option(
        name: .customLong("stages"), parsing: .unconditional,
        help: ArgumentHelp(
            "K/V pipeline depth: the K/V tiles a CTA has in flight ahead of the one it computes on. 1 is unpipelined (the time estimate waits a round trip per K and per V tile); fa3's ring holds S tile pairs (its footprint grows); fa2, split-kv, lean, paged-v1 and paged-v2 are built with 1 or 2 and take min(S, 2). (default: 2)",
            valueName: "S"))
    var stagesOption: Int?
    var stages: Int { stagesOption ?? 2 }
    @Option(
        name: .customLong("warps"), parsing: .unconditional,
        help: "Warps per thread block: fa1 splits K/V over them, fa2 splits Q (SRAM-side counts). Default 4, or the kernel's with --tiles kernel."
    )
    var warpsOption: Int?
    var warps: Int { warpsOption ?? 4 }
    @Option(help: ProblemOptions.hardwareHelp) var hardware: String?
    @Option(help: ProblemOptions.modelHelp) var model: String?

    /// `--window`'s help, shared by every command that takes a window.
    static let windowHelp = ArgumentHelp(
        "Sliding window: a query at position pos sees the L keys at positions pos − L + 1 … pos (FlashAttention's window_size = (L − 1, 0)); implies --causal.",
        valueName: "L")

    /// `--tiles`'s help (each policy's own line comes from `TilePolicy.allValueDescriptions`).
    static let tilesHelp = ArgumentHelp(
        "Tile choice when --Br and --Bc do not fix both (default: kernel with --hardware, else optimal; split-kv then takes its kernel's tiles, 64 × FA2's block_n)."
    )

    /// `--hardware`'s help, with the hardware files this run finds.
    static var hardwareHelp: ArgumentHelp {
        ArgumentHelp("GPU model for time estimates: a name in Models/hardware (\(listed(hardwareNames))) or a .json path.")
    }

    /// `--model`'s help, with the workload files this run finds.
    static var modelHelp: ArgumentHelp {
        ArgumentHelp(
            "Workload model that fills --heads, --kv-heads and --d, and a decode preset also --N, --Nk and --batch (flags given explicitly win): a name in Models/workloads (\(listed(workloadNames))) or a .json path."
        )
    }

    /// The model files found, listed once per run (the parser builds these options' help many
    /// times while it parses: dozens of directory scans otherwise).
    private static let hardwareNames = ModelFile.available(kind: "hardware")
    private static let workloadNames = ModelFile.available(kind: "workloads")

    private static func listed(_ names: [String]) -> String { names.isEmpty ? "none found" : names.joined(separator: ", ") }

    /// The `--N` text: as given, else the `--model` decode preset's Nq, else 4096. (A model file
    /// that cannot be read gives 4096 here; ``problem(n:)`` reports its error.)
    var n: String {
        if let nText { return nText }
        if lengths != nil { return "1" }
        if let model, let preset = (try? ModelFile.workload(model))?.decode { return "\(preset.nq)" }
        return "4096"
    }

    /// The hardware model, when `--hardware` is given.
    func hardwareModel() throws -> HardwareModel? {
        guard let hardware else { return nil }
        return try ModelFile.hardware(hardware)
    }

    /// The M text: as given, or the default (the hardware's on-chip memory per thread block, else 100KB).
    func mSpec() throws -> String {
        if let m { return m }
        if let hw = try hardwareModel() { return "\(hw.onChipPerBlock)B" }
        return "100KB"
    }

    /// The mask: `--window L` (causal implied), else `--causal`, else none; `--alignment` places the
    /// diagonal of either.
    func mask() throws(ValidationError) -> AttentionMask {
        try MaskFlags.mask(
            causal: causal, window: window, sides: windowSides, structure: structure, alignment: alignment ?? .bottomRight)
    }

    /// The checked problem (`n` replaces `--N`, for sweeps). A bad value is a `ValidationError`
    /// worded with its flag; a model file that cannot be found or read keeps its own error (exit 1).
    /// A `--model` decode preset fills --N, --Nk and --batch where they are not given.
    func problem(n nOverride: Int? = nil) throws -> AttentionProblem {
        let workload = try model.map { try ModelFile.workload($0) }
        let documents = try structure.documentLengths()
        var n = try nOverride ?? (documents != nil && nText == nil ? documents!.sum : Units.count(self.n, name: "N"))
        var nk = try self.nk.map { (s: String) throws(ValidationError) in try Units.count(s, name: "Nk") } ?? workload?.decode?.nk
        if let documents { (n, nk) = try checkDocuments(documents, n: n, nk: nk) }
        for (name, v, limit) in [("stages", stages, Limits.maxStages), ("warps", warps, Limits.maxWarps)] {
            try Wording.checkPositive(name, v, limit: limit)
        }
        if let stagesOption { try checkStages(stagesOption) }
        if let splits {
            try Wording.checkPositive("splits", splits, limit: Limits.maxSplits)
            try checkKnob(.splits)
        }
        let maskBlock = try self.maskBlock.map { (text: String) throws -> (Int, Int) in
            let blocks = try BlockMaskFile.blocks(text)
            guard scheduleOption.named.contains(.flex) || blockMask != nil else {
                throw ValidationError("--mask-block sets the blocks flex walks or a --block-mask file's; name --schedule flex or give --block-mask")
            }
            return blocks
        }
        // FlexAttention runs one CTA per query head: it has no packed-GQA form (docs/cli.md §2).
        if packGQA, scheduleOption.named.contains(.flex) {
            throw ValidationError("flex runs one CTA per query head and takes no --pack-gqa; drop it or name another schedule")
        }
        if let ctas {
            try Wording.checkPositive("ctas", ctas, limit: Limits.maxBatchOrHeads)
            try checkKnob(.ctas)
        }
        for (name, v) in [("Br", br), ("Bc", bc)] {
            if let v { try Wording.checkPositive(name, v, limit: Limits.maxSequence) }
        }
        try Wording.checkPositive("block-size", blockSize, limit: Limits.maxSequence)
        let readsBlocks = kvLayout == .paged || ScheduleKind.reading(.paged).contains(where: scheduleOption.mayRun)
        if let bc, readsBlocks, bc % blockSize != 0 {
            throw ValidationError("--Bc (\(bc)) must be a multiple of --block-size (\(blockSize)): a paged cache is read in whole blocks")
        }
        var p = AttentionProblem(
            n: n, nk: nk, d: d ?? workload?.d ?? 64, batch: batch ?? workload?.decode?.batch ?? 1, heads: heads ?? workload?.heads ?? 1,
            kvHeads: kvHeads ?? (heads == nil ? workload?.kvHeads : nil), dtype: dtype,
            mask: try mask(), packGQA: packGQA)
        (p.kvLayout, p.blockSize) = (kvLayout, blockSize)
        if documents != nil { p.packing = structure.packing ?? .varlen }
        if let blockMask {
            for (given, flag) in [
                (p.packing == .varlen && documents != nil, "--packing varlen"), (lengths != nil, "--lengths"),
            ]
            where given {
                throw ValidationError("--block-mask takes no \(flag): a block mask covers one packed sequence per head")
            }
            let blocks = maskBlock ?? (128, 128)
            p.mask = .blockSparse(
                try BlockMaskFile.load(blockMask, blocks: blocks, batch: p.batch, heads: p.heads, nq: p.n, nk: p.nk, inner: p.mask))
            (p.maskBlockQ, p.maskBlockK, p.blockMaskFile) = (blocks.0, blocks.1, blockMask)
        }
        // A schedule named with a mask it does not take (in `all` or `decode` it reports why).
        if let refused = scheduleOption.named.sorted(by: { $0.rawValue < $1.rawValue }).first(where: {
            $0.implementation?.masks.refusal(p.mask, schedule: $0) != nil
        }) {
            let flag = blockMask != nil ? "--block-mask" : documents != nil ? "--documents" : "--prefix"
            throw ValidationError(
                "\(refused.rawValue) takes none, causal, window and sink-token masks only; drop \(flag) or name another schedule")
        }
        if let maskBlock { (p.maskBlockQ, p.maskBlockK) = maskBlock }
        if let lengths {
            let parsed: SequenceLengths
            do { parsed = try SequenceLengths.parse(argument: lengths) } catch { throw ValidationError("--lengths: \(error.description)") }
            if let batch, batch != parsed.count {
                throw ValidationError("--batch (\(batch)) disagrees with --lengths, which gives \(parsed.count) sequences")
            }
            if self.nk != nil { throw ValidationError("--Nk and --lengths both give the keys per sequence; use one") }
            (p.batch, p.nk, p.lengthGroups) = (parsed.count, parsed.max, parsed.groups)
            try checkPrefix(&p, lengths: parsed)
        } else {
            try checkPrefix(&p, lengths: nil)
        }
        do { try p.validate() } catch { throw Wording.usage(error) }
        return p
    }

    /// `--documents` against the other flags: --N and --Nk, when given, must be their sum; no
    /// --lengths, --shared-prefix or paged cache; a named schedule must take documents, and flex
    /// runs them as a mask only. Returns N and Nk.
    private func checkDocuments(_ docs: SequenceLengths, n: Int, nk: Int?) throws -> (Int, Int) {
        for (flag, value) in [("--N", n), ("--Nk", nk ?? docs.sum)] where value != docs.sum {
            throw ValidationError("\(flag) (\(value)) disagrees with --documents, which add up to \(docs.sum) tokens; drop \(flag)")
        }
        for (flag, given) in [("--lengths", lengths != nil), ("--shared-prefix", sharedPrefix > 0), ("--kv-layout paged", kvLayout == .paged)]
        where given {
            throw ValidationError("--documents packs documents into one contiguous sequence and takes no \(flag)")
        }
        if scheduleOption.named.contains(.flex), (structure.packing ?? .varlen) == .varlen {
            throw ValidationError("flex runs documents under a block mask: add --packing mask")
        }
        return (docs.sum, docs.sum)
    }

    /// A knob given for schedules none of which takes it (each schedule declares its knobs).
    private func checkKnob(_ knob: ScheduleKnob) throws {
        let takers = ScheduleKind.taking(knob)
        guard !takers.contains(where: scheduleOption.mayRun) else { return }
        let names = takers.map(\.rawValue).joined(separator: ", ")
        throw ValidationError("--\(knob.rawValue) applies to the \(names) schedule\(takers.count == 1 ? "" : "s") only")
    }

    /// `--stages S` given: some schedule that runs must be built with S stages (those built with
    /// fewer take their deepest, as with `all`; docs/cli.md §2).
    private func checkStages(_ s: Int) throws {
        let takers = ScheduleKind.pipelined
        let running = takers.filter(scheduleOption.mayRun)
        guard !running.isEmpty else {
            throw ValidationError("--stages applies to the \(takers.map(\.rawValue).joined(separator: ", ")) schedules only")
        }
        guard running.contains(where: { $0.implementation?.pipelineStages?.contains(s) == true }) else {
            let ranges = running.compactMap { k in k.implementation?.pipelineStages.map { "\(k.rawValue) with \($0.lowerBound)–\($0.upperBound)" } }
            let deeper = takers.filter { $0.implementation?.pipelineStages?.contains(s) == true }.map(\.rawValue)
            throw ValidationError(
                "--stages \(s): \(ranges.joined(separator: ", ")) K/V stages are built"
                    + (deeper.isEmpty ? "" : "; \(s) stages apply to \(deeper.joined(separator: ", "))"))
        }
    }

    /// `--shared-prefix` and `--chunk` on the problem: P ≥ 0 and no longer than any sequence
    /// (naming the first sequence it does not fit), c ≥ 1, and chunk-attn only without GQA.
    private func checkPrefix(_ p: inout AttentionProblem, lengths parsed: SequenceLengths?) throws {
        try Wording.checkPositive("chunk", chunk, limit: Limits.maxSequence)
        guard sharedPrefix >= 0 else { throw ValidationError("--shared-prefix must be 0 or a positive number of tokens, got \(sharedPrefix)") }
        if let parsed, let i = parsed.values.firstIndex(where: { $0 < sharedPrefix }) {
            throw ValidationError(
                "--shared-prefix (\(sharedPrefix) tokens) is longer than sequence \(i + 1) of --lengths (\(parsed.values[i]) tokens)")
        }
        if parsed == nil, sharedPrefix > p.nk {
            throw ValidationError("--shared-prefix (\(sharedPrefix) tokens) is longer than the sequences (--Nk \(p.nk) tokens)")
        }
        if let kind = ScheduleKind.reading(.prefixChunks).first(where: scheduleOption.mayRun), p.kvHeads != p.heads {
            throw ValidationError(
                "\(kind.rawValue): ChunkAttention has no GQA (--kv-heads \(p.kvHeads) ≠ --heads \(p.heads)); give --kv-heads equal to --heads")
        }
        (p.sharedPrefix, p.chunk) = (sharedPrefix, chunk)
    }

    /// The tile request for `problem`: `--splits`, else FlashAttention-2's split heuristic on
    /// the `--hardware` GPU, else 1.
    func tileRequest(for problem: AttentionProblem) throws -> TileRequest {
        var r = TileRequest.defaults(for: problem, on: try hardwareModel())
        (r.br, r.bc, r.stages, r.warps) = (br, bc, stages, warps)
        if let tiles { (r.policy, r.policyExplicit) = (tiles, true) }
        if let splits { r.splits = splits }
        if let ctas { r.ctas = ctas }
        r.warpsExplicit = warpsOption != nil
        return r
    }

    /// Under a table with `--hardware`: which GPU, which M and why, and which tiles.
    func settingLines(_ hw: HardwareModel) -> String {
        let target = KernelTarget(hw)
        let name = TerminalText.escape(hw.name)
        let mLine =
            m == nil
            ? "M = \(hw.onChipPerBlock) B: its shared memory per block (\(hw.smemPerBlock) B) + register file (\(hw.registersPerSM) B), "
                + "everything a kernel keeps on chip (--M to change)"
            : "M = --M \(m!) as given"
        let tileLine: String =
            switch tilePolicy {
            case .kernel:
                "tiles: kernel, those FlashAttention's kernels launch with on \(target.rawValue) (docs/tiles.md); "
                    + "--tiles optimal gives each schedule at its best"
            case .optimal: "tiles: optimal, each schedule's least-traffic tiles (no kernel uses most of them)"
            case .auto: "tiles: auto, the largest-area feasible tiles"
            case .paper: "tiles: paper, the papers' rules"
            }
        return "hardware: \(name) (\(target.rawValue)); \(mLine)\n\(tileLine)\n"
    }

    /// `--tiles`, else `kernel` when `--hardware` names a GPU (its kernels' own tiles), else `optimal`.
    var tilePolicy: TilePolicy { tiles ?? TileRequest.defaultPolicy(hardware: hardware != nil) }

    /// M in bytes (`--M`, or the default of ``mSpec()``).
    func capacity() throws -> Int { try Units.bytes(mSpec()) }
}

/// The command line's words for the library's structured errors (the library names no flags).
enum Wording {
    /// The flag that sets a problem parameter.
    static func flag(_ parameter: ProblemParameter) -> String {
        switch parameter {
        case .n: "--N"
        case .nk: "--Nk"
        case .d: "--d"
        case .batch: "--batch"
        case .heads: "--heads"
        case .kvHeads: "--kv-heads"
        case .blockSize: "--block-size"
        case .chunk: "--chunk"
        }
    }

    /// A library error in the command line's words: flags where the library names a parameter.
    static func message(_ error: SimulationError) -> String {
        switch error {
        case let .notPositive(parameter, value):
            "\(flag(parameter)) must be a positive integer, got \(value)"
        case let .outOfRange(parameter, value, limit):
            "\(flag(parameter)) is \(value), above iosim's limit of \(limit)"
        case let .headsNotDivisible(heads, kvHeads):
            "--heads (\(heads)) must be a multiple of --kv-heads (\(kvHeads))"
        case let .invalidWindow(left, _, limit):
            left < 0
                ? "--window must be a positive integer, got \(left + 1)"
                : "--window is \(left + 1), above iosim's limit of \(limit)"
        case let .negativePrefix(prefix):
            "--shared-prefix must be 0 or a positive number of tokens, got \(prefix)"
        case let .sharedPrefixTooLong(prefix, length):
            "--shared-prefix (\(prefix) tokens) is longer than a sequence of \(length) tokens"
        case let .countOverflow(what):
            "\(what) would exceed 2^63 - 1 = 9223372036854775807, the largest count iosim reports; use a smaller --N, --batch or --heads"
        case let .dataModeMemory(schedule, needed, available):
            "data mode for \(schedule.rawValue) would need about \(megabytes(needed)) MB, more than the "
                + "\(available / 1_000_000) MB this process may use now (half the machine's memory, free memory, ulimit -v/-d and cgroup limits); use a smaller --N, --batch or --heads"
        default:
            error.description
        }
    }

    /// Whole megabytes (10⁶ bytes), exact digits while they fit in an Int.
    static func megabytes(_ bytes: Double) -> String {
        bytes / 1e6 < 1e15 ? "\(Int(bytes / 1e6))" : "\(bytes / 1e6)"
    }

    /// A problem's validation error as a usage error that names the flags (exit 64).
    static func usage(_ error: SimulationError) -> ValidationError { ValidationError(message(error)) }

    /// Runs `body`; a library error it throws becomes a run failure (exit 1) in the command
    /// line's words. Other errors pass through.
    static func running<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as SimulationError { throw RunFailure(message(error)) }
    }

    /// `--<name>` must be in 1...limit.
    static func checkPositive(_ name: String, _ value: Int, limit: Int) throws(ValidationError) {
        guard value > 0 else { throw ValidationError("--\(name) must be a positive integer, got \(value)") }
        guard value <= limit else { throw ValidationError("--\(name) is \(value), above iosim's limit of \(limit)") }
    }
}
