import AttentionReference
import Foundation
import TestSupport
import Testing

@testable import IOSim

/// Lean Attention's time estimate (docs/time-model.md, README.md "Decode": one wave, each CTA's work its units, the hosts'
/// merges): its per-CTA loads against the counts, and its estimate against split-kv's and fa2's.
@Suite struct LeanTimeEstimate {
    let h100: HardwareModel

    init() throws { h100 = try ModelFile.hardware(Repo.hardwareModel("h100-sxm").path) }

    /// Llama-3 8B's attention shape (Models/workloads/llama-3-8b.json), one query row per sequence.
    func llama8B(batch: Int, nk: Int, pack: Bool = true) throws -> AttentionProblem {
        let w = try ModelFile.workload(Repo.workloadModel("llama-3-8b").path)
        return AttentionProblem(n: 1, nk: nk, d: w.d, batch: batch, heads: w.heads, kvHeads: w.kvHeads, packGQA: pack)
    }

    func estimate(_ kind: ScheduleKind, _ p: AttentionProblem, _ request: TileRequest) throws -> TimeEstimate.Breakdown {
        let r = Simulator.simulate(kind, p, capacity: h100.onChipPerBlock, tiles: request)
        return try #require(try TimeEstimate.estimate(r, p, h100), "\(r.reason ?? "")")
    }

    /// What the CLI asks for with `--hardware`: split-kv with FA2's heuristic, lean with 2·SMs CTAs.
    func splitKV(_ p: AttentionProblem) -> TileRequest {
        TileRequest(splits: SplitKVHeuristic.splits(for: p, sms: h100.sms), policyExplicit: false)
    }
    var lean: TileRequest { TileRequest(ctas: 2 * h100.sms, policyExplicit: false) }

    @Test(arguments: [1, 5, 64, 264, 1000])
    func perCTALoadsSumToTheCountedBytesAndTheLiveScores(ctas: Int) throws {
        let masks: [AttentionMask] = [.none, .causal(.bottomRight), .slidingWindow(left: 300, right: 0, alignment: .topLeft)]
        for (n, nk) in [(1, 3000), (7, 900), (130, 500), (40, 20)] {
            for mask in masks {
                for dtype in [DType.fp16, .fp8] {
                    let p = AttentionProblem(n: n, nk: nk, d: 32, batch: 2, heads: 4, kvHeads: 2, dtype: dtype, mask: mask, packGQA: true)
                    let r = Simulator.simulate(.lean, p, capacity: 1 << 22, tiles: TileRequest(br: 32, bc: 64, ctas: ctas))
                    let counts = try #require(r.counts), t = try #require(r.tiles), q = p.scheduled
                    var loads: [TimeEstimate.CTALoad] = []
                    try LeanSchedule.ctaLoads(q, t) { loads.append($0) }
                    #expect(loads.count == counts.kernels.reduce(0) { $0 + $1.ctas }, "one load per CTA")
                    #expect(loads.reduce(0) { $0 + $1.kvBytes } == counts[.K].readBytes + counts[.V].readBytes)
                    #expect(loads.reduce(0) { $0 + $1.kvBytes + $1.otherBytes } == counts.hbm.bytes, "\(mask) \(n)×\(nk) \(dtype)")
                    // Live score entries, tile by tile from the mask's column ranges, once per instance.
                    let scores = (0..<t.tr(q)).reduce(0) { sum, i in
                        let live = t.liveColumnTiles(i, q)
                        return sum + (live.isEmpty ? 0 : t.rows(i, q).count * (t.cols(live.upperBound - 1, q).upperBound - live.lowerBound * t.bc))
                    }
                    #expect(loads.reduce(0) { $0 + $1.scores } == Double(scores * q.instances))
                }
            }
        }
    }

    @Test func oneCTAPerRowTileOnEqualRowsIsFa2sEstimate() throws {
        // Without a mask and with full row tiles every row tile has the same units and bytes:
        // lean's CTAs are fa2's, CTA for CTA (fa2 shares its bytes out by score entries).
        for p in [try llama8B(batch: 8, nk: 4096, pack: false), AttentionProblem(n: 256, nk: 5000, d: 64, batch: 3, heads: 2)] {
            let tiles = TileRequest(br: 64, bc: 128)
            let fa2 = try estimate(.fa2, p, tiles), lean = try estimate(.lean, p, tiles)
            #expect(lean.ctas == fa2.ctas)
            #expect(abs(lean.seconds / fa2.seconds - 1) < 1e-12, "\(lean.seconds) vs \(fa2.seconds)")
        }
    }

    @Test func leanIsNeverAboveSplitKVAndBelowItWhereSplitKVsLastWaveIsPartial() throws {
        // Llama-3 8B decode at 32K, batch 1…64: split-kv launches batch·8·S CTAs; when that is
        // not a multiple of the 132 SMs its last wave leaves SMs idle, which lean's balanced
        // ranges over 2·SMs CTAs do not.
        var partial = 0
        for batch in 1...64 {
            let p = try llama8B(batch: batch, nk: 32768)
            let s = try estimate(.splitKV, p, splitKV(p)), l = try estimate(.lean, p, lean)
            #expect(l.seconds <= s.seconds * (1 + 1e-12), "batch \(batch): lean \(l.seconds) split-kv \(s.seconds)")
            if s.ctas % h100.sms != 0 {
                partial += 1
                #expect(l.seconds < s.seconds, "batch \(batch), \(s.ctas) split-kv CTAs")
            }
        }
        #expect(partial > 32, "most batches leave split-kv a partial wave")
    }

    @Test func leanMovesItsBytesNoFasterThanTheHBM() throws {
        for batch in [1, 3, 8, 64] {
            for nk in [4096, 131_072] {
                let p = try llama8B(batch: batch, nk: nk)
                let l = try estimate(.lean, p, lean)
                #expect(l.seconds >= l.hbmBytes / h100.hbmBandwidth, "batch \(batch) Nk \(nk)")
            }
        }
    }

    @Test func leanScalesWithTheCacheLengthUpToOneUnitPerCTA() throws {
        // Doubling Nk doubles every CTA's units; the time moves by 2× up to the one unit by which
        // CTA ranges differ (q = ⌊T/G⌋ units per CTA at the shorter cache) and the fixed Q and
        // partial bytes.
        var previous: Double?
        for nk in [8192, 16384, 32768, 65536, 131_072] {
            let p = try llama8B(batch: 8, nk: nk)
            let seconds = try estimate(.lean, p, lean).seconds
            if let previous {
                let units = p.scheduled.instances * (nk / 2 / SplitKVHeuristic.blockN(d: p.d)), q = Double(units / (2 * h100.sms))
                let ratio = seconds / previous
                #expect(ratio > 2 * q / (q + 1) && ratio < 2 * (q + 1) / q, "Nk \(nk): ×\(ratio)")
            }
            previous = seconds
        }
    }
}
