/// The I/O lower bounds of exact attention (docs/counting-rules.md §9), per problem instance in elements.
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

    /// docs/counting-rules.md §9: batch · max(compulsory, heads · Nq·Nk·d²/M) for M ≥ d², with N²d/√M below;
    /// K and V count once per KV head in the compulsory part (a packed decode kernel reads them
    /// once per group), the quadratic part per query head. Without GQA and with Nq = Nk it
    /// reduces to max(4Nd, N²d²/M) per head (N²d/√M below d²).
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

    /// The bound of `pass` (docs/counting-rules.md §9): the forward's above; the backward's after Li, Liang, Shi,
    /// Song et al. ("Fine-grained attention I/O complexity: backward passes", arXiv 2410.09397),
    /// Θ(min{(N²d² + Nd³)/M, (N²d + Nd²)/√M}) with the crossover at M = d² and no constant proven:
    /// batch · max(compulsory, heads·(Nq·Nk·d² + Nq·d³)/M) for M ≥ d², with (Nq·Nk·d + Nq·d²)/√M
    /// below, where compulsory = (4·Nq·d + Nq)·heads + 4·Nk·d·kv_heads (Q, O, dO, LSE read and dQ
    /// written per query head; K, V read and dK, dV written per KV head). `training` adds the two.
    public init(_ p: AttentionProblem, capacityBytes: Int, pass: Pass) {
        switch pass {
        case .forward: self.init(p, capacityBytes: capacityBytes)
        case .training:
            let (f, b) = (Bound(p, capacityBytes: capacityBytes), Bound(p, capacityBytes: capacityBytes, pass: .backward))
            self.init(elements: f.elements + b.elements, regime: f.regime, compulsory: f.compulsory + b.compulsory)
        case .backward:
            let mElems = Double(capacityBytes) / Double(p.dtype.size)
            let (nq, nk, d) = (Double(p.nq), Double(p.nk), Double(p.d))
            let perSequence = (4 * p.nq * p.d + p.nq) * p.heads + 4 * p.nk * p.d * p.kvHeads
            let regime: Regime = mElems >= d * d ? .large : .small
            let asymptotic =
                regime == .large ? (nq * nk * d * d + nq * d * d * d) / mElems : (nq * nk * d + nq * d * d) / mElems.squareRoot()
            self.init(
                elements: max(Double(perSequence), Double(p.heads) * asymptotic) * Double(p.batch), regime: regime,
                compulsory: perSequence * p.batch)
        }
    }

    init(elements: Double, regime: Regime, compulsory: Int) {
        self.elements = elements
        self.regime = regime
        self.compulsory = compulsory
    }

    /// HBM accesses over the bound.
    public func ratio(_ c: TrafficCounts) -> Double { Double(c.hbm.accesses) / elements }
}
