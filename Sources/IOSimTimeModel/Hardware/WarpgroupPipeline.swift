import IOSimCore
import IOSimFormats

/// The fa3 time model: the steady state of an FA3-style CTA (Shah et al. 2024, §3.1–3.2) from its
/// structure and quantities measured on the SM (docs/time-model.md, "fa3").
///
/// A CTA of Br rows runs k = ⌈Br / 64⌉ consumer warpgroups of 64 rows (wgmma's M), each with one
/// warp on each of the SM's four schedulers. One warpgroup iteration covers W = 64·Bc scores:
/// - g = 4·64·Bc·d / F cycles of tensor-core work (S = QKᵀ and O += PV), F the datasheet rate per
///   clock per SM (4,096 FLOP/clk on the H100: exactly what the overlap probe's clock64 counts give);
/// - s cycles of softmax, derived below from measured latencies and the special-function rate;
/// - e = E / X cycles on the special-function units, E the exponentials of one warpgroup
///   iteration and X = `exp_per_clock_per_sm`.
///
/// **The softmax, s.** wgmma's m64nBc accumulator gives each of the warpgroup's 128 threads
/// 64·Bc/128 = Bc/2 scores in 2 rows, Bc/4 per row; a row's Bc/4 values sit in the 4 threads of a
/// quad. Per iteration each thread
/// 1. takes the row max over its Bc/4 values: a chain of Bc/4 dependent FMNMX (its two rows' chains
///    interleave, so they cost one chain's latency);
/// 2. combines the quad: 2 dependent butterfly shuffles, each followed by an FMNMX;
/// 3. computes exp2 of its Bc/2 scores and of each row's rescale factor alpha (2 more): with the
///    128 threads, E = 64·Bc + 256 MUFU.EX2 per warpgroup iteration, issued back to back, so they
///    take E / X cycles of the SM's special-function units plus one exp's latency for the last;
/// 4. sums each row: the FADDs follow the exponentials; the last exp's FADD and the l = l·alpha + rs
///    update are the 2 dependent adds left after it.
/// One warpgroup alone: s₁ = (Bc/4)·L_max + 2·(L_shfl + L_max) + L_ex2 + 2·L_add + E/X — 741 cycles
/// at Bc = 128 on the H100; `Benchmarks/gpu/fa3_softmax_probe.cu` measured 779–796.
///
/// **Shared exponentials.** Inside our fa3 kernel the k consumers' softmax sections overlap for
/// most of a round (measured: their sum, 2,454 resp. 2,996 cycles, exceeds the round of 2,266 resp.
/// 2,686; Reports/gpu/fa3_section_timing.txt), so each warpgroup's exponentials queue behind the
/// others' on the same special-function units: s = latency part + k·E/X. With k = 2 this gives
/// 1,268 cycles; the probe with two warpgroups in their softmax at once measured 1,295–1,328. The
/// O rescale (d/2 FMUL per thread) and the fp32 → fp16 conversion of P (Bc/4 F2FP per thread) are
/// left out: their rates are not measured separately (together 97–137 cycles alone in the probe).
///
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
    /// L_max: dependent-issue latency of FMNMX (fp32 max), cycles.
    public var maxLatency: Double
    /// L_shfl: dependent-issue latency of SHFL.BFLY (a butterfly shuffle), cycles.
    public var shuffleLatency: Double
    /// L_ex2: dependent-issue latency of MUFU.EX2, cycles.
    public var ex2Latency: Double
    /// L_add: dependent-issue latency of FADD, cycles.
    public var addLatency: Double
    /// a: tensor-core cycles lost per cycle of softmax running beside them.
    public var wgmmaLossPerSoftmaxCycle: Double
    /// b: softmax cycles lost per cycle of tensor-core work running beside it.
    public var softmaxLossPerWgmmaCycle: Double

    public init(
        maxLatency: Double, shuffleLatency: Double, ex2Latency: Double, addLatency: Double, wgmmaLossPerSoftmaxCycle: Double,
        softmaxLossPerWgmmaCycle: Double
    ) {
        self.maxLatency = maxLatency
        self.shuffleLatency = shuffleLatency
        self.ex2Latency = ex2Latency
        self.addLatency = addLatency
        self.wgmmaLossPerSoftmaxCycle = wgmmaLossPerSoftmaxCycle
        self.softmaxLossPerWgmmaCycle = softmaxLossPerWgmmaCycle
    }

    /// The hardware-file fields, all or none (required where `has_wgmma_tma` is true).
    package static let fields = [
        "fmnmx_latency_cycles", "shfl_bfly_latency_cycles", "mufu_ex2_latency_cycles", "fadd_latency_cycles",
        "wgmma_cycles_lost_per_softmax_cycle", "softmax_cycles_lost_per_wgmma_cycle",
    ]

    /// Rows of one consumer warpgroup: the M of `wgmma.mma_async` (m64nNk16).
    public static let warpgroupRows = 64
    /// Threads of a warpgroup (4 warps).
    public static let warpgroupThreads = 128

    /// MUFU.EX2 per warpgroup iteration of `bc` columns: one per score and one alpha per row a
    /// thread holds (2 rows × 128 threads).
    public static func exponentials(bc: Int) -> Double { Double(warpgroupRows * bc + 2 * warpgroupThreads) }

    /// The softmax's dependent chain without its exponentials' throughput, cycles: the row max
    /// over a thread's Bc/4 values of a row, two quad shuffles each with its max, the last exp's
    /// latency and the two adds after it (see the type's comment).
    public func softmaxLatency(bc: Int) -> Double {
        Double(bc / 4) * maxLatency + 2 * (shuffleLatency + maxLatency) + ex2Latency + 2 * addLatency
    }

    /// s: one warpgroup's softmax per iteration, cycles, when `sharing` warpgroups' softmaxes run at
    /// once and share the SM's `expPerClock` special-function results per clock.
    public func softmax(bc: Int, sharing: Int, expPerClock: Double) -> Double {
        softmaxLatency(bc: bc) + Double(sharing) * Self.exponentials(bc: bc) / expPerClock
    }

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
    /// per SM and `expPerClock` special-function results per clock per SM; all k consumers'
    /// softmaxes share the special-function units.
    public func round(br: Int, bc: Int, d: Int, flopsPerClock: Double, expPerClock: Double) -> Round {
        let k = max(1, (br + Self.warpgroupRows - 1) / Self.warpgroupRows)
        let w = Double(Self.warpgroupRows * bc)
        return Round(
            warpgroups: k, gemm: 4 * w * Double(d) / flopsPerClock, softmax: softmax(bc: bc, sharing: k, expPerClock: expPerClock),
            exp: Self.exponentials(bc: bc) / expPerClock, scores: Double(k) * w)
    }

    /// Seconds per score of an fa3 CTA on `hw` (its clock; the round's period over its scores).
    public func secondsPerScore(br: Int, bc: Int, d: Int, tensorFlops: Double, _ hw: HardwareModel) -> Double {
        let r = round(br: br, bc: bc, d: d, flopsPerClock: tensorFlops / (Double(hw.sms) * hw.clockHz), expPerClock: hw.expPerClockPerSM)
        return r.period(self) / r.scores / hw.clockHz
    }
}
