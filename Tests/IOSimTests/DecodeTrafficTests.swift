import Foundation
import TestSupport
import Testing

@testable import IOSim

/// Every decode launch recorded on the H100 (Reports/gpu/decode_traffic.csv) against iosim's
/// per-kernel prediction. The split-KV launches are checked with their heuristic in
/// `SplitKVCountsAndData`; these are the launches of PyTorch's plain `flash_fwd_kernel`.
@Suite struct RecordedDecodeTraffic {
    @Test func plainFlashKernelReadsAreFa2sWithTheKernelsTilesUnpacked() throws {
        let table = try CSVTable(contentsOf: Repo.url("Reports/gpu/decode_traffic.csv"))
        var checked = 0
        for row in table.rows where try row.string("metric") == "l1tex__m_xbar2l1tex_read_bytes.sum" {
            guard try row.string("ncu_kernel") == "flash_fwd_kernel" else { continue }
            // No head folding in this kernel (Reports/gpu/README.md): each query head's CTA
            // streams its KV head's K and V; kBlockM = 128, kBlockN = 64 at d = 128.
            let p = AttentionProblem(
                n: try row.int("Nq"), nk: try row.int("Nk"), d: try row.int("d"), batch: try row.int("batch"),
                heads: try row.int("heads"), kvHeads: try row.int("kv_heads"))
            let r = Simulator.simulate(.fa2, p, capacity: 1 << 20, tiles: TileRequest(br: 128, bc: 64))
            let kernel = try #require(r.counts?.kernels.first)
            #expect(r.counts?.kernels.count == 1)
            #expect(kernel.hbm.readBytes == (try row.int("measured_bytes")), "\(row)")
            let grid = try row.string("grid").split(separator: "x").compactMap { Int($0) }
            #expect(kernel.ctas == grid.reduce(1, *), "grid \(grid)")
            checked += 1
        }
        #expect(checked == 9)
    }
}
