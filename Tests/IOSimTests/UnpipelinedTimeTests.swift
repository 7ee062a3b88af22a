import AttentionReference
import Foundation
import TestSupport
import Testing

@testable import IOSim

/// The time estimate of unpipelined kernels (`--stages 1`, docs/time-model.md "Unpipelined
/// CTAs"): each dependent K and V tile load is a whole round trip, measured on the H100
/// (`tile_burst_*_s`, Reports/gpu/tile_step_probe.txt).
@Suite struct UnpipelinedTime {
    let h100: HardwareModel
    /// The same GPU without its tile-burst and chain fields.
    var bare: HardwareModel {
        var hw = h100
        (hw.tileBursts, hw.mmaSyncChain) = (nil, nil)
        return hw
    }

    init() throws { h100 = try ModelFile.hardware(Repo.hardwareModel("h100-sxm").path) }

    func decode(batch: Int, heads: Int = 1, nk: Int, paged: Bool = false, block: Int = 16) -> AttentionProblem {
        var p = AttentionProblem(n: 1, nk: nk, d: 128, batch: batch, heads: heads)
        (p.kvLayout, p.blockSize) = (paged ? .paged : .contiguous, block)
        return p
    }

    func seconds(_ kind: ScheduleKind, _ p: AttentionProblem, _ request: TileRequest, _ hw: HardwareModel) throws -> Double {
        let r = Simulator.simulate(kind, p, capacity: h100.onChipPerBlock, tiles: request)
        #expect(r.feasible, "\(kind): \(r.reason ?? "")")
        return try #require(try TimeEstimate.estimate(r, p, hw)).seconds
    }

    /// The probe's rows: (threads, tile bytes, CTAs, measured seconds per tile), cp.async mode, no chain.
    func probeRows() throws -> [(threads: Int, bytes: Int, ctas: Int, perTile: Double)] {
        let text = try String(contentsOf: Repo.gpuReports.appendingPathComponent("tile_step_probe.txt"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ",").map(String.init)
            guard f.count == 13, let t = Int(f[0]), let b = Int(f[1]), f[2] == "0", f[3] == "0", let g = Int(f[4]),
                let ns = Double(f[8])
            else { return nil }
            return (t, b, g, ns / 2 * 1e-9)
        }
    }

    @Test func theH100FileCarriesTheMeasuredTileBurstsWithTheirSource() throws {
        let b = try #require(h100.tileBursts)
        #expect(b == TileBursts(alone4KiB: 530.25e-9, alone16KiB: 728.75e-9, alone32KiB: 861.25e-9))
        try expectAllOrNone(TileBursts.fields, source: "tile_step_probe") { $0.tileBursts != nil }
        // The lone-CTA rows of the probe are the fields (half a K-then-V step).
        let alone = try probeRows().filter { $0.ctas == 1 && $0.threads == 64 }
        #expect(alone.count == 3)
        for row in alone { #expect(abs(b.alone(bytes: Double(row.bytes)) - row.perTile) < 1e-12, "\(row.bytes) B") }
        // Never falling as the tile grows.
        let json = try h100JSON()
        var falling = json
        falling["tile_burst_32kib_s"] = 1e-7
        #expect(
            throws: ModelError.wrongType(
                path: "x.json", field: "tile_burst_32kib_s", expected: "at least 'tile_burst_16kib_s': a larger tile takes no less time")
        ) { try HardwareModel(json: JSONSerialization.data(withJSONObject: falling), path: "x.json") }
    }

    @Test func theTwoBoundsDescribeEveryProbeRowWithinTheDocumentedBand() throws {
        // docs/time-model.md: −15% … +18% over 1–8 warps, 4–32 KiB, 1–1056 CTAs (41 rows).
        let b = try #require(h100.tileBursts), rows = try probeRows()
        #expect(rows.count == 41)
        var worst = (low: 1.0, high: 1.0)
        for row in rows {
            let model = b.seconds(bytes: Double(row.bytes), concurrent: Double(row.ctas), bandwidth: h100.hbmBandwidth)
            let ratio = model / row.perTile
            worst = (min(worst.low, ratio), max(worst.high, ratio))
        }
        #expect(worst.low >= 0.85 && worst.high <= 1.18, "\(worst)")
    }

