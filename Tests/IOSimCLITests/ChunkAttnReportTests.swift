import Foundation
import TestSupport
import Testing

@testable import IOSimCLI

/// The report's prefix-sharing sweep (`iosim report`, figure chunk_attention_ratio) is the command
/// line's result: each row's bytes and ratios are what `iosim --schedule chunk-attn --hardware
/// h100-sxm` prints for its batch.
@Suite struct ChunkAttnReportSweep {
    @Test func everyRowIsWhatTheCommandLineGives() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try PrefixSharingReport.write(to: dir.path, small: true)
        let table = try CSVTable(contentsOf: dir.appendingPathComponent("chunk_attention.csv"))
        #expect(table.rows.count == 2 * 5)
        for row in table.rows.filter({ (try? $0.int("shared_prefix")) == 1024 || (try? $0.int("shared_prefix")) == 4096 }) {
            let r = CLI.run([
                "--model", "llama-2-7b", "--N", "1", "--Nk", try row.string("Nk"), "--batch", try row.string("batch"),
                "--shared-prefix", try row.string("shared_prefix"), "--chunk", try row.string("chunk"),
                "--schedule", "chunk-attn", "--hardware", "h100-sxm", "--format", "json",
            ])
            #expect(r.status == 0, "\(r.err)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
            let result = try #require((json["results"] as? [[String: Any]])?.first)
            let hbm = try #require(result["hbm"] as? [String: Any])
            #expect((hbm["read_bytes"] as! Int) + (hbm["write_bytes"] as! Int) == (try row.int("chunk_attn_bytes")), "\(row)")
            // The printed digits, read exactly (Foundation's JSON reader can miss a double's last bit).
            let printed = r.out.firstMatch(of: /"chunk_attn_ratio": \{"paged-v1": ([-+0-9.eE]+), "split-kv": ([-+0-9.eE]+)\}/)
            #expect(printed.flatMap { Double($0.1) } == (try row.double("bytes_ratio_paged_v1")), "\(row)")
            #expect(printed.flatMap { Double($0.2) } == (try row.double("bytes_ratio_split_kv")), "\(row)")
            let times = r.out.firstMatch(of: /"chunk_attn_time_ratio": \{"paged-v1": ([-+0-9.eE]+), "split-kv": ([-+0-9.eE]+)\}/)
            #expect(times.flatMap { Double($0.1) } == (try row.double("time_ratio_paged_v1")), "\(row)")
        }
    }
}
