import IOSimCore
import IOSimFormats

/// Placing a launch's CTAs on the SMs, the paged lookup term, and one launch over sequences of
/// several lengths (docs/time-model.md).
extension TimeEstimate {
    /// The CTAs of one launch as the estimate places them: lists of CTA times (without lookups)
    /// with each CTA's exposed-lookup steps, each list launched `repeats` times in a row; or, for
    /// bulk kernels, their seconds.
    struct Launch {
        struct Part {
            var times: [Double]
            var lookups: [Double]
            var repeats: Int
            /// Unpipelined kernels only (``LoadRounds``): each CTA's dependent tile-load rounds, its
            /// arithmetic at the SM's throughput, and its tiles' arithmetic chains (seconds); and
            /// the bytes one round loads at once (nil: pipelined). Per part, since under
            /// `--lengths` each length's tiles are clamped to it.
            var rounds: [Double] = []
            var compute: [Double] = []
            var chain: [Double] = []
            var roundBytes: Double?
        }
        var parts: [Part] = []
        var bytes = 0.0
        var bulkSeconds: Double?
    }

    /// The dependent tile loads of an unpipelined kernel's CTA (`--stages 1`): it issues a tile's
    /// loads only after the previous tile's work, so each costs a whole round trip
    /// (``TileBursts``). Rounds follow the kernel's load chain (``TableLookups``): one per K and
    /// one per V tile load (FlashAttention-2's loop, FlexAttention's decode), or, for vLLM's
    /// kernels, one block per warp in parallel in the K loop and again in the V loop. Only the
    /// single-loop kernels that take `--stages` have rounds (fa2, split-kv, lean, paged-v1,
    /// paged-v2: ``Schedule/pipelineStages``); fa3's producer loads ahead, and standard, fa1 and small-m (P through HBM) are
    /// other loops. Kernels with 2 or more stages have none: the next tile is in flight.
    struct LoadRounds {
        let kind: TableLookups
        let warps: Int
        /// Bytes in flight per round: a K (or V) tile, or one block per warp.
        let bytes: Double
        /// Seconds of one column tile's arithmetic chain (``MMASyncChain``; 0 without its fields).
        let chainPerTile: Double

        init?(_ s: any Schedule.Type, _ p: AttentionProblem, _ t: KernelConfig, _ hw: HardwareModel) {
            guard t.stages == 1, s.pipelineStages != nil, !s.launch.warpgroupMMA, s.launch.tableLookups != .prefetched else { return nil }
            let tile = Double(t.bc) * Double(p.d) * Double(p.dtype.size)
            (kind, warps) = (s.launch.tableLookups, max(1, t.warps))
            // vLLM's kernels compute their dot products with thread groups, not mma.sync: their
            // arithmetic chain is not modelled (rounds only).
            let cycles = s.launch.tableLookups == .perWarpBlock ? 0 : hw.mmaSyncChain?.cycles(br: t.br, bc: t.bc, d: p.d, warps: warps, hw) ?? 0
            chainPerTile = cycles / hw.clockHz
            bytes = kind == .perWarpBlock ? tile * Double(warps) : tile
        }

        func rounds(_ tiles: Int) -> Double { Double(kind.steps(tiles: tiles, warps: warps)) }
    }

    /// Resident warps per SM up to which a dependent block-table lookup is not hidden by other
    /// warps' work. Measured on the H100 (Reports/gpu/paged_decode_findings.txt §4, a 16+16 KiB
    /// K-then-V tile step per lookup): CTAs of 2 warps pay +135–172 ns per lookup, about one
    /// L2-hit latency (146.6 ns), at 64, 128 and 256 CTAs (1–2 CTAs, 2–4 warps per SM), and
    /// −44 to +8 ns at 512 CTAs (8 warps per SM).
    static let lookupHidingWarps = 4

    /// Block-table lookups a CTA waits on, from the column tiles it loads: none under a contiguous
    /// cache; else, by the kernel's ``TableLookups``, one per K and one per V tile load
    /// (FlashAttention-2), one per block per loop on each of `warps` parallel chains (vLLM), or none.
    struct LookupSteps {
        let kind: TableLookups?
        let warps: Int