    @Test func theInterpolationIsLinearBetweenTheFieldsAndFlatBelowFourKiB() {
        let b = TileBursts(alone4KiB: 500e-9, alone16KiB: 700e-9, alone32KiB: 900e-9)
        #expect(b.alone(bytes: 1024) == 500e-9)
        #expect(abs(b.alone(bytes: 10240) - 600e-9) < 1e-15)
        #expect(abs(b.alone(bytes: 65536) - 1300e-9) < 1e-15)
        // The queue bound takes over when many CTAs ask at once.
        #expect(b.seconds(bytes: 16384, concurrent: 1, bandwidth: 1e12) == 700e-9)
        #expect(abs(b.seconds(bytes: 16384, concurrent: 100, bandwidth: 1e12) - (500e-9 + 1_638_400 / 1e12)) < 1e-15)
    }

    /// One column tile's chain of a 16-row, 2-warp decode CTA (Bc 64, d 128), in seconds.
    func decodeChain() throws -> Double {
        try #require(h100.mmaSyncChain?.cycles(br: 16, bc: 64, d: 128, warps: 2, h100)) / h100.clockHz
    }

    @Test func aLoneUnpipelinedCTAWaitsOneRoundTripPerKAndPerVTileThenItsChain() throws {
        // One CTA (batch 1, one head), Bc 64 at d 128 fp16: 16 KiB tiles, T column tiles, 2T rounds
        // and T arithmetic chains, one after the other.
        let round = try #require(h100.tileBursts).alone(bytes: 16384), chain = try decodeChain()
        for tiles in [1, 7, 64] {
            let p = decode(batch: 1, nk: 64 * tiles)
            let t = try seconds(.fa2, p, TileRequest(br: 16, bc: 64, stages: 1, warps: 2), h100)
            let expected = Double(2 * tiles) * round + Double(tiles) * chain
            #expect(abs(t - expected) <= 1e-9 * expected, "\(tiles) tiles: \(t) s, expected \(expected) s")
            #expect(try seconds(.fa2, p, TileRequest(br: 16, bc: 64, stages: 1, warps: 2), bare) < t)
        }
    }

    @Test func ctasResidentOnOneSMWaitSideBySide() throws {
        // 264 CTAs of 8 tiles each, 2 per SM on 132 SMs: the SM's time is one CTA's rounds (with
        // 264 requests in flight), not two CTAs' one after the other. (No chains: every CTA waits
        // all the time.)
        let b = try #require(h100.tileBursts)
        var rounds = h100
        rounds.mmaSyncChain = nil
        let p = decode(batch: 264, nk: 64 * 8)
        let t = try seconds(.fa2, p, TileRequest(br: 16, bc: 64, stages: 1, warps: 2), rounds)
        let expected = 16 * b.seconds(bytes: 16384, concurrent: 264, bandwidth: h100.hbmBandwidth)
        #expect(abs(t - expected) <= 1e-9 * expected, "\(t) s, expected \(expected) s")
    }

    @Test func ctasComputingBetweenLoadsQueueLessByLittlesLaw() throws {
        // With chains each CTA waits a fraction f = 2t / (2t + c) of a tile: f·264 requests queue.
        // The estimate's round trip t solves t = alone(4 KiB) + f(t)·264·B/BW.
        let b = try #require(h100.tileBursts), c = try decodeChain()
        let p = decode(batch: 264, nk: 64 * 8)
        let total = try seconds(.fa2, p, TileRequest(br: 16, bc: 64, stages: 1, warps: 2), h100)
        let t = (total - 8 * c) / 16, f = 2 * t / (2 * t + c)
        #expect(abs(t - b.seconds(bytes: 16384, concurrent: 264 * f, bandwidth: h100.hbmBandwidth)) <= 1e-6 * t)
        #expect(t < b.seconds(bytes: 16384, concurrent: 264, bandwidth: h100.hbmBandwidth))
    }

