/// The fa3 time model: the steady state of an FA3-style CTA (Shah et al. 2024, §3.1–3.2) from its
/// structure and per-clock rates measured on the SM (docs/time-model.md, "fa3").
///
/// A CTA of Br rows runs k = ⌈Br / 64⌉ consumer warpgroups of 64 rows (wgmma's M), each with one
/// warp on each of the SM's four schedulers. One warpgroup iteration covers W = 64·Bc scores:
/// - g = 4·64·Bc·d / F cycles of tensor-core work (S = QKᵀ and O += PV), F the datasheet rate per
///   clock per SM (4,096 FLOP/clk on the H100: exactly what the probe's clock64 counts give);
/// - s = W / R cycles of softmax, R the measured rate of a softmax-like mix on one warp per
///   scheduler (the warpgroup's own warps: nothing else of the warpgroup can hide its latency);
/// - e = W / X cycles on the special-function units (X = `exp_per_clock_per_sm`).
/// The warpgroups ping-pong: while one runs its softmax the others' GEMMs occupy the tensor cores.
/// Running both at once costs each side cycles (measured): the tensor cores lose `a` cycles per
/// softmax cycle beside them, a softmax loses `b` cycles per tensor-core cycle beside it. One
/// round (every warpgroup one iteration) then takes
///
///     P = max(k·g + a·k·s,  g + s + b·min(s, (k − 1)·g),  k·e)
///
/// — the tensor cores' work, one warpgroup's chain (its GEMMs, then its softmax while the others'
/// GEMMs run), the special-function units' work. Nothing in it is fitted to a kernel's time.
public struct WarpgroupPipeline: Sendable, Equatable {
    /// R: softmax scores per clock per SM with one warp per scheduler (the probe's mix).
    public var softmaxScoresPerClock: Double
    /// a: tensor-core cycles lost per cycle of softmax running beside them.
    public var wgmmaLossPerSoftmaxCycle: Double
    /// b: softmax cycles lost per cycle of tensor-core work running beside it.
    public var softmaxLossPerWgmmaCycle: Double

    public init(softmaxScoresPerClock: Double, wgmmaLossPerSoftmaxCycle: Double, softmaxLossPerWgmmaCycle: Double) {
        self.softmaxScoresPerClock = softmaxScoresPerClock
        self.wgmmaLossPerSoftmaxCycle = wgmmaLossPerSoftmaxCycle
        self.softmaxLossPerWgmmaCycle = softmaxLossPerWgmmaCycle
    }

    /// The hardware-file fields, all three or none (required where `has_wgmma_tma` is true).
    static let fields = [
        "softmax_scores_per_clock_per_sm", "wgmma_cycles_lost_per_softmax_cycle", "softmax_cycles_lost_per_wgmma_cycle",
    ]

    /// Rows of one consumer warpgroup: the M of `wgmma.mma_async` (m64nNk16).
    public static let warpgroupRows = 64

    /// One round's parts, in cycles (see the type's comment).
    public struct Round: Sendable, Equatable {
        public var warpgroups: Int
        public var gemm: Double
        public var softmax: Double
        public var exp: Double

        /// The round's period P, cycles.
        public func period(_ m: WarpgroupPipeline) -> Double {
            let k = Double(warpgroups)
            let tensor = k * gemm + m.wgmmaLossPerSoftmaxCycle * k * softmax
            let chain = gemm + softmax + m.softmaxLossPerWgmmaCycle * min(softmax, (k - 1) * gemm)
            return max(tensor, chain, k * exp)
        }

        /// Scores one round covers: k·W.
        public var scores: Double
    }

    /// The round of a CTA with `br` × `bc` tiles at head dimension `d`, tensor rate `flopsPerClock`
    /// per SM and `expPerClock` special-function results per clock per SM.
    public func round(br: Int, bc: Int, d: Int, flopsPerClock: Double, expPerClock: Double) -> Round {
        let k = max(1, (br + Self.warpgroupRows - 1) / Self.warpgroupRows)
        let w = Double(Self.warpgroupRows * bc)
        return Round(
            warpgroups: k, gemm: 4 * w * Double(d) / flopsPerClock, softmax: w / softmaxScoresPerClock, exp: w / expPerClock,
            scores: Double(k) * w)
    }

    /// Seconds per score of an fa3 CTA on `hw` (its clock; the round's period over its scores).
    public func secondsPerScore(br: Int, bc: Int, d: Int, tensorFlops: Double, _ hw: HardwareModel) -> Double {
        let r = round(br: br, bc: bc, d: d, flopsPerClock: tensorFlops / (Double(hw.sms) * hw.clockHz), expPerClock: hw.expPerClockPerSM)
        return r.period(self) / r.scores / hw.clockHz
    }
}
