import AttentionReference

/// The widest binary floating-point type of this machine, for references to `Double` results
/// (Float80 where it exists, else Double itself).
#if (arch(i386) || arch(x86_64)) && !os(Windows) && !os(Android)
    public typealias WideReal = Float80
#else
    public typealias WideReal = Double
#endif

// Errors in ulps of a narrower format against a reference in a wider one, after swift-numerics'
// `assertClose` (Tests/RealTests/ElementaryFunctionChecks.swift):
// - the unit is the ulp of the narrow format at the reference rounded to it (at least the spacing
//   of its subnormals), so an exactly rounded result is at most 0.5 ulp off;
// - equal values, two NaNs, two infinities of one sign and a zero for a reference that rounds to a
//   zero of its sign are 0 ulps off; a NaN against a number, and a value of the wrong sign (through
//   zero), are infinitely far;
// - an infinity against a finite value, or a finite value against a reference that overflows the
//   format, is measured one binade down, the infinity standing for 2^(emax+1).

/// The error of `x` in ulps of `T`, against `reference` in a wider type `Wide`.
public func ulpError<T: BinaryFloatingPoint, Wide: BinaryFloatingPoint>(_ x: T, reference: Wide) -> Double {
    ulps(
        Wide(x), reference: reference, round: { Wide(T($0)) },
        ulp: { Wide(Swift.max(T($0).magnitude, T.leastNormalMagnitude).ulp) },
        top: Wide(T.greatestFiniteMagnitude.binade))
}

/// The error of `x` (a value held in a `Double`) in ulps of `T`, against a `Double` reference:
/// `ulpError(Double(f), reference: r, in: Float.self)`.
public func ulpError<T: BinaryFloatingPoint>(_ x: Double, reference: Double, in _: T.Type) -> Double {
    ulps(
        x, reference: reference, round: { Double(T($0)) },
        ulp: { Double(Swift.max(T($0).magnitude, T.leastNormalMagnitude).ulp) },
        top: Double(T.greatestFiniteMagnitude.binade))
}

/// The error of `x` in ulps of an emulated format (fp16, bf16, fp8, …), against a `Double`
/// reference (fp8 e4m3, which has no infinity, rounds an overflowing reference to ±448).
public func ulpError(_ x: Double, reference: Double, in precision: Precision) -> Double {
    ulps(
        x, reference: reference, round: { precision.round($0) }, ulp: { precision.ulp(at: $0) },
        top: Double(sign: .plus, exponent: precision.greatestFinite.exponent, significand: 1))
}

/// The largest error over equally long arrays, and where it is (nil when they are empty).
public func maxUlpError<T: BinaryFloatingPoint, Wide: BinaryFloatingPoint>(_ xs: [T], reference: [Wide])
    -> (ulps: Double, index: Int?)
{
    worst(xs.count, reference.count) { ulpError(xs[$0], reference: reference[$0]) }
}

/// The largest error in ulps of `precision` over equally long arrays, and where it is.
public func maxUlpError(_ xs: [Double], reference: [Double], in precision: Precision) -> (ulps: Double, index: Int?) {
    worst(xs.count, reference.count) { ulpError(xs[$0], reference: reference[$0], in: precision) }
}

private func worst(_ count: Int, _ referenceCount: Int, _ error: (Int) -> Double) -> (ulps: Double, index: Int?) {
    precondition(count == referenceCount, "\(count) values against \(referenceCount) references")
    var result: (ulps: Double, index: Int?) = (0, nil)
    for i in 0..<count {
        let e = error(i)
        if result.index == nil || e > result.ulps || e.isNaN { result = (e, i) }
    }
    return result
}

/// `x` and `reference` in the wide type; `round` rounds to the narrow format, `ulp` is the narrow
/// format's spacing at a value of it, `top` the narrow format's largest binade (2^emax).
private func ulps<W: BinaryFloatingPoint>(_ x: W, reference: W, round: (W) -> W, ulp: (W) -> W, top: W) -> Double {
    if x == reference || (x.isNaN && reference.isNaN) { return 0 }
    if x.isNaN || reference.isNaN || x.sign != reference.sign { return .infinity }
    let r = round(reference)
    if x.isZero && r.isZero { return 0 }
    if x.isInfinite && r.isInfinite { return 0 }
    if reference.isInfinite { return .infinity }
    if x.isInfinite { return ulps(W(signOf: x, magnitudeOf: top), reference: reference / 2, round: round, ulp: ulp, top: top) }
    if r.isInfinite { return ulps(x / 2, reference: W(signOf: r, magnitudeOf: top), round: round, ulp: ulp, top: top) }
    return Double((x - reference).magnitude / ulp(r))
}