    @Test func theChainOfADecodeTileFollowsItsStructure() throws {
        // 16 rows, 2 warps: the warps split the 64 keys (32 each), so the row max crosses warps.
        let c = try #require(h100.mmaSyncChain), l = try #require(h100.warpgroupPipeline)
        #expect(c == MMASyncChain(hmmaLatency: 24.75, crossWarpRoundTrip: 48.01))
        let interval = 4096 / (636e12 / 132 / 1.83e9 / 4)
        let qk = max(32 * interval, 8 * 24.75), pv = max(32 * interval, 2 * 24.75)
        let rowMax = 7 * l.maxLatency + 2 * (l.shuffleLatency + l.maxLatency) + 48.01
        let expected = 2 * 48.01 + qk + rowMax + l.ex2Latency + 16.0 * 65 / 16 + 64 + pv
        let cycles = try #require(c.cycles(br: 16, bc: 64, d: 128, warps: 2, h100))
        #expect(abs(cycles - expected) < 1e-9, "\(cycles) vs \(expected)")
        // 128 rows on 4 warps: each warp its own 32 rows and all keys: no cross-warp step in the max.
        let rows = try #require(c.cycles(br: 128, bc: 64, d: 128, warps: 4, h100))
        let qk4 = max(2 * 8 * 8 * interval, 8 * 24.75), pv4 = max(2 * 16 * 4 * interval, 4 * 24.75)
        let max4 = 15 * l.maxLatency + 2 * (l.shuffleLatency + l.maxLatency)
        let expected4 = 2 * 48.01 + qk4 + max4 + l.ex2Latency + 128.0 * 65 / 16 + 2 * 64 + pv4
        #expect(abs(rows - expected4) < 1e-9, "\(rows) vs \(expected4)")
        // A lower bound of FlexAttention's plain decode step's arithmetic (2.40 µs a step alone
        // on its SM, of which the probe's memory rounds at 64 CTAs are 1.70 µs: 0.70 µs).
        #expect(cycles / h100.clockHz < 0.70e-6)
        // Without the fields, or without the softmax latencies, no chain.
        var noSoftmax = h100
        noSoftmax.warpgroupPipeline = nil
        #expect(c.cycles(br: 16, bc: 64, d: 128, warps: 2, noSoftmax) == nil)
    }

    @Test func theChainFieldsComeBothOrNoneWithTheirSource() throws {
        try expectAllOrNone(MMASyncChain.fields, source: "chain_latency_probe") { $0.mmaSyncChain != nil }
    }

