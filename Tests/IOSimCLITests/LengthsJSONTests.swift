import Foundation
import Testing

/// `--lengths` in JSON (docs/counting-rules.md §13, docs/output.md): totals over the sequences, and `per_sequence` means that are
/// those totals over the number of sequences; absent without `--lengths`.
@Suite struct LengthsJSON {
    func firstResult(_ args: [String]) throws -> [String: Any] {
        let r = CLI.run(args + ["--format", "json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        return (obj["results"] as! [[String: Any]])[0]
    }

    @Test func perSequenceMeansAreTheTotalsOverTheSequences() throws {
        let args = ["--lengths", "100,300,300,5000", "--heads", "4", "--d", "64", "--schedule", "paged-v2", "--M", "228KiB"]
        let result = try firstResult(args)
        let hbm = result["hbm"] as! [String: Any], mean = try #require(result["per_sequence"] as? [String: Any])
        for key in ["reads", "writes", "read_bytes", "write_bytes"] {
            #expect((mean[key] as! Double) * 4 == Double(hbm[key] as! Int), "\(key)")
        }
        // The totals are the four sequences' own runs added.
        var reads = 0
        for nk in [100, 300, 300, 5000] {
            let one = try firstResult(["--N", "1", "--Nk", "\(nk)", "--heads", "4", "--d", "64", "--schedule", "paged-v2", "--M", "228KiB"])
            reads += (one["hbm"] as! [String: Any])["reads"] as! Int
        }
        #expect(hbm["reads"] as? Int == reads)
    }

    @Test func withoutLengthsThereIsNoPerSequenceField() throws {
        let result = try firstResult(["--N", "1", "--Nk", "300", "--schedule", "paged-v2", "--M", "228KiB"])
        #expect(result["per_sequence"] == nil)
    }
}
