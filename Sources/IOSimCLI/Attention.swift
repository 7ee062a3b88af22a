import ArgumentParser
import AttentionReference
import IOSim
import NpyIO

/// `iosim attention`: the exact fp64 reference on `.npy` inputs.
struct Attention: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compute exact attention (fp64) from .npy files: O = softmax(scale·QKᵀ + mask)·V.",
        discussion: """
            Inputs are NumPy .npy files (float64, float32 or float16, little-endian, C order; bfloat16
            and fp8 raw bits with --bf16-bits and --fp8-bits, as for check) of shape [N, d],
            [heads, N, d] or [batch, heads, N, d]; K and V may have fewer heads than Q (GQA/MQA) and
            their own length. With --dtype the inputs are first rounded to that format, as a kernel in
            it sees them (the arithmetic stays fp64): the reference iosim check compares with.
            Outputs are float64: O [.., Nq, dv] and, with --lse, the log-sum-exp of each row [.., Nq].
            With --do (dO = ∂L/∂O, shaped as O) the exact fp64 gradients are written too: --dq [.., Nq, d],
            --dk [.., Nk, d] and --dv [.., Nk, dv] (any of them; with GQA, dK and dV of a K/V head sum
            its query heads). They are computed in the same pass as O, which stays bitwise the same.
            NaN or Inf in the inputs propagate to the rows they touch (also with --scale 0). --scale may
            be negative or zero (--scale -1 and --scale=-1 both work).

            Outputs are all-or-none: every destination is checked before any work (a folder, block
            device or socket is refused; so are two outputs that are the same file, and an output that
            is one of the inputs --q/--k/--v/--do, however spelled: ./q.npy, a symbolic link, a hard link);
            each output is then written to a uniquely named temporary file in its destination's folder,
            flushed, and all are renamed over their destinations only when every one was written.
            A symbolic link is followed: its target is replaced and the link stays a link (as cp and
            shell redirection do). A character device or FIFO (/dev/null, /dev/stdout, a named pipe) is
            written through, never replaced; a write error there (/dev/full) fails the run before any
            rename, but what a device already received cannot be taken back.
            """
    )

    @Option(help: "Query array (.npy).") var q: String
    @Option(help: "Key array (.npy).") var k: String
    @Option(help: "Value array (.npy).") var v: String
    @Option(help: "Where to write O (.npy, float64).") var out: String
    @Option(help: "Where to write the row log-sum-exp (.npy, float64).") var lse: String?
    @Flag(help: "Causal mask (top-left aligned as PyTorch's is_causal; see --alignment).") var causal = false
    @Option(
        parsing: .unconditional,
        help: ProblemOptions.windowHelp, transform: Units.length)
    var window: Int?
    @OptionGroup var windowSides: WindowSides
    @OptionGroup var structure: StructureFlags
    @OptionGroup var scores: ScoreOptions
    @Option(
        help: ArgumentHelp(
            "The arrays' axis order, inputs and outputs: bhsd (default), bshd (FlashAttention's [batch, seqlen, heads, d]) or thd (varlen's packed [total_tokens, heads, d], with --documents); the LSE is [batch, heads, N] or [heads, total].",
            valueName: "layout"))
    var layout: CheckLayout = .bhsd
    @Option(
        help: ArgumentHelp(
            "Round Q, K, V (and dO) to this format first, as a kernel in it sees them (fp8: e4m3).", valueName: "dtype"))
    var dtype: DType?
    @OptionGroup var rawBits: RawBitsOptions
    @Option(help: "Where the causal diagonal sits when Nq ≠ Nk (default: top-left, as PyTorch).")
    var alignment: CausalAlignment?
    /// `.unconditional` so that a negative scale (`--scale -1`) is read as the value, not as a flag.
    @Option(parsing: .unconditional, help: "Score scale (default 1/√d; may be negative or 0).") var scale: Double?
    /// `do` is a Swift keyword, hence the property's other name.
    @Option(name: .customLong("do"), help: "Gradient of the loss with respect to O (.npy, shaped as O).")
    var upstream: String?
    @Option(help: "Where to write dQ (.npy, float64; needs --do).") var dq: String?
    @Option(help: "Where to write dK (.npy, float64; needs --do).") var dk: String?
    @Option(help: "Where to write dV (.npy, float64; needs --do).") var dv: String?

    /// The gradient outputs asked for, by flag.
    var gradientOutputs: [(flag: String, path: String)] {
        [("--dq", dq), ("--dk", dk), ("--dv", dv)].compactMap { flag, path in path.map { (flag, $0) } }
    }

    /// Checks the options and every destination (see the discussion) before reading or computing
    /// anything, then writes all outputs or none.
    func validate() throws {
        if let scale, !scale.isFinite { throw ValidationError("--scale must be finite, got \(scale)") }
        _ = try mask()
        _ = try rawFormats()
        if upstream == nil, let first = gradientOutputs.first {
            throw ValidationError("\(first.flag) needs --do, the gradient of the loss with respect to O (.npy, shaped as O)")
        }
        if upstream != nil, gradientOutputs.isEmpty {
            throw ValidationError("--do is only read for gradients; add --dq, --dk and/or --dv")
        }
    }

    /// The mask of `--causal`, `--window`, `--window-left/right`; top-left unless `--alignment`.
    func mask() throws(ValidationError) -> AttentionMask {
        try MaskFlags.mask(causal: causal, window: window, sides: windowSides, structure: structure, alignment: alignment ?? .topLeft)
    }

    /// `--bf16-bits` and `--fp8-bits`, a bad value a usage error.
    func rawFormats() throws -> [Npy.RawFormat] {
        do { return try rawBits.formats() } catch { throw ValidationError(error.message) }
    }

    func run() throws {
        var outputs = [(flag: "--out", path: out)]
        if let lse { outputs.append((flag: "--lse", path: lse)) }
        outputs += gradientOutputs
        var inputs = [(flag: "--q", path: q), (flag: "--k", path: k), (flag: "--v", path: v)]
        if let upstream { inputs.append((flag: "--do", path: upstream)) }
        try AtomicFiles.checkDestinations(outputs, inputs: inputs)
        let raws = try rawFormats()
        if layout == .thd && structure.documents == nil {
            throw ValidationError("--layout thd is varlen's packed layout: give --documents (the lengths its cu_seqlens hold)")
        }
        /// An input read with the first raw format it takes, in bhsd order, rounded to `--dtype`.
        func read(_ path: String) throws -> NpyArray {
            var a = try Npy.RawFormat.first(raws) { (raw) throws(NpyError) in try AtomicFiles.readNpy(path, raw: raw) }
            if layout != .bhsd {
                if let want = layout.refusal(a) { throw RunFailure("\(path) has shape \(a.shape); --layout \(layout.rawValue) takes \(want)") }
                a = CheckLayout.swapped(a)
            }
            guard let p = dtype?.precision else { return a }
            return NpyArray(shape: a.shape, data: p.round(a.data))
        }
        /// An output in the layout's order (the LSE is not passed here).
        func encoded(_ a: NpyArray) -> [UInt8] { Npy.encode(layout == .bhsd ? a : CheckLayout.swapped(a)) }
        let (qa, ka, va) = (try read(q), try read(k), try read(v))
        let shape = try Self.shape(q: qa, k: ka, v: va)
        let lead = Array(qa.shape.dropLast(2))
        let oShape = lead + [shape.nq, shape.dv]
        let mask = try mask()
        let modification = try scores.modification(heads: shape.heads)
        let result: AttentionResult<Double>
        var gradients: AttentionGradients<Double>?
        if let upstream {
            let doa = try read(upstream)
            guard doa.shape == oShape else {
                throw RunFailure("do has shape \(doa.shape) but O has shape \(oShape); --do must be shaped as O")
            }
            (result, gradients) = try ReferenceGradients.forwardBackward(
                q: qa.data, k: ka.data, v: va.data, dO: doa.data, shape: shape, mask: mask, scale: scale, modification: modification)
        } else {
            result = try ReferenceAttention.forward(
                q: qa.data, k: ka.data, v: va.data, shape: shape, mask: mask, scale: scale, modification: modification)
        }
        var files = [(out, encoded(NpyArray(shape: oShape, data: result.o)))]
        if let lse { files.append((lse, Npy.encode(NpyArray(shape: lead + [shape.nq], data: result.lse)))) }
        if let gradients {
            let kLead = Array(ka.shape.dropLast(2))
            for (path, dims, data) in [
                (dq, lead + [shape.nq, shape.d], gradients.dq), (dk, kLead + [shape.nk, shape.d], gradients.dk),
                (dv, kLead + [shape.nk, shape.dv], gradients.dv),
            ] {
                if let path { files.append((path, encoded(NpyArray(shape: dims, data: data)))) }
            }
        }
        try AtomicFiles.write(files)
    }

    /// Reads the attention shape off the three arrays, or says which one does not fit.
    static func shape(q: NpyArray, k: NpyArray, v: NpyArray) throws -> AttentionShape {
        for (name, a) in [("q", q), ("k", k), ("v", v)] {
            guard (2...4).contains(a.shape.count) else {
                throw RunFailure("\(name) has shape \(a.shape); expected [N, d], [heads, N, d] or [batch, heads, N, d]")
            }
            guard !a.shape.contains(0) else { throw RunFailure("\(name) is empty (shape \(a.shape))") }
        }
        guard q.shape.count == k.shape.count, k.shape.count == v.shape.count else {
            throw RunFailure("q, k and v must have the same number of dimensions; got \(q.shape), \(k.shape), \(v.shape)")
        }
        if q.shape.count == 3 {
            // [heads, N, d]: one batch.
            func batched(_ a: NpyArray) -> NpyArray { NpyArray(shape: [1] + a.shape, data: a.data) }
            return try shape(q: batched(q), k: batched(k), v: batched(v))
        }
        let (qs, ks, vs) = (q.shape.suffix(2).map { $0 }, k.shape.suffix(2).map { $0 }, v.shape.suffix(2).map { $0 })
        guard qs[1] == ks[1] else { throw RunFailure("q has d = \(qs[1]) but k has d = \(ks[1])") }
        guard ks[0] == vs[0] else { throw RunFailure("k has \(ks[0]) rows but v has \(vs[0])") }
        var batch = 1, heads = 1, kvHeads = 1
        if q.shape.count == 4 {
            (batch, heads, kvHeads) = (q.shape[0], q.shape[1], k.shape[1])
            guard k.shape[0] == batch, v.shape[0] == batch else {
                throw RunFailure("batch sizes differ: q \(batch), k \(k.shape[0]), v \(v.shape[0])")
            }
            guard v.shape[1] == kvHeads else { throw RunFailure("k has \(kvHeads) heads but v has \(v.shape[1])") }
            guard heads % kvHeads == 0 else {
                throw RunFailure("q's heads (\(heads)) must be a multiple of k's heads (\(kvHeads))")
            }
        }
        return AttentionShape(batch: batch, heads: heads, kvHeads: kvHeads, nq: qs[0], nk: ks[0], d: qs[1], dv: vs[1])
    }
}
