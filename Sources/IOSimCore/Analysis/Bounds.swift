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
    /// Compulsory accesses, summed over the batch: the inputs read for the rows and keys the mask
    /// leaves live and the outputs written for all (docs/counting-rules.md §9).
    public var compulsory: Int
    /// Visible (row, key) pairs, summed over batch·heads (JSON `bound.visible_pairs`).
    public var visiblePairs: Int
    /// The quadratic term alone, summed over the batch (elements).
    public var quadratic: Double

    /// The forward's bound, mask-aware (docs/counting-rules.md §9). Per batch element, with V the
    /// visible pairs summed over query heads, Q_live the rows that see a key, summed over query
    /// heads, and K_live the keys seen by some row of their group, summed over KV heads:
    /// compulsory = Q_live·d (Q read) + Nq·heads·d (O written) + 2·K_live·d (K and V read), and
    /// the bound is batch·max(compulsory, V·d²/M) for M ≥ d², V·d/√M below, M in elements. Saha &
    /// Ye's Θ(N²d²/M) and Θ(N²d/√M) (no constant proven) count the score entries computed; a mask
    /// leaves V of them. Without a mask it is max(4Nd, N²d²/M) per head.
    /// `p` is the user's problem (not its packed view).
    public init(_ p: AttentionProblem, capacityBytes: Int) {
        self.init(p, capacityBytes: capacityBytes, totals: VisibleSums.headTotals(p))
    }

    /// The forward bound from sums already taken (`training` takes them once for both passes).
    init(_ p: AttentionProblem, capacityBytes: Int, totals: [VisibleSums.HeadTotal]) {
        let mElems = Double(capacityBytes) / Double(p.dtype.size), d = p.d
        regime = mElems >= Double(d * d) ? .large : .small
        (elements, compulsory, visiblePairs, quadratic) = (0, 0, 0, 0)
        // Per batch element (a per-batch block mask gives each its own sums).
        for v in totals {
            let perSequence = v.rows * d + p.nq * d * p.heads + 2 * v.keys * d
            let pairs = Double(v.pairs)
            let asymptotic = regime == .large ? pairs * Double(d * d) / mElems : pairs * Double(d) / mElems.squareRoot()
            elements += max(Double(perSequence), asymptotic) * Double(v.count)
            compulsory += perSequence * v.count
            visiblePairs += v.pairs * v.count
            quadratic += asymptotic * Double(v.count)
        }
    }

    /// The bound of `pass` (docs/counting-rules.md §9): the forward's above; the backward's after Li, Liang, Shi,
    /// Song et al. ("Fine-grained attention I/O complexity: backward passes", arXiv 2410.09397),
    /// Θ(min{(N²d² + Nd³)/M, (N²d + Nd²)/√M}) with the crossover at M = d² and no constant proven,
    /// mask-aware: batch · max(compulsory, (V·d² + Q_live·d³)/M) for M ≥ d², (V·d + Q_live·d²)/√M
    /// below, where compulsory = Q_live·(3d + 1) (Q, O, dO, LSE read for live rows) + Nq·heads·d
    /// (dQ written) + 2·K_live·d (K, V read for live keys) + 2·Nk·kv_heads·d (dK, dV written).
    /// Without a mask: (4·Nq·d + Nq)·heads + 4·Nk·d·kv_heads. `training` adds the two.
    public init(_ p: AttentionProblem, capacityBytes: Int, pass: Pass) {
        self.init(p, capacityBytes: capacityBytes, pass: pass, totals: VisibleSums.headTotals(p))
    }

    /// The bound of `pass` from the visible sums `totals` (``VisibleSums/headTotals(_:)``).
    init(_ p: AttentionProblem, capacityBytes: Int, pass: Pass, totals: [VisibleSums.HeadTotal]) {
        switch pass {
        case .forward: self.init(p, capacityBytes: capacityBytes, totals: totals)
        case .training:
            let f = Bound(p, capacityBytes: capacityBytes, totals: totals)
            let b = Bound(p, capacityBytes: capacityBytes, pass: .backward, totals: totals)
            self.init(
                elements: f.elements + b.elements, regime: f.regime, compulsory: f.compulsory + b.compulsory, visiblePairs: f.visiblePairs,
                quadratic: f.quadratic + b.quadratic)
        case .backward:
            let mElems = Double(capacityBytes) / Double(p.dtype.size), d = p.d
            let regime: Regime = mElems >= Double(d * d) ? .large : .small
            let (dd, ddd) = (Double(d * d), Double(d) * Double(d * d))
            self.init(elements: 0, regime: regime, compulsory: 0, visiblePairs: 0, quadratic: 0)
            for v in totals {
                let perSequence = v.rows * (3 * d + 1) + p.nq * d * p.heads + 2 * v.keys * d + 2 * p.nk * d * p.kvHeads
                let (pairs, rows) = (Double(v.pairs), Double(v.rows))
                let asymptotic =
                    regime == .large ? (pairs * dd + rows * ddd) / mElems : (pairs * Double(d) + rows * dd) / mElems.squareRoot()
                elements += max(Double(perSequence), asymptotic) * Double(v.count)
                compulsory += perSequence * v.count
                visiblePairs += v.pairs * v.count
                quadratic += asymptotic * Double(v.count)
            }
        }
    }

    init(elements: Double, regime: Regime, compulsory: Int, visiblePairs: Int, quadratic: Double) {
        self.elements = elements
        self.regime = regime
        self.compulsory = compulsory
        self.visiblePairs = visiblePairs
        self.quadratic = quadratic
    }

    /// The sum of the bounds of independent parts of one batch (sequences of different lengths).
    package static func sum(_ parts: [Bound]) -> Bound {
        var total = parts[0]
        for b in parts.dropFirst() {
            total.elements += b.elements
            total.compulsory = (try? Int.checkedAdd(total.compulsory, b.compulsory)) ?? .max
            total.visiblePairs = (try? Int.checkedAdd(total.visiblePairs, b.visiblePairs)) ?? .max
            total.quadratic += b.quadratic
        }
        return total
    }

    /// With `--shared-prefix` (docs/counting-rules.md §9, §14): the K and V of the ⌊P/c⌋·c keys in
    /// shared chunks exist once for the batch, so the compulsory term reads them once per KV head
    /// rather than once per sequence; the batch is then one problem, bounded by the larger of its
    /// compulsory and quadratic totals.
    package func sharingPrefix(_ p: AttentionProblem, sequences: Int) -> Bound {
        let shared = ChunkAttnSchedule.sharedChunks(p) * p.chunk
        guard shared > 0, sequences > 1 else { return self }
        var b = self
        b.compulsory = max(0, compulsory - (sequences - 1) * 2 * shared * p.d * p.kvHeads)
        b.elements = max(Double(b.compulsory), quadratic)
        return b
    }

    /// HBM accesses over the bound.
    public func ratio(_ c: TrafficCounts) -> Double { Double(c.hbm.accesses) / elements }
}