    @Test func vllmsWarpsLoadTheirBlocksInParallelRounds() throws {
        // paged-v1 with 4 warps over 40 blocks of 16 tokens: 2 × ⌈40/4⌉ = 20 rounds of 4 blocks (16 KiB).
        let round = try #require(h100.tileBursts).alone(bytes: 4 * 16 * 128 * 2)
        let p = decode(batch: 1, nk: 16 * 40, paged: true)
        let request = TileRequest(br: 64, bc: 16, stages: 1, warps: 4)
        // Its lookups: one per block per loop on each warp's chain, 2 × ⌈40/4⌉ = 20 L2 latencies.
        let lookups = 20 * (try #require(h100.latencies).l2Hit), rounds = 20 * round
        let t = try seconds(.pagedV1, p, request, h100)
        // vLLM's kernels have no modelled chain: the rounds and the lookups, exactly.
        #expect(abs(t - (rounds + lookups)) <= 1e-9 * t, "\(t) s, rounds \(rounds) s, lookups \(lookups) s")
        #expect(try seconds(.pagedV1, p, request, bare) < t)
    }

    @Test(arguments: [ScheduleKind.fa2, .splitKV, .lean, .pagedV1, .pagedV2, .fa3])
    func pipelinedKernelsAndFilesWithoutBurstsKeepTheBandwidthShareEstimate(kind: ScheduleKind) throws {
        for (batch, nk, paged) in [(1, 4096, false), (8, 1000, true), (64, 32768, true)] {
            let p = decode(batch: batch, heads: 8, nk: nk, paged: paged || kind == .pagedV1 || kind == .pagedV2)
            let two = TileRequest(br: 64, bc: 64, stages: 2, warps: 4, splits: 4, ctas: 66)
            #expect(try seconds(kind, p, two, h100) == seconds(kind, p, two, bare), "\(kind) batch \(batch)")
            let one = TileRequest(br: 64, bc: 64, stages: 1, warps: 4, splits: 4, ctas: 66)
            // Without the fields --stages 1 changes nothing; with them it never speeds a kernel up,
            // and fa3 (its producer runs ahead) is never unpipelined.
            #expect(try seconds(kind, p, one, bare) == seconds(kind, p, two, bare))
            if kind == .fa3 {
                #expect(try seconds(kind, p, one, h100) == seconds(kind, p, one, bare))
            } else if batch == 1, kind != .pagedV1, kind != .pagedV2 {
                // 8 CTAs (or lean's 66) on 132 SMs, 16 KiB rounds: latency-bound, so --stages 1
                // costs time. (vLLM's rounds of 4 warps' blocks, 64 KiB here, stay below the
                // bandwidth share of 1/132 of the HBM per CTA.)
                #expect(try seconds(kind, p, one, h100) > seconds(kind, p, two, h100), "\(kind)")
            } else {
                #expect(try seconds(kind, p, one, h100) >= seconds(kind, p, two, h100))
            }
        }
    }

    @Test(arguments: [ScheduleKind.standard, .fa1, .smallM])
    func otherLoopsIgnoreStagesOne(kind: ScheduleKind) throws {
        // Three kernels (standard), K/V outer (fa1), P through HBM (small-m): not a single K-then-V loop.
        let p = decode(batch: 2, heads: 8, nk: 4096)
        let one = TileRequest(br: 64, bc: 64, stages: 1), two = TileRequest(br: 64, bc: 64, stages: 2)
        #expect(try seconds(kind, p, one, h100) == seconds(kind, p, two, h100))
    }

    @Test func aShortSequenceAddedToABatchNeverLowersTheEstimate() throws {
        // Under --lengths each length's tiles are clamped to it: the 16-token sequence's 4 KiB
        // round must not become the 4096-token sequences' round.
        func estimate(_ lengths: [Int]) throws -> Double {
            var p = decode(batch: lengths.count, nk: lengths.max()!)
            p.lengthGroups = try SequenceLengths(lengths).groups
            return try seconds(.fa2, p, TileRequest(br: 16, bc: 64, stages: 1, warps: 2), h100)
        }
        let four = try estimate([4096, 4096, 4096, 4096]), five = try estimate([4096, 4096, 4096, 4096, 16])
        #expect(five >= four, "\(five) s with a 16-token sequence added, \(four) s without")
    }

    @Test func stagesDoNotChangeTheCounts() throws {
        for kind in [ScheduleKind.fa2, .splitKV, .lean, .pagedV1, .pagedV2, .smallM, .fa1, .standard] {
            let p = decode(batch: 3, heads: 4, nk: 1000, paged: [.fa2, .splitKV, .lean, .pagedV1, .pagedV2].contains(kind))
            let a = Simulator.simulate(kind, p, capacity: h100.onChipPerBlock, tiles: TileRequest(br: 64, bc: 64, stages: 1, splits: 3))
            let b = Simulator.simulate(kind, p, capacity: h100.onChipPerBlock, tiles: TileRequest(br: 64, bc: 64, stages: 2, splits: 3))
            #expect(a.counts == b.counts && a.counts != nil, "\(kind)")
        }
    }
}