        init(_ s: any Schedule.Type, _ p: AttentionProblem, _ t: KernelConfig) {
            let entry = ScheduleRegistry.entry(s.kind, s.pass)
            let paged = entry?.readsPagedCache == true && (entry?.alwaysPaged == true || p.pagedBlockSize != nil)
            (kind, warps) = (paged ? s.launch.tableLookups : nil, max(1, t.warps))
        }

        func steps(_ tiles: Int) -> Double { Double(kind?.steps(tiles: tiles, warps: warps) ?? 0) }
    }

    /// The latency each exposed lookup costs in this launch: the hardware's L2-hit latency when the
    /// SMs hold at most ``lookupHidingWarps`` resident warps — `warps` per CTA times the CTAs with
    /// work per SM (⌈working CTAs / SMs⌉, at most as many as fit the SM's shared memory and
    /// registers) — else 0; 0 when the hardware file gives no latencies.
    static func lookupLatency(_ launch: Launch, _ r: ScheduleResult, _ hw: HardwareModel, perSM: Double) -> Double {
        guard let latency = hw.latencies?.l2Hit, let warps = r.tiles?.warps else { return 0 }
        guard launch.parts.contains(where: { $0.lookups.contains { $0 > 0 } }) else { return 0 }
        // The SM's resident CTAs wait on their lookups side by side: each is charged its share.
        return Double(max(1, warps)) * perSM <= Double(lookupHidingWarps) ? latency / perSM : 0
    }

    /// CTAs with work resident per SM (⌈working CTAs / SMs⌉, at most as many as fit the SM's
    /// shared memory and registers) and in flight on the GPU at once.
    static func residency(_ launch: Launch, _ r: ScheduleResult, _ hw: HardwareModel) -> (perSM: Double, inFlight: Int) {
        let working = launch.parts.reduce(0.0) { sum, part in sum + Double(part.repeats) * Double(part.times.filter { $0 > 0 }.count) }
        let fit = max(1, (hw.smemPerSM + hw.registersPerSM) / max(1, r.footprint ?? 1))
        let perSM = min(Double(fit), max(1, (working / Double(hw.sms)).rounded(.up)))
        return (perSM, Int(min(working, perSM * Double(hw.sms))))
    }

    /// The round trip of each part's tiles in an unpipelined launch (docs/time-model.md,
    /// "Unpipelined CTAs"), nil when the launch is pipelined or the file gives no tile bursts.
    /// Little's law: a CTA has requests in flight only while it waits, the fraction
    /// f = Σ rounds·t / (Σ rounds·t + Σ chains) of its time (over the launch), so f·n of the n CTAs
    /// in flight queue at once; t(f) and f(t) meet at a fixed point, found by iteration (each step
    /// shrinks the error by a factor below 1 − f; f = 1 without chains, the probe's case).
    static func roundTrips(_ launch: Launch, _ hw: HardwareModel, inFlight: Int) -> [Double]? {
        guard let bursts = hw.tileBursts, launch.parts.contains(where: { $0.roundBytes != nil }) else { return nil }
        let n = Double(inFlight)
        func trips(_ f: Double) -> [Double] {
            launch.parts.map { part in part.roundBytes.map { bursts.seconds(bytes: $0, concurrent: n * f, bandwidth: hw.hbmBandwidth) } ?? 0 }
        }
        var t = trips(1)
        let chains = launch.parts.reduce(0.0) { $0 + Double($1.repeats) * $1.chain.reduce(0, +) }
        for _ in 0..<16 where chains > 0 {
            let waiting = zip(launch.parts, t).reduce(0.0) { $0 + Double($1.0.repeats) * $1.0.rounds.reduce(0, +) * $1.1 }
            guard waiting > 0 else { break }
            t = trips(waiting / (waiting + chains))
        }
        return t
    }

