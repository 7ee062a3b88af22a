import IOSimCore
import IOSimFormats

/// A first-order kernel time for a schedule on a hardware model, from the simulator's counts, the
/// FLOPs and the exponentials — nothing fitted to measurements.
///
/// The work is cut into the thread blocks (CTAs) a kernel of the schedule launches: one per row
/// tile per (batch, head) for fa2, fa3 and small-m (FA2 parallelises over the sequence, Dao 2023
/// §3.2), one per (batch, head) for fa1 (the FA1 kernel loops over all tiles of a head in one
/// block). A CTA's share is proportional to its live tile pairs: tensor FLOPs 4·br·Σbc·d, one
/// exponential per score, and HBM bytes. An SM runs one CTA at a time with 1/SMs of the GPU's
/// bandwidth and tensor throughput and its own special-function and fp32 units. The softmax costs
/// one exponential and `softmaxFP32Ops` fp32 operations per score, counted from the online softmax
/// itself: the fused scale-and-subtract, the row max, the row sum, and half a conversion (two
/// scores are packed to 16 bits per instruction).
/// - fa1, fa2, small-m: t = bytes/BW + FLOPs/peak + exps/rate + fp32 ops/rate (no overlap: a warp
///   waits on its loads, then on its GEMM, then on its softmax);
/// - fa3: t = max(bytes/BW, scores × the period of ``WarpgroupPipeline`` per score): the producer's
///   TMA loads overlap the consumers; the consumer warpgroups' GEMMs and softmaxes follow their
///   ping-pong structure with measured per-clock rates (docs/time-model.md, "fa3"). Only on
///   hardware with wgmma and TMA (`has_wgmma_tma`); elsewhere fa3 has no estimate, and says why;
/// - standard: three bulk kernels with many blocks each, the same serial sum over the whole GPU;
/// - `--stages 1` (fa2, split-kv, lean, paged-v1, paged-v2 built unpipelined): each CTA also takes
///   at least its dependent tile round trips plus its tiles' arithmetic chains, measured on the
///   SM (``TileBursts``, ``MMASyncChain``; docs/time-model.md, "Unpipelined CTAs").
/// CTAs go to the SM that frees first, in launch order (wave quantisation). The tensor rate is the
/// hardware file's `mma.sync` rate for every schedule but fa3 (on Hopper the datasheet peak needs
/// wgmma, which only FA3-style kernels issue).
///
/// Bytes: HBM accesses as the simulator counts them, except that K/V re-reads hit in L2 when the
/// K/V of the heads in flight fit in it — then only the compulsory bytes reach HBM (measured on
/// an H100: PyTorch's FA2 reads ≈ Q, K, V once from DRAM at N = 4096, `Reports/gpu`).
///
/// Schedules whose CTAs take ranges of one stream of work over every instance (``StreamLaunched``:
/// Lean Attention, docs/time-model.md) give each CTA's bytes and score entries themselves; a CTA's time is
/// the same serial sum over its own loads, and the CTAs are placed as above. With lean's default
/// 2·SMs CTAs that is one wave of balanced ranges, each SM's time its CTAs' units plus the hosts'
/// merges of the partials (the contributors run in the same wave and finish with the host).
public enum TimeEstimate {
    public struct Breakdown: Sendable, Equatable {
        public var seconds: Double
        public var ctas: Int
        public var waves: Double
        public var hbmBytes: Double
    }

    /// fp32 operations per score besides the exponential (see above).
    public static let softmaxFP32Ops = 3.5

    public static func estimate(_ r: ScheduleResult, _ problem: AttentionProblem, _ hw: HardwareModel) throws(ModelError) -> Breakdown? {
        // Schedules of several kernels with their own CTA loads (chunk-attn) are placed kernel by
        // kernel, their whole batch at once (they see every length together).
        if let s = r.kind.implementation, let kernels = s as? any KernelLaunched.Type, let t = r.tiles, r.counts != nil {
            guard s.launch.timeModel else { throw .unsupported("no time model for \(r.kind.rawValue) yet") }
            return try kernelEstimate(kernels, problem.scheduled, t, hw)
        }
        if let parts = problem.varlenParts, let each = r.perLength, each.count == parts.count {
            return try partsEstimate(r, problem, parts, each, hw)
        }
        if let groups = problem.lengthGroups, let each = r.perLength, each.count == groups.count {
            return try lengthsEstimate(r, problem, groups, each, hw)
        }
        guard let launch = try launch(r, problem, hw) else { return nil }
        return place(launch, r, problem, hw)
    }

