import IOSimCore
import IOSimFormats

extension ChunkAttnSchedule: KernelLaunched {
    /// Per kernel, the CTAs' loads in groups of identical CTAs, from the same sums as the closed
    /// form: a chunk-first CTA moves 2·c·d of K/V and, for its n sequences, Nq·d of Q, Nq·d of
    /// `Opart` and 2·Nq of `LSEpart`, with n·Nq·c score entries; a sequence-first CTA (a row tile
    /// of r rows of a sequence of L tokens) moves r·d of Q, S·(r·d + 2r) of partials, 2·own·c·d
    /// of K/V (whole chunks) and r·d of O, with r·own·c score entries (ChunkAttention's kernel
    /// scores the whole last chunk, then masks its tail).
    public static func kernelLoads(
        _ p: AttentionProblem, _ t: KernelConfig, _ body: (_ kernel: Int, _ load: TimeEstimate.CTALoad, _ copies: Int) -> Void
    ) throws(SimulationError) {
        try check(p)
        let (q, d, c, shared) = (p.n, p.d, p.chunk, sharedChunks(p))
        let (input, output, fp32) = (Format.input.bytes(p.dtype), Format.output.bytes(p.dtype), 4)
        // One fp32 scale per loaded Q, K or V tile in fp8, as the counts have it.
        let scale = p.dtype == .fp8 ? fp32 : 0
        var kernel = 0
        if shared > 0 {
            let tr = t.tr(p)
            let other = p.batch * (q * d * input + q * d * output + 2 * q * fp32 + tr * scale) + 2 * scale
            body(0, TimeEstimate.CTALoad(kvBytes: 2 * c * d * input, otherBytes: other, scores: Double(p.batch * q * c)), p.heads * shared)
            kernel = 1
        }
        for g in groups(p) {
            let own = ownChunks(g.length, p)
            for i in 0..<t.tr(p) {
                let r = t.rows(i, p).count
                let other = r * d * input + shared * (r * d * output + 2 * r * fp32) + r * d * output + (1 + 2 * own) * scale
                let load = TimeEstimate.CTALoad(kvBytes: 2 * own * c * d * input, otherBytes: other, scores: Double(r * own * c))
                body(kernel, load, p.heads * g.count)
            }
        }
    }
}

/// A schedule of several kernels whose CTAs do not repeat per (batch, head) (ChunkAttention's
/// chunk-first grid is per (head, shared chunk)): the time estimate asks it for every kernel's
/// CTAs, in groups of identical ones, and adds the kernels' makespans, since a kernel starts when
/// the one before it has finished.
public protocol KernelLaunched: Schedule {
    /// Calls `body(kernel, load, copies)` for each group of `copies` identical CTAs, kernels in
    /// launch order (kernel 0 first).
    static func kernelLoads(
        _ p: AttentionProblem, _ t: KernelConfig, _ body: (_ kernel: Int, _ load: TimeEstimate.CTALoad, _ copies: Int) -> Void
    ) throws(SimulationError)
}

extension TimeEstimate {
    /// The sum of the kernels' makespans: each CTA's time is the serial sum of its bytes, FLOPs,
    /// exponentials and fp32 work at one SM's rates (as for every non-overlapping schedule), and
    /// CTAs are placed as ``schedule(_:_:_:)`` places them. Every K/V byte such a schedule reads is
    /// a distinct chunk (ChunkAttention reads each shared chunk once per head, each own chunk once),
    /// so no L2 rule applies.
    static func kernelEstimate(_ s: any KernelLaunched.Type, _ p: AttentionProblem, _ t: KernelConfig, _ hw: HardwareModel)
        throws(ModelError) -> Breakdown
    {
        let peak = try hw.tensorFlops(p.dtype, mmaSync: !s.launch.warpgroupMMA)
        let (bw, flops) = (hw.hbmBandwidth / Double(hw.sms), peak / Double(hw.sms))
        var kernels: [(times: [Double], total: Double, longest: Double, count: Int)] = []
        var bytes = 0.0
        do {
            try s.kernelLoads(p, t) { k, load, copies in
                while kernels.count <= k { kernels.append(([], 0, 0, 0)) }
                let b = Double(load.kvBytes + load.otherBytes)
                let time =
                    b / bw + 4 * load.scores * Double(p.d) / flops + load.scores / hw.expRatePerSM
                    + softmaxFP32Ops * load.scores / hw.fp32RatePerSM
                bytes += b * Double(copies)
                kernels[k].total += time * Double(copies)
                kernels[k].longest = max(kernels[k].longest, time)
                kernels[k].count = (try? Int.checkedAdd(kernels[k].count, copies)) ?? Int.max
                if kernels[k].count <= simulatedCTAs { kernels[k].times += repeatElement(time, count: copies) }
            }
        } catch {
            throw .unsupported("no time estimate for \(s.kind.rawValue): \(error.description)")
        }
        var seconds = 0.0, ctas = 0
        for k in kernels {
            // Beyond `simulatedCTAs`, as for other grids: the work per SM plus half the longest CTA.
            seconds += k.count <= simulatedCTAs ? schedule(k.times, hw, 0).seconds : k.total / Double(hw.sms) + k.longest / 2
            ctas += k.count
        }
        return Breakdown(seconds: seconds, ctas: ctas, waves: Double(ctas) / Double(hw.sms), hbmBytes: bytes)
    }
}
