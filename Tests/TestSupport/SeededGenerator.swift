/// The tests' one source of pseudo-random numbers: a fixed seed gives the same stream on every
/// machine and every run.
///
/// Two algorithms:
/// - `.splitMix64` (Steele, Lea and Flood 2014), the default, for everything the tests invent;
/// - `.mmixLCG`, Knuth's MMIX 64-bit linear congruential generator
///   (x ← 6364136223846793005·x + 1442695040888963407 mod 2⁶⁴, `next()` returns the new x), which
///   is the generator of the CUDA driver (`Backends/CUDA/driver.cu`): recorded kernel runs name a
///   seed, and their inputs are regenerated from it bit for bit.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public enum Algorithm: Sendable {
        case splitMix64
        case mmixLCG
    }

    public private(set) var state: UInt64
    public let algorithm: Algorithm

    public init(seed: UInt64, algorithm: Algorithm = .splitMix64) {
        state = seed
        self.algorithm = algorithm
    }

    public mutating func next() -> UInt64 {
        switch algorithm {
        case .splitMix64:
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        case .mmixLCG:
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
    }

    /// A number in `0..<n` (0 when `n` ≤ 1), as `next() % n`: one draw whatever `n`, so that a
    /// fuzzer's stream does not depend on the sizes it meets. The modulo bias is no matter here.
    public mutating func below(_ n: Int) -> Int {
        Int(next() % UInt64(Swift.max(n, 1)))
    }

    /// One element of a non-empty collection, by `below(count)`.
    public mutating func pick<C: Collection>(_ elements: C) -> C.Element {
        precondition(!elements.isEmpty, "pick from an empty collection")
        return elements[elements.index(elements.startIndex, offsetBy: below(elements.count))]
    }

    /// `count` doubles uniform in `range` (the standard library's `Double.random(in:using:)`).
    public mutating func doubles(_ count: Int, in range: ClosedRange<Double> = -1...1) -> [Double] {
        (0..<count).map { _ in Double.random(in: range, using: &self) }
    }
}

/// `count` doubles uniform in `range` from a SplitMix64 stream started at `seed`.
public func randomArray(_ count: Int, seed: UInt64, in range: ClosedRange<Double> = -1...1) -> [Double] {
    var g = SeededGenerator(seed: seed)
    return g.doubles(count, in: range)
}
