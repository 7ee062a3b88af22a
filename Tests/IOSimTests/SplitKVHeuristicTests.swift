import AttentionReference
import Foundation
import TestSupport
import Testing

@testable import IOSim

/// FlashAttention-2's split count against what PyTorch's flash kernel launched on the H100
/// (Reports/gpu/decode_traffic.csv: the split kernel's grid is (m-blocks, splits, batch·heads)).
@Suite struct SplitKVHeuristicMatchesTheH100 {
    @Test func recordedDecodeLaunchesUseTheHeuristicsSplitCount() throws {
        let table = try CSVTable(contentsOf: Repo.url("Reports/gpu/decode_traffic.csv"))
        var checked = 0
        for row in table.rows where try row.string("metric") == "l1tex__m_xbar2l1tex_read_bytes.sum" {
            let kernel = try row.string("ncu_kernel")
            guard !kernel.contains("combine") else { continue }
            let grid = try row.string("grid").split(separator: "x").compactMap { Int($0) }
            let used = kernel.contains("splitkv") ? grid[1] : 1
            let (heads, kvHeads, nq) = (try row.int("heads"), try row.int("kv_heads"), try row.int("Nq"))
            // FA2 packs the query heads of a KV group when Nq = 1 (its seqlenq_ngroups_swapped).
            let p = AttentionProblem(
                n: nq, nk: try row.int("Nk"), d: try row.int("d"), batch: try row.int("batch"),
                heads: heads, kvHeads: kvHeads, packGQA: nq == 1)
            #expect(SplitKVHeuristic.splits(for: p, sms: 132) == used, "\(row)")
            checked += 1
        }
        #expect(checked == 12)
    }

    @Test func oneSplitWhenTheCTAsAlreadyFillTheGPU() {
        #expect(SplitKVHeuristic.splits(batchHeadsMBlocks: 212, slots: 264, nBlocks: 1000, maxSplits: 128) == 1)
        #expect(SplitKVHeuristic.splits(batchHeadsMBlocks: 1, slots: 264, nBlocks: 1, maxSplits: 128) == 1)
    }

    @Test func splitsNeverExceedTheBlocksOrTheSlots() {
        for work in [1, 7, 64, 100] {
            for blocks in [1, 2, 5, 32, 1024] {
                let s = SplitKVHeuristic.splits(batchHeadsMBlocks: work, slots: 264, nBlocks: blocks, maxSplits: 128)
                #expect(s >= 1 && s <= min(blocks, 128))
            }
        }
    }
}

/// split-kv (flash-decoding; README.md, "Decode") against its closed form, fa2, the reference and the H100.
@Suite struct SplitKVCountsAndData {
    static let masks: [AttentionMask] = [.none, .causal(.bottomRight), .slidingWindow(left: 300, right: 0, alignment: .bottomRight)]

    @Test(arguments: [1, 2, 3, 7, 40])
    func countsEqualTheClosedFormPerKernelForEverySplitCount(splits: Int) throws {
        for (n, nk) in [(1, 4097), (5, 1000), (130, 777)] {
            for mask in Self.masks {
                for pack in [false, true] {
                    let p = AttentionProblem(n: n, nk: nk, d: 64, batch: 2, heads: 4, kvHeads: 2, mask: mask, packGQA: pack)
                    let request = TileRequest(br: 64, bc: 128, splits: splits)
                    let r = Simulator.simulate(.splitKV, p, capacity: 1 << 22, tiles: request)
                    let counts = try #require(r.counts, "\(r.reason ?? "")")
                    let expected = try #require(ClosedForm.traffic(.splitKV, p, r.tiles!, capacity: 1 << 22))
                    #expect(counts.byTensor == expected.byTensor && counts.kernels == expected.kernels, "S=\(splits) \(mask) \(n)×\(nk)")
                    #expect(counts.kernels.map(\.name) == (splits == 1 ? ["fa2"] : ["split", "combine"]))
                    if splits == 1 {
                        #expect(counts == Simulator.simulate(.fa2, p, capacity: 1 << 22, tiles: request).counts, "S = 1 is fa2")
                    }
                }
            }
        }
    }

    @Test(arguments: [1, 2, 3, 9])
    func dataModeMatchesTheReferenceForEverySplitCount(splits: Int) throws {
        for mask in Self.masks {
            for pack in [false, true] {
                let p = AttentionProblem(n: 3, nk: 700, d: 32, heads: 4, kvHeads: 2, dtype: .fp32, mask: mask, packGQA: pack)
                let inputs = AttentionInputs(AttentionShape(heads: 4, kvHeads: 2, nq: 3, nk: 700, d: 32), seed: UInt64(splits))
                let tiles = KernelConfig(br: 64, bc: 64, splits: splits)
                let out = try DataMode.run(.splitKV, p, capacity: 1 << 22, tiles: tiles, q: inputs.q, k: inputs.k, v: inputs.v)
                let report = try Equivalence.checkForward(
                    candidate: out.result, q: inputs.q, k: inputs.k, v: inputs.v,
                    shape: p.shape, mask: mask, precision: .fp32)
                #expect(report.passed, "S=\(splits) \(mask) pack=\(pack): \(report)")
            }
        }
    }

