/// Exact conversions between fp64 and the 16- and 8-bit float formats `.npy` files carry:
/// decoding is exact (every value of these formats is an fp64 value), encoding rounds to nearest,
/// ties to even, in one step from fp64 (never through fp32, which would round twice).
///
/// fp16 is IEEE binary16; bfloat16 the top half of binary32; the fp8 formats follow the OCP
/// 8-bit floating point specification (OFP8, rev. 1.0, 2023): E5M2 is IEEE-like (bias 15,
/// infinities, NaNs), E4M3 is the "FN" variant (bias 7, no infinities, only S.1111.111 is NaN,
/// largest finite 448 = S.1111.110).
public struct SmallFloat: Sendable, Equatable {
    public let exponentBits: Int
    public let mantissaBits: Int
    /// Whether the all-ones exponent means infinity/NaN (IEEE) or is a normal binade (E4M3FN).
    public let ieeeSpecials: Bool

    public static let float16 = SmallFloat(exponentBits: 5, mantissaBits: 10, ieeeSpecials: true)
    public static let bfloat16 = SmallFloat(exponentBits: 8, mantissaBits: 7, ieeeSpecials: true)
    public static let float8e4m3fn = SmallFloat(exponentBits: 4, mantissaBits: 3, ieeeSpecials: false)
    public static let float8e5m2 = SmallFloat(exponentBits: 5, mantissaBits: 2, ieeeSpecials: true)

    /// The codec of a small `.npy` element type; nil for fp32 and fp64.
    public static func of(_ dtype: NpyArray.DType) -> SmallFloat? {
        switch dtype {
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .float8e4m3fn: .float8e4m3fn
        case .float8e5m2: .float8e5m2
        case .float32, .float64: nil
        }
    }

    var bias: Int { (1 << (exponentBits - 1)) - 1 }
    var width: Int { 1 + exponentBits + mantissaBits }
    var signBit: UInt32 { 1 << UInt32(exponentBits + mantissaBits) }
    var maxField: Int { (1 << exponentBits) - 1 }

    /// The largest finite value: 65504 (fp16), ≈3.39e38 (bf16), 448 (E4M3FN), 57344 (E5M2).
    public var greatestFinite: Double {
        let top = ieeeSpecials ? maxField - 1 : maxField
        // E4M3FN's top binade loses its all-ones mantissa to NaN.
        let mantissa = ieeeSpecials ? (1 << mantissaBits) - 1 : (1 << mantissaBits) - 2
        return Double(sign: .plus, exponent: top - bias, significand: 1 + Double(mantissa) / Double(1 << mantissaBits))
    }

    /// The value of the bit pattern `bits` (its low `width` bits).
    public func decode(_ bits: UInt32) -> Double {
        let negative = bits & signBit != 0
        let field = Int(bits >> UInt32(mantissaBits)) & maxField
        let mantissa = Int(bits) & ((1 << mantissaBits) - 1)
        let magnitude: Double
        if field == maxField && ieeeSpecials {
            magnitude = mantissa == 0 ? .infinity : .nan
        } else if field == maxField && mantissa == (1 << mantissaBits) - 1 {
            magnitude = .nan  // E4M3FN: S.1111.111
        } else if field == 0 {
            magnitude = Double(sign: .plus, exponent: 1 - bias - mantissaBits, significand: Double(mantissa))
        } else {
            magnitude = Double(sign: .plus, exponent: field - bias - mantissaBits, significand: Double((1 << mantissaBits) | mantissa))
        }
        return negative ? -magnitude : magnitude
    }

    /// The bit pattern of `x` rounded to nearest, ties to even. Overflow gives infinity in the
    /// IEEE-like formats and NaN in E4M3FN (which has no infinity; as ml_dtypes and a
    /// non-saturating cast do). NaN gives the quiet NaN with `x`'s sign; signed zeros keep their sign.
    public func encode(_ x: Double) -> UInt32 {
        let sign: UInt32 = x.sign == .minus ? signBit : 0
        // The quiet NaN: IEEE's top mantissa bit; E4M3FN's only NaN, all ones.
        let nanMantissa = ieeeSpecials ? 1 << (mantissaBits - 1) : (1 << mantissaBits) - 1
        let nanBits = UInt32((maxField << mantissaBits) | nanMantissa)
        if x.isNaN { return sign | nanBits }
        let overflow = ieeeSpecials ? UInt32(maxField << mantissaBits) : nanBits
        if x.isInfinite { return sign | overflow }
        let a = Swift.abs(x)
        if a == 0 { return sign }
        let minNormal = 1 - bias
        // One rounding: scale so the quantum (ulp of the target format at a) is 1; powers of two are exact.
        let exponent = Swift.max(Int(a.exponent), minNormal)
        let quantum = Double(sign: .plus, exponent: exponent - mantissaBits, significand: 1)
        let r = (a / quantum).rounded(.toNearestOrEven) * quantum
        if r > greatestFinite { return sign | overflow }
        if r < Double(sign: .plus, exponent: minNormal, significand: 1) {
            let m = UInt32(r / Double(sign: .plus, exponent: minNormal - mantissaBits, significand: 1))
            return sign | m  // subnormal or zero (field 0)
        }
        let e = Int(r.exponent)
        let m = UInt32(r / Double(sign: .plus, exponent: e - mantissaBits, significand: 1)) - (1 << UInt32(mantissaBits))
        return sign | UInt32(e + bias) << UInt32(mantissaBits) | m
    }

    /// The value of every bit pattern, for decoding large arrays by lookup.
    func table() -> [Double] { (0..<(UInt32(1) << UInt32(width))).map(decode) }
}