    /// The makespan of a launch: its CTAs in order, each to the SM that frees first (beyond
    /// ``simulatedCTAs``, the work per SM plus half the longest CTA), lookups included.
    static func place(_ launch: Launch, _ r: ScheduleResult, _ problem: AttentionProblem, _ hw: HardwareModel) -> Breakdown {
        if let seconds = launch.bulkSeconds { return Breakdown(seconds: seconds, ctas: 0, waves: 0, hbmBytes: launch.bytes) }
        let (perSM, inFlight) = residency(launch, r, hw)
        let latency = lookupLatency(launch, r, hw, perSM: perSM)
        // An unpipelined CTA: its rounds and its tiles' chains one after the other, the SM's
        // resident CTAs side by side (on their own schedulers: each is charged its share), never
        // less than its arithmetic at the SM's throughput nor its bandwidth-share time.
        let trips = roundTrips(launch, hw, inFlight: inFlight)
        let parts = zip(launch.parts, trips ?? launch.parts.map { _ in 0 }).map { part, trip in
            var times = part.times
            if trips != nil, part.roundBytes != nil, part.rounds.count == times.count {
                for i in times.indices where times[i] > 0 {
                    times[i] = max(times[i], part.compute[i], (part.rounds[i] * trip + part.chain[i]) / perSM)
                }
            }
            return latency == 0 ? times : zip(times, part.lookups).map { $0 + $1 * latency }
        }
        if parts.count == 1 { return schedule(perHead: parts[0], heads: launch.parts[0].repeats, hw, launch.bytes) }
        var count = 0
        for (times, part) in zip(parts, launch.parts) {
            let (sum, overflow) = count.addingReportingOverflow(Limits.product(times.count, part.repeats) ?? .max)
            count = overflow ? .max : sum
        }
        guard count > simulatedCTAs else {
            var all: [Double] = []
            all.reserveCapacity(count)
            for (times, part) in zip(parts, launch.parts) { for _ in 0..<part.repeats { all += times } }
            return schedule(all, hw, launch.bytes)
        }
        let total = zip(parts, launch.parts).reduce(0.0) { $0 + $1.0.reduce(0, +) * Double($1.1.repeats) }
        let longest = parts.compactMap { $0.max() }.max() ?? 0
        return Breakdown(seconds: total / Double(hw.sms) + longest / 2, ctas: count, waves: Double(count) / Double(hw.sms), hbmBytes: launch.bytes)
    }

    /// `--lengths` (docs/time-model.md, "Variable lengths"): a kernel over a batch of sequences of several lengths is one grid,
    /// so the CTAs of every length are placed together, not length after length. The order of the
    /// sequences is not part of the problem (the counts do not depend on it), so the estimate
    /// takes them longest first — each sequence's CTAs in the kernel's own order — the order that
    /// keeps a long sequence's CTAs from starting last (the longest-processing-time rule); one
    /// length gives the estimate of the plain batch exactly.
    static func lengthsEstimate(
        _ r: ScheduleResult, _ problem: AttentionProblem, _ groups: [SequenceLengths.Group], _ each: [ScheduleResult],
        _ hw: HardwareModel
    ) throws(ModelError) -> Breakdown? {
        let parts = groups.map { g in
            var p = problem
            (p.lengthGroups, p.nk, p.batch) = (nil, g.length, g.count)
            return p
        }
        return try partsEstimate(r, problem, parts, each, hw)
    }

    /// The CTAs of several problems' launches placed as one grid, the longest (by Nk) first:
    /// `--lengths`' groups and varlen's documents (each result in `each` of its problem).
    static func partsEstimate(
        _ r: ScheduleResult, _ problem: AttentionProblem, _ parts: [AttentionProblem], _ each: [ScheduleResult],
        _ hw: HardwareModel
    ) throws(ModelError) -> Breakdown? {
        var all = Launch()
        for (p, rg) in zip(parts, each).sorted(by: { $0.0.nk > $1.0.nk }) {
            guard let one = try launch(rg, p, hw) else { return nil }
            all.parts += one.parts
            all.bytes += one.bytes
            if let s = one.bulkSeconds { all.bulkSeconds = (all.bulkSeconds ?? 0) + s }
        }
        return place(all, r, problem, hw)
    }
}
