import Foundation
import Testing

/// `--shared-prefix`, `--chunk` and chunk-attn on the command line (docs/counting-rules.md §14): the ratio fields,
/// the line under the table, and bad input as one line with exit 64.
@Suite struct ChunkAttnCLI {
    static let batch = ["--N", "1", "--Nk", "1100", "--batch", "8", "--heads", "4", "--d", "64", "--M", "228KiB"]

    func results(_ args: [String]) throws -> [[String: Any]] {
        let r = CLI.run(args + ["--format", "json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        return obj["results"] as! [[String: Any]]
    }

    /// Equal up to the last bit JSON's decimal text can lose on the way back to a Double.
    func same(_ a: Double?, _ b: Double) -> Bool { a.map { abs($0 - b) <= 1e-14 * abs(b) } ?? false }

    func bytes(_ r: [String: Any]) -> Int {
        let h = r["hbm"] as! [String: Any]
        return (h["read_bytes"] as! Int) + (h["write_bytes"] as! Int)
    }

    @Test func theRatioFieldsAreTheOtherResultsBytesOverChunkAttns() throws {
        for lengths in [nil, "600,1100,900,2000"] {
            let shape = lengths.map { ["--lengths", $0, "--heads", "4", "--d", "64", "--M", "228KiB"] } ?? Self.batch
            let all = try results(shape + ["--shared-prefix", "512", "--schedule", "paged-v1,split-kv,chunk-attn"])
            let by = Dictionary(uniqueKeysWithValues: all.map { ($0["schedule"] as! String, $0) })
            let chunk = try #require(by["chunk-attn"]), ratio = try #require(chunk["chunk_attn_ratio"] as? [String: Double])
            for other in ["paged-v1", "split-kv"] {
                #expect(same(ratio[other], Double(bytes(by[other]!)) / Double(bytes(chunk))), "\(other) \(lengths ?? "")")
            }
            #expect(ratio["paged-v1"]! > 1, "the prefix is read once per head instead of once per sequence")
            #expect(by["paged-v1"]?["chunk_attn_ratio"] == nil, "only chunk-attn's result carries it")
            #expect(chunk["chunk_attn_time_ratio"] == nil, "no time ratio without --hardware")
        }
    }

    @Test func theRatioIsReportedWhenOnlyChunkAttnRunsAndWithTimesUnderAHardwareModel() throws {
        let alone = try results(Self.batch + ["--shared-prefix", "1024", "--schedule", "chunk-attn", "--hardware", "h100-sxm"])
        let both = try results(Self.batch + ["--shared-prefix", "1024", "--schedule", "paged-v1,split-kv,chunk-attn", "--hardware", "h100-sxm"])
        let a = try #require(alone.first?["chunk_attn_ratio"] as? [String: Double])
        let b = try #require(both.last?["chunk_attn_ratio"] as? [String: Double])
        #expect(a == b)
        let time = try #require(both.last?["chunk_attn_time_ratio"] as? [String: Double])
        let t = Dictionary(uniqueKeysWithValues: both.map { ($0["schedule"] as! String, $0["time_estimate_s"] as! Double) })
        #expect(same(time["paged-v1"], t["paged-v1"]! / t["chunk-attn"]!))
        #expect(same(time["split-kv"], t["split-kv"]! / t["chunk-attn"]!))
    }

    @Test func theTableEndsWithTheRatioLine() throws {
        let r = CLI.run(Self.batch + ["--shared-prefix", "1024", "--chunk", "64", "--schedule", "chunk-attn"])
        #expect(r.status == 0, "\(r.err)")
        let last = try #require(r.out.split(separator: "\n").last.map(String.init))
        #expect(last.hasPrefix("chunk-attn: 16 shared chunks of 64 tokens") && last.contains("paged-v1 ") && last.contains("split-kv "), "\(last)")
        #expect(r.out.contains("shared_prefix=1024 chunk=64"))
    }

    @Test func otherSchedulesCountTheSameWithASharedPrefix() throws {
        let kinds = ["--schedule", "fa2,split-kv,lean,paged-v1,paged-v2"]
        let without = try results(Self.batch + kinds), with = try results(Self.batch + kinds + ["--shared-prefix", "1000"])
        for (a, b) in zip(without, with) {
            #expect(a["hbm"] as? NSDictionary == b["hbm"] as? NSDictionary, "\(a["schedule"] ?? "")")
        }
    }

    @Test func dataModeChecksChunkAttnOnASharedPrefix() throws {
        for dtype in ["fp32", "bf16"] {
            let r = CLI.run([
                "--N", "2", "--Nk", "300", "--batch", "3", "--heads", "2", "--d", "59", "--shared-prefix", "130", "--chunk", "32",
                "--schedule", "chunk-attn", "--mode", "data", "--dtype", dtype,
            ])
            #expect(r.status == 0 && r.out.contains("chunk-attn: pass"), "\(dtype): \(r.err)")
        }
    }

    @Test(arguments: [
        (["--Nk", "100", "--shared-prefix", "101"], "longer than the sequences (--Nk 100 tokens)"),
        (["--lengths", "500,80,700", "--shared-prefix", "90"], "longer than sequence 2 of --lengths (80 tokens)"),
        (["--Nk", "100", "--shared-prefix", "-1"], "--shared-prefix must be 0 or a positive"),
        (["--Nk", "100", "--chunk", "0"], "--chunk must be a positive integer"),
        (["--Nk", "100", "--heads", "8", "--kv-heads", "2", "--schedule", "chunk-attn"], "ChunkAttention has no GQA"),
        (["--Nk", "100", "--heads", "8", "--kv-heads", "2", "--schedule", "paged-v1,chunk-attn", "--shared-prefix", "64"], "no GQA"),
        (["verify", "--N", "1", "--Nk", "100", "--shared-prefix", "200"], "longer than the sequences"),
        (["sweep", "--N", "1", "--Nk", "100", "--chunk", "0"], "--chunk"),
    ])
    func badPrefixesAndChunksAreOneLineUsageErrors(args: [String], says: String) throws {
        let r = CLI.run(["--N", "1"].filter { _ in !["verify", "sweep"].contains(args[0]) } + args)
        #expect(r.status == 64 && r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("iosim: "), "\(args): \(r.status) \(r.err)")
        #expect(r.err.contains(says), "\(r.err)")
    }
}
