import IOSimChecking
import IOSimCore
import IOSimFormats
import IOSimTimeModel

extension TileRequest {
    /// The request `iosim` makes when no tile, split or CTA flag is given: with a hardware model,
    /// the kernels' own tiles on that GPU (``TilePolicy/kernel``), FlashAttention-2's split
    /// heuristic for split-kv and two lean CTAs per SM; without one, `optimal` tiles, one split
    /// and one lean CTA per row tile per head. Computed here rather than in the command line, so
    /// that `Simulator.simulate(_:_:capacity:tiles:pass:)` called from Swift with this request
    /// gives what `iosim` prints.
    public static func defaults(for problem: AttentionProblem, on hardware: HardwareModel?) -> TileRequest {
        TileRequest(
            policy: defaultPolicy(hardware: hardware != nil),
            splits: hardware.map { SplitKVHeuristic.splits(for: problem, sms: $0.sms) } ?? 1,
            ctas: hardware.map { 2 * $0.sms } ?? 0, policyExplicit: false,
            target: hardware.map(KernelTarget.init) ?? .sm90, warpsExplicit: false)
    }

    /// The tile policy when none is asked for: the kernels' own tiles on a GPU, else each schedule
    /// at its best.
    public static func defaultPolicy(hardware: Bool) -> TilePolicy { hardware ? .kernel : .optimal }
}
