import Foundation
import IOSim
import TestSupport
import Testing

@testable import IOSimCLI

/// The report's decode sweeps (`iosim report`, figures decode_*) are the command line's results:
/// each row is what `iosim --schedule S --hardware h100-sxm` prints for its problem.
@Suite struct DecodeReportSweeps {
    @Test func everyDecodeVsNkRowIsWhatTheCommandLineGives() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try DecodeReport.write(to: dir.path, small: true)
        let table = try CSVTable(contentsOf: dir.appendingPathComponent("decode_vs_Nk.csv"))
        #expect(Set(try table.rows.map { try $0.string("schedule") }) == ["fa2", "split-kv", "lean"])
        for row in table.rows {
            let r = CLI.run([
                "--model", "llama-3-8b", "--N", "1", "--Nk", try row.string("Nk"), "--batch", try row.string("batch"), "--pack-gqa",
                "--schedule", try row.string("schedule"), "--hardware", "h100-sxm", "--format", "json",
            ])
            #expect(r.status == 0, "\(r.err)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
            let result = try #require((json["results"] as? [[String: Any]])?.first)
            let hbm = try #require(result["hbm"] as? [String: Any])
            let (br, bc, reads, writes) = (try row.int("Br"), try row.int("Bc"), try row.int("hbm_read_bytes"), try row.int("hbm_write_bytes"))
            let seconds = try row.double("time_estimate_s")
            #expect(result["Br"] as? Int == br && result["Bc"] as? Int == bc, "\(row)")
            #expect(hbm["read_bytes"] as? Int == reads && hbm["write_bytes"] as? Int == writes, "\(row)")
            // Foundation's JSON reader can miss a double's last bit: the printed digits, read exactly.
            let printed = r.out.firstMatch(of: /"time_estimate_s"\s*:\s*([-+0-9.eE]+)/).flatMap { Double($0.1) }
            #expect(result["time_estimate_s"] != nil && printed == seconds, "\(row)")
        }
    }

    @Test func splitCountsAreTheHeuristicsAndLeanIsNeverSlower() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try DecodeReport.write(to: dir.path, small: true)
        let splits = try CSVTable(contentsOf: dir.appendingPathComponent("decode_splits.csv"))
        for row in splits.rows {
            let p = AttentionProblem(
                n: 1, nk: try row.int("Nk"), d: 128, batch: try row.int("batch"), heads: try row.int("heads"),
                kvHeads: try row.int("kv_heads"), packGQA: true)
            let (sms, recorded) = (try row.int("sms"), try row.int("splits"))
            #expect(SplitKVHeuristic.splits(for: p, sms: sms) == recorded, "\(row)")
        }
        let lean = try CSVTable(contentsOf: dir.appendingPathComponent("decode_lean_vs_splitkv.csv"))
        #expect(!lean.rows.isEmpty)
        // Equal-work CTAs (split-kv at one split is lean at one CTA per row tile) sum in another order: 1e-12.
        for row in lean.rows {
            let (lean, split) = (try row.double("lean_time_s"), try row.double("splitkv_time_s"))
            #expect(lean <= split * (1 + 1e-12), "\(row)")
        }
    }
}
