import Foundation
import Testing

/// `--sink-tokens`, `--prefix`, `--documents` and `--packing` (docs/cli.md §2): echoed in JSON,
/// counted, refused where they do not apply with one line, and checked against recorded kernels.
@Suite struct StructureOptions {
    static func json(_ args: [String]) throws -> [String: Any] {
        let r = CLI.run(args + ["--format", "json"])
        #expect(r.status == 0, "\(args): \(r.err)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
    }

    static func result(_ j: [String: Any], _ kind: String) -> [String: Any]? {
        (j["results"] as? [[String: Any]])?.first { $0["schedule"] as? String == kind }
    }

    @Test func structureIsEchoedAndNDefaultsToTheDocumentsSum() throws {
        let j = try Self.json(["--documents", "300,200,524", "--causal", "--sink-tokens", "4", "--schedule", "fa2"])
        let p = try #require(j["problem"] as? [String: Any])
        #expect(p["N"] as? Int == 1024 && p["Nk"] as? Int == 1024)
        #expect(p["documents"] as? [Int] == [300, 200, 524] && p["packing"] as? String == "varlen" && p["sink_tokens"] as? Int == 4)
        #expect(p["prefix"] == nil, "absent when not given")
        let m = try #require(try Self.json(["--N", "512", "--causal", "--prefix", "100", "--schedule", "fa2"])["problem"] as? [String: Any])
        #expect(m["prefix"] as? Int == 100 && m["documents"] == nil && m["packing"] == nil)
    }

    /// Varlen runs each document as its own problem: fa2's reads are those of the documents run
    /// one by one, and its CTAs FlashAttention's grid, ⌈max length / Br⌉ per document per head.
    @Test func varlenCountsAreThoseOfTheDocumentsAndItsGridTheLongestOnes() throws {
        let docs = [300, 200, 524]
        let flags = ["--Br", "128", "--Bc", "64", "--d", "64", "--heads", "2", "--causal", "--schedule", "fa2"]
        let j = try Self.json(["--documents", docs.map(String.init).joined(separator: ",")] + flags)
        let r = try #require(Self.result(j, "fa2"))
        var reads = 0
        for n in docs {
            let one = try #require(Self.result(try Self.json(["--N", "\(n)"] + flags), "fa2"))
            reads += try #require((one["hbm"] as? [String: Any])?["reads"] as? Int)
        }
        #expect((r["hbm"] as? [String: Any])?["reads"] as? Int == reads)
        let kernels = try #require(r["kernels"] as? [[String: Any]])
        #expect(kernels.first?["ctas"] as? Int == 5 * 3 * 2, "⌈524/128⌉ = 5 row tiles for each of 3 documents and 2 heads")
        // The document mask runs the packed sequence as one: ⌈1024/128⌉ row tiles per head, and
        // other reads (tiles straddle the boundaries; no ragged tile per document).
        let masked = try #require(Self.result(try Self.json(["--documents", "300,200,524", "--packing", "mask"] + flags), "fa2"))
        #expect((masked["kernels"] as? [[String: Any]])?.first?["ctas"] as? Int == 8 * 2)
        #expect((masked["hbm"] as? [String: Any])?["reads"] as? Int != reads)
    }

    @Test func schedulesThatTakeWindowsOnlyAreInfeasibleInsideDecodeAndRefusedWhenNamed() throws {
        let j = try Self.json(["--N", "1", "--Nk", "4096", "--window", "512", "--sink-tokens", "4", "--schedule", "decode"])
        let lean = try #require(Self.result(j, "lean"))
        #expect(lean["feasible"] as? Bool == false && (lean["reason"] as? String)?.contains("sink tokens") == true)
        #expect(Self.result(j, "split-kv")?["feasible"] as? Bool == true)
        let named = CLI.run(["--N", "1", "--Nk", "4096", "--window", "512", "--sink-tokens", "4", "--schedule", "lean"])
        #expect(named.status == 64 && named.err.contains("lean takes none, causal and window masks only; drop --sink-tokens"), "\(named.err)")
    }

    @Test(arguments: [
        (["--N", "300", "--prefix", "10"], "--prefix needs a mask that sees nothing to the right"),
        (["--N", "300", "--window-left", "5", "--prefix", "10"], "--prefix needs a mask that sees nothing to the right"),
        (["--N", "300", "--packing", "mask"], "--packing says how documents run; give --documents"),
        (["--N", "300", "--documents", "100,100"], "--N (300) disagrees with --documents, which add up to 200 tokens"),
        (["--documents", "100,0,5"], "--documents: item 2 of the list: 0 is not positive"),
        (["--documents", "100,100", "--lengths", "5,6"], "--documents packs documents into one contiguous sequence and takes no --lengths"),
        (["--documents", "100,100", "--schedule", "flex"], "flex runs documents under a block mask: add --packing mask"),
        (["--N", "300", "--sink-tokens", "-2", "--window", "8"], "--sink-tokens must be 0 or a positive number of keys"),
        (["--documents", "100,100", "--schedule", "paged-v1"], "paged-v1 takes none, causal and window masks only; drop --documents"),
    ])
    func badStructureFlagsAreOneLineUsageErrors(args: [String], says: String) {
        let r = CLI.run(args)
        #expect(r.status == 64 && r.err.contains(says) && r.err.split(separator: "\n").count == 1, "\(args): \(r.err)")
    }
}
