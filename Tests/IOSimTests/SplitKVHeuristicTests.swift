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
