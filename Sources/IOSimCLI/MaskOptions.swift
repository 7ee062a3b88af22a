import ArgumentParser
import IOSim

/// `--window-left A` and `--window-right B`: a two-sided window (FlashAttention's
/// `window_size = (A, B)`, docs/cli.md §2), shared by every command that takes a mask.
struct WindowSides: ParsableArguments {
    @Option(
        name: .customLong("window-left"), parsing: .unconditional,
        help: ArgumentHelp(
            "Keys a query at position pos sees to its left: pos − A … pos (FlashAttention's window_size[0]); alone it leaves the right side unbounded and implies nothing causal.",
            valueName: "A"), transform: Units.length)
    var left: Int?
    @Option(
        name: .customLong("window-right"), parsing: .unconditional,
        help: ArgumentHelp(
            "Keys to its right: pos … pos + B (window_size[1]); alone it leaves the left side unbounded; --causal is B = 0.",
            valueName: "B"), transform: Units.length)
    var right: Int?
}

/// The one place the command line's mask flags become an ``AttentionMask`` (docs/cli.md §2):
/// `--window L` is (L − 1, 0); `--window-left A` / `--window-right B` a two-sided window, either
/// side unbounded when its flag is absent (unless `--causal` bounds the right at 0); `--causal`
/// alone the causal mask. `alignment` places the diagonal of any of them.
enum MaskFlags {
    /// A side no flag bounds: as far as any key a problem can have (every position and key is
    /// below iosim's limit on lengths, so a side this wide sees to the end).
    static let unbounded = Limits.maxSequence - 1

    static func mask(
        causal: Bool, window: Int?, sides: WindowSides, alignment: CausalAlignment
    ) throws(ValidationError) -> AttentionMask {
        if let window {
            try Wording.checkPositive("window", window, limit: Limits.maxSequence)
            guard sides.left == nil, sides.right == nil else {
                throw ValidationError("--window L is --window-left L−1 --window-right 0; give one or the other, not both")
            }
            return .slidingWindow(left: window - 1, right: 0, alignment: alignment)
        }
        guard sides.left != nil || sides.right != nil else { return causal ? .causal(alignment) : .none }
        for (flag, value) in [("--window-left", sides.left), ("--window-right", sides.right)] {
            if let value, value < 0 { throw ValidationError("\(flag) must be 0 or a positive number of keys, got \(value)") }
            if let value, value > unbounded {
                throw ValidationError("\(flag) is \(value), above iosim's limit of \(unbounded)")
            }
        }
        if causal, let right = sides.right, right > 0 {
            throw ValidationError("--causal sees no key to the right (--window-right 0); --window-right \(right) contradicts it")
        }
        let right = sides.right ?? (causal ? 0 : unbounded)
        return .slidingWindow(left: sides.left ?? unbounded, right: right, alignment: alignment)
    }
}

/// `--sink-tokens`, `--prefix`, `--documents` and `--packing`: the mask's structure beyond a
/// window (docs/cli.md §2), shared by every command that takes a mask.
struct StructureFlags: ParsableArguments {
    @Option(
        name: .customLong("sink-tokens"), parsing: .unconditional,
        help: ArgumentHelp(
            "StreamingLLM's sink tokens: the first S keys (of each document) are seen by every row at or past them, whatever the window.",
            valueName: "S"), transform: Units.length)
    var sinkTokens: Int?
    @Option(
        name: .customLong("prefix"), parsing: .unconditional,
        help: ArgumentHelp(
            "Prefix-LM: the first P keys (of each document) are seen by every row; needs --causal, --window or --window-right 0.",
            valueName: "P"), transform: Units.length)
    var prefix: Int?
    @Option(
        name: .customLong("documents"),
        help: ArgumentHelp(
            "Documents packed into each sequence: a file with one length per line, or a comma list; a row sees keys of its own document only. --N defaults to their sum.",
            valueName: "FILE|a,b,c"))
    var documents: String?
    @Option(
        name: .customLong("packing"),
        help: ArgumentHelp(
            "How documents run: varlen (each its own problem, FlashAttention's cu_seqlens; default) or mask (one sequence under a document mask).",
            valueName: "varlen|mask"))
    var packing: Packing?

    /// The parsed document lengths, or nil without `--documents`.
    func documentLengths() throws(ValidationError) -> SequenceLengths? {
        guard let documents else {
            if packing != nil { throw ValidationError("--packing says how documents run; give --documents") }
            return nil
        }
        do { return try SequenceLengths.parse(argument: documents) } catch { throw ValidationError("--documents: \(error.description)") }
    }

    /// Whether any structure flag is given.
    var isEmpty: Bool { sinkTokens == nil && prefix == nil && documents == nil }
}

extension Packing: ExpressibleByArgument {}

extension MaskFlags {
    /// The mask of the window flags with the structure flags on top: a ``StructuredMask`` when
    /// sinks, a prefix or documents are given, else the window mask alone.
    static func mask(
        causal: Bool, window: Int?, sides: WindowSides, structure: StructureFlags, alignment: CausalAlignment
    ) throws(ValidationError) -> AttentionMask {
        let base = try mask(causal: causal, window: window, sides: sides, alignment: alignment)
        let documents = try structure.documentLengths()
        guard !structure.isEmpty else { return base }
        for (flag, value) in [("--sink-tokens", structure.sinkTokens), ("--prefix", structure.prefix)] {
            if let value, value < 0 { throw ValidationError("\(flag) must be 0 or a positive number of keys, got \(value)") }
            if let value, value > Limits.maxSequence { throw ValidationError("\(flag) is \(value), above iosim's limit of \(Limits.maxSequence)") }
        }
        if let prefix = structure.prefix, prefix > 0, !base.seesNothingRight {
            throw ValidationError("--prefix needs a mask that sees nothing to the right: add --causal, --window L or --window-right 0")
        }
        return .structured(
            StructuredMask(
                base: base, sinkTokens: structure.sinkTokens ?? 0, prefix: structure.prefix ?? 0, documents: documents?.values ?? []))
    }
}