    @Test func predictsPyTorchsSplitAndCombineKernelsToTheByte() throws {
        // PyTorch's flash decode on the H100 (Reports/gpu/decode_traffic.csv), packed GQA, 4 splits.
        let table = try CSVTable(contentsOf: Repo.url("Reports/gpu/decode_traffic.csv"))
        var checked = 0
        for row in table.rows where try row.string("metric") == "l1tex__m_xbar2l1tex_read_bytes.sum" {
            let kernel = try row.string("ncu_kernel")
            guard kernel.contains("splitkv") else { continue }
            let p = AttentionProblem(
                n: try row.int("Nq"), nk: try row.int("Nk"), d: try row.int("d"), batch: try row.int("batch"),
                heads: try row.int("heads"), kvHeads: try row.int("kv_heads"), packGQA: true)
            let splits = SplitKVHeuristic.splits(for: p, sms: 132)
            let r = Simulator.simulate(.splitKV, p, capacity: 1 << 20, tiles: TileRequest(splits: splits, policyExplicit: false))
            let kernels = try #require(r.counts?.kernels)
            let ours = try #require(kernels.first { $0.name == (kernel.contains("combine") ? "combine" : "split") })
            #expect(ours.hbm.readBytes == (try row.int("measured_bytes")), "\(kernel) Nk=\(p.nk)")
            let grid = try row.string("grid").split(separator: "x").compactMap { Int($0) }
            #expect(ours.ctas == grid.reduce(1, *), "\(kernel) grid")
            checked += 1
        }
        #expect(checked == 6)
    }
}

/// The decode time estimates recorded beside every H100 decode time of Reports/gpu/decode_speed.csv
/// (Reports/gpu/decode_time_estimates.csv, row for row; Benchmarks/decode_time_estimates.py):
/// PyTorch's flash decode and our kernels (Backends/CUDA/decode.cuh).
@Suite struct RecordedDecodeTimeEstimates {
    /// The error band each kernel's estimate falls in against its measured time, and why.
    static func band(_ kernel: String) -> ClosedRange<Double> {
        switch kernel {
        // 64 CTAs on 132 SMs: the model gives each SM 1/132 of the HBM bandwidth, but a busy SM
        // draws more when half the SMs are idle (measured 32-35 GB/s per SM against 25): an
        // over-estimate.
        case "split-kv-s1": return 0.05...0.5
        // No GQA packing: each query head's CTA reads its KV head's K/V, 4x the bytes, which the
        // model streams at HBM bandwidth; 3/4 of them hit in L2 (DRAM reads = 0.25-0.27 of the
        // count, decode_kernels_traffic.csv) and arrive at 3.4-3.9 TB/s: an over-estimate.
        case "paged-v1", "paged-v2": return 0.05...0.25
        // The rest stream K/V from DRAM once at full occupancy; the model has no latency: under.
        default: return -0.25...0.05
        }
    }

    @Test func estimatesAreRecomputedRowByRowAndWithinTheirBandOfTheH100() throws {
        let table = try CSVTable(contentsOf: Repo.url("Reports/gpu/decode_time_estimates.csv"))
        let speed = try CSVTable(contentsOf: Repo.url("Reports/gpu/decode_speed.csv"))
        let hw = try ModelFile.hardware(Repo.path("Models/hardware/h100-sxm.json"))
        #expect(table.rows.count == speed.rows.count && table.rows.count == 26)
        var ours = Set<String>()
        for (row, measuredRow) in zip(table.rows, speed.rows) {
            let kernel = try row.string("kernel")
            for column in ["kernel", "batch", "heads", "kv_heads", "Nq", "Nk", "d"] {
                #expect(try row.string(column) == measuredRow.string(column), "\(row) beside \(measuredRow)")
            }
            let measured = try measuredRow.double("time_us")
            #expect(abs(measured - (try row.double("measured_us"))) <= 0.05 + 1e-9, "\(row)")
            let schedule = try #require(ScheduleKind(rawValue: try row.string("schedule")))
            let splits = try row.int("splits")
            // FA2 packs a KV group's query heads when Nq = 1 and splits; our split-kv always packs.
            var p = AttentionProblem(
                n: try row.int("Nq"), nk: try row.int("Nk"), d: try row.int("d"), batch: try row.int("batch"),
                heads: try row.int("heads"), kvHeads: try row.int("kv_heads"), packGQA: schedule == .splitKV)
            if kernel.hasPrefix("split-kv-paged") { p.kvLayout = .paged }
            if schedule == .splitKV && kernel != "split-kv-s1" {
                #expect(splits == SplitKVHeuristic.splits(for: p, sms: hw.sms), "\(row): FA2's heuristic")
            }
            let (br, bc) = (try row.int("Br"), try row.int("Bc"))
            let request = TileRequest(br: br, bc: bc, splits: schedule == .splitKV ? splits : 1)
            let r = Simulator.simulate(schedule, p, capacity: hw.onChipPerBlock, tiles: request)
            #expect(r.tiles?.br == br && r.tiles?.bc == bc, "\(row)")
            if schedule == .pagedV2 {
                // The splits column holds vLLM's 512-token partitions: the paged kernel's CTAs per row.
                let paged = try #require(r.counts?.kernels.first { $0.name == "paged" })
                #expect(paged.ctas == p.batch * p.heads * splits && splits == (p.nk + 511) / 512, "\(row)")
            }
            let seconds = try #require(try TimeEstimate.estimate(r, p, hw)?.seconds)
            let recorded = try row.double("estimate_us")
            #expect(abs(seconds * 1e6 - recorded) < 0.05 + 1e-9 * recorded, "\(row)")
            let error = seconds * 1e6 / measured - 1
            #expect(abs(error - (try row.double("error"))) < 0.0005 + 1e-4, "\(row): \(error)")
            #expect(Self.band(kernel).contains(error), "\(row): \(error)")
            if kernel != "torch-flash" { ours.insert(kernel) }
        }
        #expect(ours == ["split-kv", "split-kv-s1", "split-kv-paged", "split-kv-paged-identity", "paged-v1", "paged-v2"])
    }
}

