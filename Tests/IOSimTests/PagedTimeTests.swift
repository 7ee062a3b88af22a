import AttentionReference
import Foundation
import TestSupport
import Testing

@testable import IOSim

/// The paged lookup term of the time estimate (docs/time-model.md): one L2-hit latency per
/// block-table lookup a CTA waits on, when the SM holds too few warps to hide it.
@Suite struct PagedLookupTime {
    let h100: HardwareModel
    /// The same GPU without its latency fields.
    var bare: HardwareModel {
        var hw = h100
        hw.latencies = nil
        return hw
    }

    init() throws { h100 = try ModelFile.hardware(Repo.hardwareModel("h100-sxm").path) }

    func decode(batch: Int, heads: Int = 8, kvHeads: Int? = nil, nk: Int, paged: Bool, block: Int = 16, pack: Bool = false)
        -> AttentionProblem
    {
        var p = AttentionProblem(n: 1, nk: nk, d: 128, batch: batch, heads: heads, kvHeads: kvHeads, packGQA: pack)
        (p.kvLayout, p.blockSize) = (paged ? .paged : .contiguous, block)
        return p
    }

    func run(_ kind: ScheduleKind, _ p: AttentionProblem, _ request: TileRequest) throws -> ScheduleResult {
        let r = Simulator.simulate(kind, p, capacity: h100.onChipPerBlock, tiles: request)
        #expect(r.feasible, "\(kind): \(r.reason ?? "")")
        return r
    }

    func seconds(_ r: ScheduleResult, _ p: AttentionProblem, _ hw: HardwareModel) throws -> Double {
        try #require(try TimeEstimate.estimate(r, p, hw)).seconds
    }

    @Test func theH100FileCarriesTheMeasuredLatenciesWithTheirSource() throws {
        let l = try #require(h100.latencies)
        #expect(l.l1Hit == 19.8e-9 && l.l2Hit == 146.6e-9 && l.dram == 355e-9)
        try expectAllOrNone(HardwareModel.latencyFields, source: "paged_decode_findings.txt") { $0.latencies != nil }
    }

    @Test(arguments: [ScheduleKind.fa2, .splitKV, .lean, .fa3])
    func theLookupTermIsZeroUnderAContiguousCache(kind: ScheduleKind) throws {
        for (batch, nk) in [(1, 4096), (4, 1000), (64, 32768)] {
            let p = decode(batch: batch, nk: nk, paged: false, pack: true)
            let r = try run(kind, p, TileRequest(br: 64, bc: 64, warps: 1, splits: 4, ctas: 66))
            #expect(try seconds(r, p, h100) == seconds(r, p, bare), "\(kind) batch \(batch) Nk \(nk)")
        }
    }

    @Test func aLatencyBoundCTAPaysOneL2LatencyPerTableEntryItWaitsOn() throws {
        // 8 CTAs on 132 SMs, one each. paged-v1 with 1 warp looks every block up in the K loop and
        // again in the V loop on one chain; fa2 with one block per tile looks up before each K
        // and each V tile load. Either way the CTA waits on every table entry it reads.
        let latency = try #require(h100.latencies).l2Hit
        for (kind, warps) in [(ScheduleKind.pagedV1, 1), (.fa2, 4)] {
            for nk in [16, 1000, 4096] {
                let p = decode(batch: 1, nk: nk, paged: true)
                let r = try run(kind, p, TileRequest(br: 64, bc: 16, warps: warps))
                let entries = try #require(r.counts)[.table].reads / p.instances
                #expect(entries == 2 * ((nk + 15) / 16))
                let term = try seconds(r, p, h100) - seconds(r, p, bare)
                #expect(term > 0)
                #expect(abs(term - Double(entries) * latency) <= 1e-9 * term, "\(kind) Nk \(nk): \(term) s for \(entries) entries")
            }
        }
    }

    @Test func vllmsWarpsLookUpInParallelChains() throws {
        // 4 warps split the blocks: each waits on ⌈blocks/4⌉ lookups per loop.
        let latency = try #require(h100.latencies).l2Hit, p = decode(batch: 1, nk: 1000, paged: true)
        let r = try run(.pagedV1, p, TileRequest(br: 64, bc: 16, warps: 4))
        let term = try seconds(r, p, h100) - seconds(r, p, bare)
        #expect(abs(term - Double(2 * ((63 + 3) / 4)) * latency) <= 1e-9 * term)
    }

