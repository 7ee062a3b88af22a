import ArgumentParser
import Foundation
import IOSim

/// `kv-memory`'s options, its own (the serving flags of `simulate` live in ProblemOptions).
struct KVMemoryOptions: ParsableArguments {
    @Option(help: "The batch's sequence lengths: a file with one length per line, or a comma-separated list (4096,512,77).")
    var lengths: String?
    @Option(
        parsing: .unconditional,
        help: "Sequences: the number of --lengths (must agree), or without --lengths that many sequences of --max-len tokens.")
    var batch: Int?
    @Option(
        name: .customLong("max-len"), parsing: .unconditional,
        help: "Tokens reserve holds per sequence (its per-sequence capacity; default: the longest length).", transform: Units.length)
    var maxLen: Int?
    @Option(
        name: .customLong("block-size"), parsing: .unconditional, help: "paged's block, in token slots (vLLM's default). (default: 16)",
        transform: Units.length)
    var blockSize: Int = 16
    @Option(
        parsing: .unconditional,
        help: "pow2's first capacity in tokens; it doubles when full (default 2048: the Paged-FlexAttention paper's memory steps past 2048 tokens).",
        transform: Units.length)
    var initial: Int = 2048
    @Option(help: "Workload model with a 'layers' field: a name in Models/workloads or a .json path.")
    var model: String
    @Option(help: "Element type of K and V.") var dtype: DType = .fp16
    @Option(help: "table, json or csv.") var format: OutputFormat = .table

    /// The batch's lengths from `--lengths` or `--batch`×`--max-len`, checked against each other
    /// and the limits; every mistake is a usage error (exit 64) naming its flag.
    func batchLengths() throws(ValidationError) -> SequenceLengths {
        if let batch { try Wording.checkPositive("batch", batch, limit: Limits.maxBatchOrHeads) }
        if let maxLen { try Wording.checkPositive("max-len", maxLen, limit: Limits.maxSequence) }
        try Wording.checkPositive("block-size", blockSize, limit: Limits.maxSequence)
        try Wording.checkPositive("initial", initial, limit: Limits.maxSequence)
        let parsed: SequenceLengths
        if let text = lengths {
            do { parsed = try SequenceLengths.parse(argument: text) } catch { throw ValidationError("--lengths: \(error)") }
            if let batch, batch != parsed.count {
                throw ValidationError(
                    "--batch \(batch) disagrees with --lengths, which gives \(parsed.count) sequences; drop --batch or make them agree")
            }
        } else {
            guard let batch, let maxLen else {
                throw ValidationError("give --lengths, or --batch and --max-len (that many sequences of --max-len tokens)")
            }
            do { parsed = try SequenceLengths(uniform: maxLen, batch: batch) } catch { throw ValidationError("\(error)") }
        }
        if let maxLen, maxLen < parsed.max {
            throw ValidationError("--max-len \(maxLen) is shorter than the longest sequence (\(parsed.max) tokens); reserve could not hold it")
        }
        return parsed
    }

    var parameters: KVCachePolicyParameters { KVCachePolicyParameters(maxLength: maxLen ?? 0, blockSize: blockSize, initial: initial) }
}