    /// The CTAs of one result's launch with their times (nil without counts or tiles).
    static func launch(_ r: ScheduleResult, _ problem: AttentionProblem, _ hw: HardwareModel) throws(ModelError) -> Launch? {
        guard let counts = r.counts, let t = r.tiles, let s = r.kind.implementation else { return nil }
        guard s.launch.timeModel else { throw .unsupported("no time model for \(r.kind.rawValue) yet") }
        if s is any KernelLaunched.Type { throw .unsupported("\(r.kind.rawValue) is placed kernel by kernel, not as one launch") }
        let p = problem.scheduled
        // FA3 issues warpgroup MMAs (wgmma); the other schedules' kernels warp-level mma.sync.
        let peak = try hw.tensorFlops(p.dtype, mmaSync: !s.launch.warpgroupMMA)
        let pipelinePerScore = try warpgroupSecondsPerScore(s, t, p, hw, peak)
        let smRate = (
            bw: hw.hbmBandwidth / Double(hw.sms), flops: peak / Double(hw.sms), exp: hw.expRatePerSM,
            fp32: hw.fp32RatePerSM
        )
        // Live score entries per row tile, summed over the live column tiles.
        let tr = t.tr(p)
        let rowWork = (0..<tr).map { i -> Double in
            let live = t.liveColumnTiles(i, p)
            return live.isEmpty ? 0 : Double(t.rows(i, p).count * live.covered { t.cols($0, p) })
        }
        let scores = rowWork.reduce(0, +) * Double(p.instances)
        let flops = 4 * scores * Double(p.d), exps = scores
        let lookups = LookupSteps(s, p, t)
        if let stream = s as? any StreamLaunched.Type {
            return try streamLaunch(stream, counts, p, t, hw, smRate: smRate, lookups: lookups, rounds: LoadRounds(s, p, t, hw))
        }
        let bytes = hbmBytes(counts, p, t, hw, launch: s.launch.model)
        // A CTA's bytes, then its arithmetic (tensor, exponentials, fp32) at one SM's rates.
        func phases(_ share: Double) -> [Double] {
            [
                bytes * share / smRate.bw, flops * share / smRate.flops, exps * share / smRate.exp,
                softmaxFP32Ops * exps * share / smRate.fp32,
            ]
        }
        // The CTA's arithmetic alone (an unpipelined CTA waits for it between its loads).
        func compute(_ share: Double) -> Double { phases(share).dropFirst().reduce(0, +) }
        func cta(_ share: Double) -> Double {
            if let perScore = pipelinePerScore { return max(bytes * share / smRate.bw, exps * share * perScore) }
            let parts = phases(share)
            return s.launch.overlapsPhases ? parts.max()! : parts.reduce(0, +)
        }
        let rounds = LoadRounds(s, p, t, hw)
        switch s.launch.model {
        case .bulk:
            // Bulk kernels spread evenly: the whole GPU's time is one SM's for 1/SMs of the work.
            return Launch(bytes: bytes, bulkSeconds: cta(1 / Double(hw.sms)))
        case .perHead:
            // fa1 reads a contiguous cache only: no lookups.
            return Launch(parts: [.init(times: [cta(1 / Double(p.instances))], lookups: [0], repeats: p.instances)], bytes: bytes)
        case .perRowTile:
            let work = s.ctaWork(p, t) ?? rowWork
            let tiles = s.ctaColumnTiles(p, t) ?? (0..<tr).map { t.liveColumnTiles($0, p).count }
            var part = Launch.Part(times: work.map { cta($0 / scores) }, lookups: tiles.map(lookups.steps), repeats: p.instances)
            if let rounds {
                (part.rounds, part.compute) = (tiles.map(rounds.rounds), work.map { compute($0 / scores) })
                (part.chain, part.roundBytes) = (tiles.map { Double($0) * rounds.chainPerTile }, rounds.bytes)
            }
            return Launch(parts: [part], bytes: bytes)
        }
    }

