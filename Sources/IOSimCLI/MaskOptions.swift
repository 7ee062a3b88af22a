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