/// `iosim kv-memory`: KV-cache bytes allocated, used and wasted per allocation policy (docs/cli.md §7).
struct KVMemory: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv-memory",
        abstract: "KV-cache bytes per allocation policy (reserve, paged, pow2) for a batch of sequence lengths.",
        discussion: """
            A token takes 2 (K and V) · layers · kv_heads · d · bytes(dtype) in every policy; the
            policies differ in the token slots they allocate for a sequence of L tokens:
              reserve  --max-len slots (contiguous, reserved up front: FasterTransformer/Orca)
              paged    ⌈L/b⌉·b slots, b = --block-size (vLLM's PagedAttention)
              pow2     --initial slots, doubled until L fits (the Paged-FlexAttention paper's FMS
                       cache, arXiv:2506.07311: memory grows only past 2048 tokens)
            used = Σ L tokens' bytes, wasted = allocated − used, utilization = used / allocated.
            Examples:
              iosim kv-memory --model llama-2-7b --lengths 4096,512,77
              iosim kv-memory --model llama-3-8b --lengths lengths.txt --block-size 32 --format json
              iosim kv-memory --model llama-2-7b --batch 8 --max-len 3000 --initial 1024
            """
    )

    @OptionGroup var options: KVMemoryOptions

    func run() throws {
        // Checked here rather than in validate(), so that a million lengths are parsed once; a
        // ValidationError thrown from run() is still a usage error (exit 64).
        let lengths = try options.batchLengths()
        let model: WorkloadModel
        do { model = try ModelFile.workload(options.model) } catch { throw RunFailure("\(error)") }
        guard let layers = model.layers else {
            throw RunFailure("--model \(options.model) has no 'layers' field, which KV-cache memory needs (add it with its source)")
        }
        var p = options.parameters
        p.maxLength = options.maxLen ?? lengths.max
        let shape = KVCacheShape(layers: layers, kvHeads: model.kvHeads, d: model.d, dtype: options.dtype)
        let usage: [KVCacheUsage]
        // Every refusal here comes from the command line's numbers (a count past Int64): a usage error.
        do { usage = try KVCacheMemory.usage(lengths, shape: shape, p) } catch { throw ValidationError(Self.message(error)) }
        // Cannot fail: usage computed the same product.
        let perToken = (try? shape.bytesPerToken()) ?? 0
        let problem = KVMemoryProblem(model: model.name, shape: shape, lengths: lengths, parameters: p, bytesPerToken: perToken)
        switch options.format {
        case .table: Console.print(Self.table(problem, usage), terminator: "")
        case .json: Console.print(Self.json(problem, usage).text)
        case .csv: Console.print(([Self.csvHeader] + usage.map { Self.csvRow(problem, $0) }).joined(separator: "\n"))
        }
    }

    /// The library's errors in the command line's words.
    static func message(_ error: KVCacheMemoryError) -> String {
        switch error {
        case let .overflow(e):
            Wording.message(e).replacingOccurrences(of: "use a smaller --N, --batch or --heads", with: "use fewer or shorter sequences")
        default: error.description
        }
    }

    /// A row of the report: one policy's usage of the problem's cache.
    typealias Row = (problem: KVMemoryProblem, usage: KVCacheUsage)

    /// The report's columns, for CSV, JSON (each policy's object) and the table alike.
    static let columns: [Column<Row>] = [
        Column("policy", table: "policy") { .string($0.usage.policy.rawValue) },
        Column("model", json: false) { .string($0.problem.model) },
        Column("layers", json: false) { .int($0.problem.shape.layers) },
        Column("kv_heads", json: false) { .int($0.problem.shape.kvHeads) },
        Column("d", json: false) { .int($0.problem.shape.d) },
        Column("dtype", json: false) { .string($0.problem.shape.dtype.rawValue) },
        Column("batch", json: false) { .int($0.problem.lengths.count) },
        Column("tokens", json: false) { .int($0.problem.lengths.sum) },
        Column("max_len", json: false) { .int($0.problem.parameters.maxLength) },
        Column("block_size", json: false) { .int($0.problem.parameters.blockSize) },
        Column("initial", json: false) { .int($0.problem.parameters.initial) },
        Column("bytes_per_token", json: false) { .int($0.problem.bytesPerToken) },
        Column("allocated_tokens", json: false) { .int($0.usage.allocatedTokens) },
        Column("allocated_bytes", table: "allocated_bytes") { .int($0.usage.allocatedBytes) },
        Column("used_bytes", table: "used_bytes") { .int($0.usage.usedBytes) },
        Column("wasted_bytes", table: "wasted_bytes") { .int($0.usage.wastedBytes) },
        Column(
            "allocated_GiB", csv: false, json: false, table: "allocated_GiB",
            tableText: { Render.fixed(Double($0.usage.allocatedBytes) / 1_073_741_824, 3) }
        ) {
            .double(Double($0.usage.allocatedBytes) / 1_073_741_824)
        },
        Column("utilization", table: "utilization", tableText: { Render.fixed(100 * $0.usage.utilization, 2) + "%" }) {
            .double($0.usage.utilization)
        },
    ]

    static func json(_ p: KVMemoryProblem, _ usage: [KVCacheUsage]) -> JSON {
        .object([("problem", p.json), ("policies", .array(usage.map { columns.jsonObject((p, $0)) }))])
    }

    static var csvHeader: String { columns.csvHeader() }

    static func csvRow(_ p: KVMemoryProblem, _ u: KVCacheUsage) -> String { columns.csvRow((p, u)) }

    static func table(_ p: KVMemoryProblem, _ usage: [KVCacheUsage]) -> String {
        let s = p.shape
        var out = "KV cache of \(p.model): \(s.layers) layers × (K and V) × \(s.kvHeads) KV heads × d = \(s.d), \(s.dtype.rawValue): "
        out += "\(p.bytesPerToken) bytes per token\n"
        out +=
            "\(p.lengths.count) sequence\(p.lengths.count == 1 ? "" : "s"), \(p.lengths.sum) tokens, longest \(p.lengths.max); reserve \(p.parameters.maxLength) per sequence, "
        out += "paged blocks of \(p.parameters.blockSize), pow2 from \(p.parameters.initial)\n"
        for line in TextTable.lines(columns.tableRows(usage.map { (p, $0) })) { out += line + "\n" }
        return out
    }
}

/// What `kv-memory` computed for: the model's shape, the batch and the policies' parameters.
struct KVMemoryProblem {
    var model: String
    var shape: KVCacheShape
    var lengths: SequenceLengths
    var parameters: KVCachePolicyParameters
    var bytesPerToken: Int

    var json: JSON {
        .object([
            ("model", .string(model)), ("layers", .int(shape.layers)), ("kv_heads", .int(shape.kvHeads)), ("d", .int(shape.d)),
            ("dtype", .string(shape.dtype.rawValue)), ("batch", .int(lengths.count)), ("tokens", .int(lengths.sum)),
            ("longest", .int(lengths.max)), ("max_len", .int(parameters.maxLength)), ("block_size", .int(parameters.blockSize)),
            ("initial", .int(parameters.initial)), ("bytes_per_token", .int(bytesPerToken)),
        ])
    }
}