    /// Seconds per score of a warpgroup-MMA (fa3) CTA, from ``WarpgroupPipeline``; nil for the
    /// other schedules. Hardware without wgmma and TMA cannot run such a kernel: no estimate.
    static func warpgroupSecondsPerScore(
        _ s: any Schedule.Type, _ t: KernelConfig, _ p: AttentionProblem, _ hw: HardwareModel, _ peak: Double
    ) throws(ModelError) -> Double? {
        guard s.launch.warpgroupMMA else { return nil }
        guard hw.hasWgmmaTMA, let pipeline = hw.warpgroupPipeline else {
            throw .unsupported("\(s.kind.rawValue) needs wgmma and TMA (Hopper, sm_90a); \(hw.name) has neither")
        }
        return pipeline.secondsPerScore(br: t.br, bc: t.bc, d: p.d, tensorFlops: peak, hw)
    }

    /// Above this many CTAs the makespan is not simulated CTA by CTA (see `schedule(perHead:)`).
    static let simulatedCTAs = 1 << 18

    /// Makespan of `heads` copies of one head's CTAs, launched head after head. Up to
    /// ``simulatedCTAs`` they are placed one by one; beyond, the work per SM plus half the longest
    /// CTA (the last wave's tail, on average) — a million CTAs would otherwise cost seconds.
    static func schedule(perHead: [Double], heads: Int, _ hw: HardwareModel, _ bytes: Double) -> Breakdown {
        let count = Limits.product(perHead.count, heads) ?? Int.max
        guard count > simulatedCTAs else {
            return schedule(Array([[Double]](repeating: perHead, count: heads).joined()), hw, bytes)
        }
        let total = perHead.reduce(0, +) * Double(heads), longest = perHead.max() ?? 0
        return Breakdown(
            seconds: total / Double(hw.sms) + longest / 2, ctas: count,
            waves: Double(count) / Double(hw.sms), hbmBytes: bytes)
    }

    /// HBM bytes that reach DRAM: the simulator's, or only the compulsory ones when the K/V of
    /// the heads in flight fit in L2.
    static func hbmBytes(_ c: TrafficCounts, _ p: AttentionProblem, _ t: KernelConfig, _ hw: HardwareModel, launch: LaunchModel) -> Double {
        let counted = Double(c.hbm.bytes)
        guard launch != .bulk else { return counted }
        let ctasPerHead = launch == .perHead ? 1 : t.tr(p)
        let headsInFlight = min(p.instances, (hw.sms + ctasPerHead - 1) / ctasPerHead)
        guard let compulsoryKV = compulsoryKV(p, hw, headsInFlight: headsInFlight) else { return counted }
        return counted - Double(c[.K].readBytes + c[.V].readBytes) + compulsoryKV
    }

    /// K and V once per KV head, in bytes, when the K/V of `headsInFlight` instances fit in L2
    /// (then re-reads of a KV head's tiles hit there); nil when they do not.
    /// Under a paged cache the keys are whole blocks (the last one read whole, docs/counting-rules.md §12).
    static func compulsoryKV(_ p: AttentionProblem, _ hw: HardwareModel, headsInFlight: Int) -> Double? {
        let b = p.pagedBlockSize
        let keys = b.map { ceilDiv(p.nk, $0) * $0 } ?? p.nk
        let kvPerHead = 2 * Double(keys) * Double(p.d) * Double(p.dtype.size)
        guard Double(headsInFlight) * kvPerHead <= Double(hw.l2Bytes) else { return nil }
        return kvPerHead * Double(p.batch * p.kvHeads)
    }

    /// One CTA's work, as a ``StreamLaunched`` schedule reports it: its HBM bytes (K/V reads apart,
    /// for the L2 rule) and its live score entries.
    public struct CTALoad: Sendable, Equatable {
        public var kvBytes: Int
        public var otherBytes: Int
        public var scores: Double
        /// Column tiles it loads (each a K and a V tile load), for the paged lookup term.
        public var tiles: Int

