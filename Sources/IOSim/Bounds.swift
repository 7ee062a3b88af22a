/// The I/O lower bounds of exact attention (DESIGN §5), per problem instance in elements.
///
/// Saha & Ye ("The I/O Complexity of Attention, or How Optimal is FlashAttention?", ICML 2024)
/// prove Θ(N²d²/M) HBM accesses for M ≥ d² and Θ(N²d/√M) for M < d², M in elements; no constant is
/// proven for the first, so the tool reports the expression itself, floored by the compulsory
/// traffic (Q, K, V read once, O written once).
public struct Bound: Hashable, Sendable {
    public enum Regime: String, Sendable {
        case large = "M>=d^2"
        case small = "M<d^2"
    }

    /// Elements, summed over batch·heads.
    public var elements: Double
    public var regime: Regime
    /// Compulsory accesses, summed over batch·heads: 2·N·d + 2·Nk·d (with Nk = N, 4Nd).
    public var compulsory: Int

    public init(_ p: AttentionProblem, capacityBytes: Int) {
        let mElems = Double(capacityBytes) / Double(p.dtype.size)
        let (n, nk, d) = (Double(p.n), Double(p.nk), Double(p.d))
        let compulsoryPerHead = 2 * p.n * p.d + 2 * p.nk * p.d
        regime = mElems >= d * d ? .large : .small
        let asymptotic = regime == .large ? n * nk * d * d / mElems : n * nk * d / mElems.squareRoot()
        elements = max(Double(compulsoryPerHead), asymptotic) * Double(p.instances)
        compulsory = compulsoryPerHead * p.instances
    }

    /// HBM accesses over the bound.
    public func ratio(_ c: TrafficCounts) -> Double { Double(c.hbm.accesses) / elements }
}
