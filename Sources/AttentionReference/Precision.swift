import RealModule

/// A floating-point format that an implementation computes or stores in, emulated on the CPU by
/// rounding fp64 values to it (round to nearest, ties to even).
///
/// Overflow: fp16, bf16 and fp8 e5m2 have infinities and overflow to ±∞, as IEEE conversion does.
/// fp8 e4m3 (the OCP "FN" variant: no infinity, max 448, S.1111.111 is NaN) saturates to ±448 by
/// default, as FP8 kernels convert (`satfinite`); with `saturating: false` it gives NaN instead.
/// NaN stays NaN; signed zeros keep their sign; subnormals of each format are produced.
public enum Precision: String, Sendable, CaseIterable, CustomStringConvertible {
    case fp64, fp32, fp16, bf16, fp8e4m3, fp8e5m2

    /// Explicit mantissa bits.
    public var mantissaBits: Int {
        switch self {
        case .fp64: 52
        case .fp32: 23
        case .fp16: 10
        case .bf16: 7
        case .fp8e4m3: 3
        case .fp8e5m2: 2
        }
    }

    /// Exponent of the smallest normal number.
    public var minExponent: Int {
        switch self {
        case .fp64: -1022
        case .fp32, .bf16: -126
        case .fp16, .fp8e5m2: -14
        case .fp8e4m3: -6
        }
    }

    /// The largest finite value.
    public var greatestFinite: Double {
        switch self {
        case .fp64: .greatestFiniteMagnitude
        case .fp32: Double(Float.greatestFiniteMagnitude)
        case .fp16: 65504
        case .bf16: Double(sign: .plus, exponent: 127, significand: 2 - 1.0 / 128)
        case .fp8e4m3: 448
        case .fp8e5m2: 57344
        }
    }

    /// Storage size in bytes.
    public var byteSize: Int {
        switch self {
        case .fp64: 8
        case .fp32: 4
        case .fp16, .bf16: 2
        case .fp8e4m3, .fp8e5m2: 1
        }
    }

    /// The spacing of this format's numbers at magnitude `x` (its ulp), at least the subnormal spacing.
    public func ulp(at x: Double) -> Double {
        let a = Swift.abs(x)
        guard a.isFinite, a > 0 else { return Double(sign: .plus, exponent: minExponent - mantissaBits, significand: 1) }
        let e = Swift.max(Int(a.exponent), minExponent)
        return Double(sign: .plus, exponent: e - mantissaBits, significand: 1)
    }

    /// Rounds `x` to this format (the result is exactly representable in it).
    public func round(_ x: Double, saturating: Bool = true) -> Double {
        switch self {
        case .fp64: return x
        case .fp32: return Double(Float(x))
        default: break
        }
        guard x.isFinite else {
            if x.isNaN || self != .fp8e4m3 { return x }
            return saturating ? (x > 0 ? greatestFinite : -greatestFinite) : .nan
        }
        if x == 0 { return x }
        let quantum = ulp(at: x)
        // Scaling by a power of two is exact, so this is a single correct rounding.
        let r = (x / quantum).rounded(.toNearestOrEven) * quantum
        if Swift.abs(r) <= greatestFinite { return r == 0 ? (x < 0 ? -0.0 : 0.0) : r }
        if self == .fp8e4m3 { return saturating ? (x > 0 ? greatestFinite : -greatestFinite) : .nan }
        return x > 0 ? .infinity : -.infinity
    }

    /// Rounds every element.
    /// A softmax probability p ∈ [0, 1] as it enters the PV tensor-core GEMM in this format.
    /// fp8 kernels scale P by 2⁸ before the cast and back after (exact: a power of two), so small
    /// probabilities land in e4m3's normal range instead of underflowing (FlashAttention-3's
    /// practice; analysed in Lau 2026, "P-Cast Precision in FP8 Attention", arXiv:2606.06521).
    public func roundProbability(_ p: Double) -> Double {
        switch self {
        case .fp8e4m3, .fp8e5m2: round(p * 256) / 256
        default: round(p)
        }
    }

    public func round(_ xs: [Double], saturating: Bool = true) -> [Double] {
        xs.map { round($0, saturating: saturating) }
    }

    public var description: String { rawValue }
}
