import AttentionReference

/// Q, K and V for an attention shape, uniform in `range`, from the seeds `seed`, `seed + 1` and
/// `seed + 2` (`randomArray`).
public struct AttentionInputs: Sendable {
    public var q: [Double], k: [Double], v: [Double]

    public init(_ shape: AttentionShape, seed: UInt64, range: ClosedRange<Double> = -1...1) {
        q = randomArray(shape.qCount, seed: seed, in: range)
        k = randomArray(shape.kCount, seed: seed &+ 1, in: range)
        v = randomArray(shape.vCount, seed: seed &+ 2, in: range)
    }
}

extension AttentionInputs {
    /// The three tensors, to destructure: `let (q, k, v) = AttentionInputs(shape, seed: 1).qkv`.
    public var qkv: (q: [Double], k: [Double], v: [Double]) { (q, k, v) }
}
