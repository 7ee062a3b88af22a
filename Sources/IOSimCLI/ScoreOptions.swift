import ArgumentParser
import IOSim
import NpyIO

/// `--softcap`, `--alibi-slopes` and `--sink-logits` (docs/cli.md §2, "Score modifications"), in
/// `attention` and `check`: what the kernel did to its scores besides masking them.
struct ScoreOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Soft cap C: scaled scores s become C·tanh(s/C) (FlashAttention's softcap, Gemma 2).", valueName: "C"))
    var softcap: Double?
    @Option(
        help: ArgumentHelp(
            "ALiBi: s − slope·|pos(r) − c| per query head; a .npy of one fp32 or fp64 slope per query head, or 'standard' (2^(−8(h+1)/heads), heads a power of two).",
            valueName: "file|standard"))
    var alibiSlopes: String?
    @Option(
        help: ArgumentHelp(
            "Sink logits (gpt-oss): a .npy of one fp32 or fp64 logit per query head, added to each row's softmax denominator only.",
            valueName: "file"))
    var sinkLogits: String?

    /// The modification for `heads` query heads; a refusal is one line naming the flag.
    func modification(heads: Int) throws(ValidationError) -> ScoreModification {
        var m = ScoreModification()
        if let c = softcap {
            guard c.isFinite, c > 0 else { throw ValidationError("--softcap must be a positive finite number, got \(c)") }
            m.softcap = c
        }
        if let slopes = alibiSlopes {
            if slopes == "standard" {
                guard let standard = ScoreModification.standardSlopes(heads: heads) else {
                    throw ValidationError(
                        "--alibi-slopes standard needs a power-of-two head count, not \(heads); pass the slopes as a .npy of \(heads) values")
                }
                m.alibiSlopes = standard
            } else {
                m.alibiSlopes = try Self.perHead(slopes, flag: "--alibi-slopes", heads: heads)
            }
        }
        if let sinks = sinkLogits { m.sinkLogits = try Self.perHead(sinks, flag: "--sink-logits", heads: heads) }
        do { try m.validate(heads: heads) } catch {
            throw ValidationError("\(m.flags.joined(separator: ", ")): \(error.description)")
        }
        return m
    }

    /// A 1-D float array of one value per query head.
    static func perHead(_ path: String, flag: String, heads: Int) throws(ValidationError) -> [Double] {
        let a: NpyArray
        do { a = try AtomicFiles.readNpy(path) } catch { throw ValidationError("\(flag) \(path): \(error.description)") }
        guard a.dtype == .float32 || a.dtype == .float64 else {
            throw ValidationError("\(flag) \(path) holds \(a.dtype.rawValue); give fp32 or fp64 values, one per query head")
        }
        guard a.shape == [heads] else { throw ValidationError("\(flag) \(path) has shape \(a.shape); give [\(heads)], one value per query head") }
        return a.data
    }
}