/// Lean Attention (Sanovar et al. 2024, arXiv:2405.10480): counts against an enumeration of its unit stream, and data mode.
@Suite struct LeanCountsAndData {
    static let masks: [AttentionMask] = [.none, .causal(.bottomRight), .slidingWindow(left: 200, right: 0, alignment: .topLeft)]

    @Test(arguments: [1, 2, 5, 13, 64, 1000])
    func countsEqualTheEnumerationPerKernelForEveryCTACount(ctas: Int) throws {
        for (n, nk) in [(1, 3000), (7, 900), (130, 500)] {
            for mask in Self.masks {
                for pack in [false, true] {
                    let p = AttentionProblem(n: n, nk: nk, d: 32, batch: 2, heads: 4, kvHeads: 2, dtype: .fp8, mask: mask, packGQA: pack)
                    let request = TileRequest(br: 32, bc: 64, ctas: ctas)
                    let r = Simulator.simulate(.lean, p, capacity: 1 << 22, tiles: request)
                    let counts = try #require(r.counts, "\(r.reason ?? "")")
                    let expected = try #require(ClosedForm.traffic(.lean, p, r.tiles!, capacity: 1 << 22))
                    #expect(counts.byTensor == expected.byTensor && counts.kernels == expected.kernels, "G=\(ctas) \(mask) \(n)×\(nk) pack=\(pack)")
                    // K and V are read once per live tile whatever G is: the same as fa2's.
                    let fa2 = try #require(Simulator.simulate(.fa2, p, capacity: 1 << 22, tiles: request).counts)
                    #expect(counts[.K] == fa2[.K] && counts[.O] == fa2[.O])
                }
            }
        }
    }

    /// With no mask every row tile has Tc units, so the default grid (a CTA per row tile) gives
    /// each CTA one whole row: fa2. (Under a mask rows differ and stream-K balances across them.)
    @Test func oneCTAPerRowTileIsFa2WhenEveryRowHasTheSameWork() throws {
        let p = AttentionProblem(n: 300, nk: 1000, d: 64, heads: 2)
        let lean = try #require(Simulator.simulate(.lean, p, capacity: 1 << 22, tiles: TileRequest(br: 64, bc: 64)).counts)
        let fa2 = try #require(Simulator.simulate(.fa2, p, capacity: 1 << 22, tiles: TileRequest(br: 64, bc: 64)).counts)
        #expect(lean.byTensor == fa2.byTensor)
    }

    @Test(arguments: [1, 3, 7, 40])
    func dataModeMatchesTheReferenceForEveryCTACount(ctas: Int) throws {
        for mask in Self.masks {
            for pack in [false, true] {
                let p = AttentionProblem(n: 5, nk: 600, d: 32, batch: 2, heads: 4, kvHeads: 2, dtype: .fp32, mask: mask, packGQA: pack)
                let inputs = AttentionInputs(AttentionShape(batch: 2, heads: 4, kvHeads: 2, nq: 5, nk: 600, d: 32), seed: UInt64(ctas))
                let tiles = KernelConfig(br: 64, bc: 64, ctas: ctas)
                let out = try DataMode.run(.lean, p, capacity: 1 << 22, tiles: tiles, q: inputs.q, k: inputs.k, v: inputs.v)
                let report = try Equivalence.checkForward(
                    candidate: out.result, q: inputs.q, k: inputs.k, v: inputs.v,
                    shape: p.shape, mask: mask, precision: .fp32)
                #expect(report.passed, "G=\(ctas) \(mask) pack=\(pack): \(report)")
            }
        }
    }
}