    @Test func theTermVanishesWithoutLatencyFieldsAndWhenTheSMsHoldEnoughWarps() throws {
        // Without latencies the lookups cost nothing: 1 and 8 warps (1 and 8 lookup chains) give
        // the same estimate; with them they differ. With 8 warps per SM the term is 0 on the H100 too.
        let p = decode(batch: 2, nk: 5000, paged: true)
        func at(_ warps: Int, _ hw: HardwareModel) throws -> Double {
            try seconds(try run(.pagedV1, p, TileRequest(br: 64, bc: 16, warps: warps)), p, hw)
        }
        #expect(try at(1, bare) == at(8, bare))
        #expect(try at(1, h100) > at(1, bare))
        #expect(try at(8, h100) == at(8, bare))
        // 64 sequences × 8 heads = 512 CTAs: 4 per SM, 16 warps: hidden.
        let many = decode(batch: 64, nk: 5000, paged: true)
        let r = try run(.pagedV1, many, TileRequest(br: 64, bc: 16, warps: 4))
        #expect(try seconds(r, many, h100) == seconds(r, many, bare))
    }

    @Test(arguments: [ScheduleKind.pagedV1, .pagedV2, .fa2, .splitKV, .lean])
    func theEstimateGrowsWithTheBlockCount(kind: ScheduleKind) throws {
        // More keys at a fixed block size, and smaller blocks for the same keys. (paged-v2 adds
        // a CTA per 512 keys, so more keys need not lengthen its one wave: its key sweep runs in
        // whole partitions past 132 SMs' worth.)
        let request = TileRequest(br: 64, bc: 16, warps: 1, splits: 2, ctas: 4)
        var previous = 0.0
        for nk in kind == .pagedV2 ? [262_144, 524_288, 1_048_576] : [512, 1024, 4096, 16384] {
            let p = decode(batch: 1, nk: nk, paged: true)
            let s = try seconds(try run(kind, p, request), p, h100)
            #expect(s > previous, "\(kind) Nk \(nk)")
            previous = s
        }
        previous = 0
        for block in [64, 32, 16, 8] {
            let p = decode(batch: 1, nk: 4096, paged: true, block: block)
            let s = try seconds(try run(kind, p, TileRequest(br: 64, bc: block, warps: 1, splits: 2, ctas: 4)), p, h100)
            #expect(s > previous, "\(kind) block \(block)")
            previous = s
        }
    }

    @Test(arguments: [1, 5, 64, 1000])
    func leansPerCTALoadsSumToThePagedCounts(ctas: Int) throws {
        // Whole blocks (the ragged last one too) and two table entries per block, CTA by CTA.
        for (nk, block) in [(3000, 16), (1000, 64), (130, 32), (20, 8)] {
            for mask in [AttentionMask.none, .causal(.bottomRight)] {
                var p = AttentionProblem(n: 7, nk: nk, d: 32, batch: 2, heads: 4, kvHeads: 2, mask: mask, packGQA: true)
                (p.kvLayout, p.blockSize) = (.paged, block)
                let r = Simulator.simulate(.lean, p, capacity: 1 << 22, tiles: TileRequest(br: 32, bc: 64, ctas: ctas))
                let counts = try #require(r.counts), t = try #require(r.tiles)
                var loads: [TimeEstimate.CTALoad] = []
                try LeanSchedule.ctaLoads(p.scheduled, t) { loads.append($0) }
                #expect(counts[.table].reads > 0)
                #expect(loads.reduce(0) { $0 + $1.kvBytes } == counts[.K].readBytes + counts[.V].readBytes, "Nk \(nk) b \(block) \(mask)")
                #expect(loads.reduce(0) { $0 + $1.kvBytes + $1.otherBytes } == counts.hbm.bytes, "Nk \(nk) b \(block) \(mask)")
            }
        }
    }

    @Test(arguments: [ScheduleKind.fa2, .splitKV, .lean, .fa3])
    func aPagedCacheIsNeverFasterThanAContiguousOne(kind: ScheduleKind) throws {
        for (batch, nk) in [(1, 4096), (3, 1000), (8, 4096), (64, 32768), (8, 131_072)] {
            for block in [16, 64] {
                let request = TileRequest(br: 64, bc: 64, splits: 4, ctas: 264)
                let c = decode(batch: batch, heads: 32, kvHeads: 8, nk: nk, paged: false, block: block, pack: true)
                let p = decode(batch: batch, heads: 32, kvHeads: 8, nk: nk, paged: true, block: block, pack: true)
                for hw in [h100, bare] {
                    let paged = try seconds(try run(kind, p, request), p, hw), contiguous = try seconds(try run(kind, c, request), c, hw)
                    #expect(paged >= contiguous, "\(kind) B \(batch) Nk \(nk) b \(block)")
                }
            }
        }
    }

    @Test func vllmsKernelsAreNeverFasterThanFa2OnTheSameTilesOverAContiguousCache() throws {
        // paged-v1: fa2's CTAs (one per sequence and head) reading whole blocks and the table.
        for (batch, nk) in [(1, 4096), (2, 1000), (64, 8192)] {
            let c = decode(batch: batch, nk: nk, paged: false), p = decode(batch: batch, nk: nk, paged: true)
            let request = TileRequest(br: 64, bc: 16)
            #expect(try seconds(try run(.pagedV1, p, request), p, h100) >= seconds(try run(.fa2, c, request), c, h100))
        }
    }
}
