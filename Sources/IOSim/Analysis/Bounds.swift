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
    /// Compulsory accesses, summed over the batch: Q read and O written per query head, K and V
    /// read per KV head, (2·Nq·heads + 2·Nk·kv_heads)·d per sequence (with Nk = N and no GQA, 4Nd
    /// per head).
    public var compulsory: Int

    /// DESIGN §10: batch · max(compulsory, heads · Nq·Nk·d²/M) for M ≥ d², with N²d/√M below;
    /// K and V count once per KV head in the compulsory part (a packed decode kernel reads them
    /// once per group), the quadratic part per query head. Without GQA this is §5's bound.
    /// `p` is the user's problem (not its packed view).
    public init(_ p: AttentionProblem, capacityBytes: Int) {
        let mElems = Double(capacityBytes) / Double(p.dtype.size)
        let (nq, nk, d) = (Double(p.nq), Double(p.nk), Double(p.d))
        let perSequence = (2 * p.nq * p.heads + 2 * p.nk * p.kvHeads) * p.d
        regime = mElems >= d * d ? .large : .small
        let asymptotic = regime == .large ? nq * nk * d * d / mElems : nq * nk * d / mElems.squareRoot()
        elements = max(Double(perSequence), Double(p.heads) * asymptotic) * Double(p.batch)
        compulsory = perSequence * p.batch
    }

    /// HBM accesses over the bound.
    public func ratio(_ c: TrafficCounts) -> Double { Double(c.hbm.accesses) / elements }
}