        public init(kvBytes: Int = 0, otherBytes: Int = 0, scores: Double = 0, tiles: Int = 0) {
            (self.kvBytes, self.otherBytes, self.scores, self.tiles) = (kvBytes, otherBytes, scores, tiles)
        }
    }

    /// The CTAs of a stream-launched schedule: each CTA's time is the serial (or, if the schedule
    /// overlaps, the largest) of its own bytes, FLOPs, exponentials and fp32 work at one SM's
    /// rates, the K/V bytes scaled by the L2 rule with the instances its CTAs in flight (at most
    /// one per SM) cover.
    static func streamLaunch(
        _ s: any StreamLaunched.Type, _ c: TrafficCounts, _ p: AttentionProblem, _ t: KernelConfig, _ hw: HardwareModel,
        smRate: (bw: Double, flops: Double, exp: Double, fp32: Double), lookups: LookupSteps, rounds: LoadRounds?
    ) throws(ModelError) -> Launch {
        let ctas = max(1, c.kernels.reduce(0) { $0 + $1.ctas })
        let headsInFlight = min(p.instances, Int((Double(p.instances) * Double(hw.sms) / Double(ctas)).rounded(.up)))
        let kvReads = Double(c[.K].readBytes + c[.V].readBytes)
        let kv = kvReads > 0 ? (compulsoryKV(p, hw, headsInFlight: headsInFlight) ?? kvReads) / kvReads : 1
        var part = Launch.Part(times: [], lookups: [], repeats: 1, roundBytes: rounds?.bytes), bytes = 0.0
        do {
            try s.ctaLoads(p, t) { load in
                let b = Double(load.kvBytes) * kv + Double(load.otherBytes)
                let parts = [
                    b / smRate.bw, 4 * load.scores * Double(p.d) / smRate.flops, load.scores / smRate.exp,
                    softmaxFP32Ops * load.scores / smRate.fp32,
                ]
                part.times.append(s.launch.overlapsPhases ? parts.max()! : parts.reduce(0, +))
                part.lookups.append(lookups.steps(load.tiles))
                if let rounds {
                    part.rounds.append(rounds.rounds(load.tiles))
                    part.compute.append(parts.dropFirst().reduce(0, +))
                    part.chain.append(Double(load.tiles) * rounds.chainPerTile)
                }
                bytes += b
            }
        } catch {
            throw .unsupported("no time estimate for \(s.kind.rawValue): \(error.description)")
        }
        return Launch(parts: [part], bytes: bytes)
    }

    /// Makespan of CTAs in launch order, each to the SM that frees first.
    static func schedule(_ times: [Double], _ hw: HardwareModel, _ bytes: Double) -> Breakdown {
        var sms = [Double](repeating: 0, count: hw.sms)
        if Set(times).count == 1, let t = times.first {
            let waves = (times.count + hw.sms - 1) / hw.sms
            return Breakdown(seconds: Double(waves) * t, ctas: times.count, waves: Double(times.count) / Double(hw.sms), hbmBytes: bytes)
        }
        for t in times {
            let i = sms.indices.min { sms[$0] < sms[$1] }!
            sms[i] += t
        }
        return Breakdown(seconds: sms.max()!, ctas: times.count, waves: Double(times.count) / Double(hw.sms), hbmBytes: bytes)
    }
}

/// A schedule whose CTAs take ranges of one stream of work that spans instances (Lean Attention's
/// stream-K ranges; Sanovar et al. 2024, arXiv:2405.10480), so that its CTAs do not repeat from head to head: the time
/// estimate asks it for every CTA's loads instead of sharing the counts out per row tile.
public protocol StreamLaunched: Schedule {
    /// Calls `body` once per CTA, in launch order, with that CTA's loads.
    static func ctaLoads(_ p: AttentionProblem, _ t: KernelConfig, _ body: (TimeEstimate.CTALoad) -> Void) throws(SimulationError)
}
