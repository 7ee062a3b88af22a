import IOSimCore
import IOSimFormats

/// The arithmetic between two tile loads of an unpipelined warp-level (mma.sync) CTA, as a chain
/// of dependent instructions with latencies measured on the SM (docs/time-model.md, "Unpipelined
/// CTAs"). With a few warps per SM nothing hides a latency, so a column tile's work takes its
/// critical path, not its share of the SM's throughput.
///
/// The CTA's w warps split the Br rows in 16-row MMA tiles as far as they go (w_r = min(w, Br/16))
/// and the Bc keys among the rest (w_k = w / w_r: a decode tile of 16 rows with 2 warps gives each
/// warp half the keys, as FlexAttention's decode kernel does). Per column tile, on one warp's path:
/// 1. the loaded K tile goes through shared memory to the MMA's operand registers: one
///    shared-memory round trip R (st.shared, bar.sync, ld.shared; `cross_warp_round_trip_cycles`);
/// 2. S = QKᵀ: m·(Bc/w_k)/8·d/16 m16n8k16 MMAs (m = the warp's 16-row tiles) at the SM's mma.sync
///    rate per scheduler, but no faster than d/16 dependent MMAs (`hmma_latency_cycles`);
/// 3. the row max: v − 1 dependent FMNMX over the thread's v = (Bc/w_k)/4 values per row, 2 quad
///    shuffles each followed by an FMNMX, and one more round trip R when the keys are split;
/// 4. the exponentials: one exp's latency plus the CTA's exps at the SM's rate, (Bc + 1) per row
///    of its 16-row MMA tiles (padded rows are computed too: a 4-row GQA decode tile pays 16);
/// 5. the O rescale: m·d/2 FMULs per thread, one per clock;
/// 6. the V tile through shared memory (R), and O += PV: m·d/8·(Bc/w_k)/16 MMAs at the rate, no
///    faster than (Bc/w_k)/16 dependent ones.
/// The row sum is off this path (PV needs P, not l). Left out, so the chain is a lower bound: the
/// kernel's own index arithmetic, masks and conversions (FlexAttention's plain decode step takes
/// 544 instructions per warp; its paged mask code 661 more, Reports/gpu/paged_decode_findings.txt).
public struct MMASyncChain: Sendable, Equatable {
    /// Dependent-issue latency of one m16n8k16 mma.sync (HMMA.16816.F32), cycles.
    public var hmmaLatency: Double
    /// A value through shared memory between two warps: st.shared, bar.sync, ld.shared, combine.
    public var crossWarpRoundTrip: Double

    public init(hmmaLatency: Double, crossWarpRoundTrip: Double) {
        (self.hmmaLatency, self.crossWarpRoundTrip) = (hmmaLatency, crossWarpRoundTrip)
    }

    /// The hardware-file fields, in the order of the initialiser.
    package static let fields = ["hmma_latency_cycles", "cross_warp_round_trip_cycles"]

    /// Cycles of one column tile's chain; nil without the softmax latencies (the FMNMX, SHFL,
    /// EX2 fields, which the hardware file gives with its wgmma group): then an unpipelined CTA
    /// has its rounds only. The MMA rate is the file's mma.sync rate, else its fp16 rate; with
    /// more than 4 warps, warps share a scheduler and their MMAs queue on it.
    public func cycles(br: Int, bc: Int, d: Int, warps: Int, _ hw: HardwareModel) -> Double? {
        guard let l = hw.warpgroupPipeline, let flops = hw.mmaSyncFlops ?? hw.tensorFlops[.fp16] else { return nil }
        let w = max(1, warps), rowTiles = max(1, ceilDiv(br, 16))
        let wr = min(w, rowTiles), wk = max(1, w / wr)
        let m = Double(ceilDiv(rowTiles, wr)), keys = max(1.0, Double(bc) / Double(wk)), dd = Double(d)
        // Cycles between two of a warp's m16n8k16 MMAs at the SM's rate: 4 schedulers, each
        // shared by ⌈w/4⌉ warps.
        let interval = 2 * 16 * 8 * 16 / (flops / Double(hw.sms) / hw.clockHz / 4) * Double(ceilDiv(w, 4))
        func mmas(_ count: Double, depth: Double) -> Double { max(count * interval, depth * hmmaLatency) }
        let qk = mmas(m * (keys / 8).rounded(.up) * (dd / 16).rounded(.up), depth: (dd / 16).rounded(.up))
        let pv = mmas(m * (dd / 8).rounded(.up) * (keys / 16).rounded(.up), depth: (keys / 16).rounded(.up))
        let v = max(1, (keys / 4).rounded(.up)), split = wk > 1 ? crossWarpRoundTrip : 0
        let rowMax = (v - 1) * l.maxLatency + 2 * (l.shuffleLatency + l.maxLatency) + split
        // Every row of the 16-row MMA tiles is exponentiated, padding included.
        let exps = l.ex2Latency + Double(16 * rowTiles) * Double(bc + 1) / hw.expPerClockPerSM
        let rescale = m * dd / 2
        return 2 * crossWarpRoundTrip + qk + rowMax + exps + rescale + pv
    }

    /// The optional fields: absent (nil), or both, positive, each with its own `sources` entry.
    static func parse(_ o: [String: StrictJSON], _ path: String) throws(ModelError) -> MMASyncChain? {
        guard try ModelFile.group(o, fields, path) else { return nil }
        return MMASyncChain(
            hmmaLatency: try ModelFile.number(o, fields[0], path, min: HardwareModel.Range.minPerClock, max: HardwareModel.Range.perClock),
            crossWarpRoundTrip: try ModelFile.number(o, fields[1], path, min: HardwareModel.Range.minPerClock, max: HardwareModel.Range.perClock))
    }
}
