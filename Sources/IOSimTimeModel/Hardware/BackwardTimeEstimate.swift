import IOSimCore
import IOSimFormats

/// The time estimate of the backward schedules (docs/counting-rules.md §8a), on the forward's model
/// (``TimeEstimate``): per CTA, HBM bytes at 1/SMs of the bandwidth, tensor FLOPs at 1/SMs of the
/// `mma.sync` rate, exponentials and fp32 work on the SM's own units, summed (no overlap); CTAs
/// placed on the SM that frees first; nothing fitted to measurements.
///
/// - fa2: `preprocess` and `convert` are memory-bound bulk kernels (their bytes over the whole
///   GPU's bandwidth); `main` runs a CTA per column tile per head, each with its live pairs' work:
///   five GEMMs per pair (S = QKᵀ, dVⱼ += PᵀdOᵢ, dP = dOᵢVⱼᵀ, dKⱼ += dSᵀQᵢ, dQᵢ += dS·Kⱼ:
///   10·br·bc·d FLOPs), one exponential per score and ``fp32OpsPerScore`` fp32 operations.
///   Bytes reaching DRAM: the counted ones, except that when the Qᵢ, dOᵢ, LSEᵢ, Dᵢ and dQ
///   accumulator of the heads in flight fit in L2 their re-reads (and the dQ atomics, which L2
///   performs) hit there, so only their compulsory bytes count — the rule the forward applies to
///   K/V (on the H100 the main kernel's DRAM reads are 9% of its L2→SM reads at N = 4096,
///   Reports/gpu/bwd_traffic.csv).
/// - fa1: one CTA per head with the same work per pair.
/// - standard: five bulk kernels: 8·N·Nk·d GEMM FLOPs, dS's elementwise work, every byte counted.
extension TimeEstimate {
    /// fp32 operations per score in the backward besides the exponential: the scaled subtraction
    /// of the LSE (one fused multiply-add), dP − D and its product with P (two), and the
    /// conversions of P and dS to 16 bits (half an instruction each: two values are packed per
    /// conversion).
    public static let fp32OpsPerScore = 4.0

    /// The estimate of a backward or training result: a training step's time is its forward's
    /// (``estimate(_:_:_:)`` on the forward's counts and tiles) plus its backward's.
    public static func passEstimate(_ r: ScheduleResult, _ problem: AttentionProblem, _ hw: HardwareModel) throws(ModelError) -> Breakdown? {
        // Its CTAs are those of one length (the longest): refused rather than wrong.
        guard problem.lengthGroups == nil else {
            throw .unsupported("no backward time estimate for a batch of several lengths (--lengths) yet; the forward has one")
        }
        guard var b = try backwardEstimate(r, problem, hw) else { return nil }
        guard r.pass == .training else { return b }
        var forward = r
        (forward.pass, forward.counts) = (.forward, r.forwardCounts)
        guard let f = try estimate(forward, problem, hw) else { return nil }
        b.seconds += f.seconds
        b.hbmBytes += f.hbmBytes
        return b
    }

    /// The estimate of a backward result (nil without counts or tiles): the backward schedule's
    /// own model (``BackwardTimeModeled/backwardTime(_:)``, in its `+TimeModel` file) on a
    /// ``BackwardTimeContext``.
    public static func backwardEstimate(_ r: ScheduleResult, _ problem: AttentionProblem, _ hw: HardwareModel) throws(ModelError)
        -> Breakdown?
    {
        guard let counts = r.counts, let tiles = r.pass == .training ? r.backwardTiles : r.tiles else { return nil }
        guard let s = r.kind.implementation(for: .backward) as? any BackwardTimeModeled.Type else {
            throw .unsupported("no backward time model for \(r.kind.rawValue)")
        }
        return try s.backwardTime(try BackwardTimeContext(counts: counts, problem: problem, tiles: tiles, hw))
    }

    /// The main kernel's DRAM bytes under the L2 rule (see above).
    static func mainDRAMBytes(_ k: KernelCounts, _ p: AttentionProblem, _ t: KernelConfig, _ hw: HardwareModel) -> Double {
        let counted = Double(k.hbm.bytes)
        let headsInFlight = min(p.instances, (hw.sms + t.tc(p) - 1) / t.tc(p))
        let s = Double(Format.output.bytes(p.dtype)), n = Double(p.n), d = Double(p.d)
        // Re-read per head: Q, dO (dtype), LSE, D (fp32) and the fp32 dQ accumulator.
        let rereadPerHead = 2 * n * d * s + 8 * n + 4 * n * d
        guard Double(headsInFlight) * rereadPerHead <= Double(hw.l2Bytes) else { return counted }
        func bytes(_ x: Tensor) -> Double { Double(k.byTensor[x.rawValue].bytes) }
        let reread = bytes(.Q) + bytes(.dO) + bytes(.LSE) + bytes(.D) + bytes(.dQ)
        return counted - reread + rereadPerHead * Double(p.instances)
    }
}

/// What a backward schedule's time model works from: its counts per kernel, the problem it ran
/// (``AttentionProblem/scheduled``), its tiles clamped to it, and the GPU's per-SM rates; with
/// the pieces every backward model shares (docs/counting-rules.md §8a, ``TimeEstimate``).
public struct BackwardTimeContext {
    public let counts: TrafficCounts
    public let p: AttentionProblem
    public let t: KernelConfig
    public let hw: HardwareModel
    /// The `mma.sync` tensor rate of the whole GPU.
    public let peak: Double
    let rate: (bw: Double, flops: Double, exp: Double, fp32: Double)

    init(counts: TrafficCounts, problem: AttentionProblem, tiles: KernelConfig, _ hw: HardwareModel) throws(ModelError) {
        (self.counts, self.hw) = (counts, hw)
        (p, t) = (problem.scheduled, tiles.clamped(to: problem.scheduled))
        peak = try hw.tensorFlops(p.dtype, mmaSync: true)
        let sms = Double(hw.sms)
        rate = (bw: hw.hbmBandwidth / sms, flops: peak / sms, exp: hw.expRatePerSM, fp32: hw.fp32RatePerSM)
    }

    /// The last launch of the kernel `name`.
    func kernel(_ name: String) -> KernelCounts? { counts.kernels.last { $0.name == name } }

    /// Memory-bound bulk kernels: their bytes over the whole GPU's bandwidth.
    func bulkSeconds(_ names: [String]) -> Double {
        names.compactMap(kernel).reduce(0) { $0 + Double($1.hbm.bytes) } / hw.hbmBandwidth
    }

    /// One CTA's time for `entries` live scores with `bytes` of DRAM traffic: five GEMMs per
    /// score, one exponential and ``TimeEstimate/fp32OpsPerScore`` fp32 operations, summed.
    func cta(entries: Double, bytes: Double) -> Double {
        bytes / rate.bw + 10 * entries * Double(p.d) / rate.flops + entries / rate.exp
            + TimeEstimate.fp32OpsPerScore * entries / rate.fp32
    }

    /// CTAs of one head, repeated over every head, placed on the SM that frees first.
    func schedule(perHead: [Double], bytes: Double) -> TimeEstimate.Breakdown {
        TimeEstimate.schedule(perHead: perHead, heads: p.instances, hw, bytes)
    }
}
