import Foundation
import Testing

/// `iosim compare --ncu`: Nsight Compute measurements of PyTorch's kernels on the H100
/// (Reports/gpu) beside the prediction.
@Suite struct CompareTests {
    static func json(_ args: [String]) throws -> [[String: Any]] {
        let r = CLI.run(["compare"] + args + ["--format", "json"])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        return try #require(obj["kernels"] as? [[String: Any]])
    }

    static let torchFlash = [
        "--ncu", Repo.path("Reports/gpu/torch_flash_ncu_raw.csv"), "--N", "4096", "--d", "64", "--heads", "8", "--schedule", "fa2",
        "--Br", "128", "--Bc", "128", "--M", "228KiB",
    ]

    /// PyTorch's compiled FlexAttention, causal, N = 8192, d = 128 (the first launch of the masks
    /// run): `compare` reads its Triton kernel as flex's, with the kernel's own tiles, and the L2→SM
    /// reads agree within 0.01% (iosim counts the index tables as int32 entries, the kernel reads
    /// them in 32-byte sectors).
    @Test func flexAttentionsCausalKernelReadsWhatFlexPredicts() throws {
        let rows = try Self.json([
            "--ncu", Repo.path("Reports/gpu/flex_masks_ncu_raw.csv"), "--N", "8192", "--d", "128", "--heads", "8", "--causal",
            "--schedule", "flex", "--launches", "0", "--hardware", "h100-sxm",
        ])
        let read = try #require(rows.first { $0["metric"] as? String == "l2_to_sm_read_bytes" })
        let ratio = try #require(read["ratio"] as? Double)
        #expect(abs(ratio - 1) < 1e-4 && (read["ncu_name"] as? String)?.contains("flex_attention") == true, "\(read)")
    }

    @Test func pytorchsFlashKernelReadsExactlyThePredictedBytesFromL2() throws {
        let rows = try Self.json(Self.torchFlash + ["--match", "traits<64", "--hardware", "h100-sxm"])
        let reads = rows.filter { $0["metric"] as? String == "l2_to_sm_read_bytes" }
        #expect(reads.count == 2)
        for r in reads {
            #expect(r["measured"] as? Double == r["predicted"] as? Double && r["ratio"] as? Double == 1)
            #expect((r["ncu_name"] as? String)?.contains("flash_fwd_kernel") == true && r["kernel"] as? String == "fa2")
        }
        #expect(Set(rows.map { $0["metric"] as! String }) == ["l2_to_sm_read_bytes", "dram_bytes", "time_s"])
        for r in rows {
            for key in ["ncu_name", "kernel", "metric", "measured", "predicted", "ratio"] { #expect(r[key] != nil, "\(key)") }
        }
        let time = try #require(rows.first { $0["metric"] as? String == "time_s" })
        #expect((time["measured"] as! Double) > 0 && (time["predicted"] as! Double) > 0)
    }

    @Test func decodeLaunchesAreChosenByPositionAndCompareWritesToo() throws {
        let rows = try Self.json([
            "--ncu", Repo.path("Reports/gpu/decode_ncu_raw.csv"), "--N", "1", "--Nk", "4K", "--d", "128", "--heads", "32", "--batch", "8",
            "--schedule", "fa2", "--launches", "0",
        ])
        #expect(rows.map { $0["metric"] as! String } == ["l2_to_sm_read_bytes", "sm_to_l2_write_bytes", "dram_bytes"])
        #expect(rows[0]["measured"] as? Double == 536_936_448 && rows[0]["predicted"] as? Double == 536_936_448)
    }

    @Test func splitKVRunsPairTheSplitAndCombineKernels() throws {
        let rows = try Self.json([
            "--ncu", Repo.path("Reports/gpu/ncu_sample_torch_fwd_bwd.csv"), "--N", "1024", "--d", "64", "--heads", "2",
            "--schedule", "split-kv", "--splits", "2", "--Br", "64", "--Bc", "256", "--M", "228KiB", "--match", "flash_fwd_splitkv",
        ])
        let names = rows.filter { $0["metric"] as? String == "l2_to_sm_read_bytes" }.map { $0["kernel"] as! String }
        #expect(names.count == 2 && names[0] != names[1])
    }

    @Test func theTableNamesEachLaunchAndTheRatio() throws {
        let r = CLI.run(["compare"] + Self.torchFlash + ["--match", "traits<64"])
        #expect(r.status == 0)
        #expect(r.out.contains("flash_fwd_kernel") && r.out.contains("1.000") && r.out.contains("ratio = measured / predicted"))
    }

    @Test(arguments: [
        (["--match", "nothing-like-this"], "matches none of the CSV's 4 launches"),
        (["--match", "("], "is not a valid regular expression"),
        (["--launches", "9"], "--launches names launch 9, but the CSV has 4"),
        (
            ["--schedule", "split-kv", "--splits", "2", "--Br", "64", "--Bc", "256", "--launches", "0"],
            "1 launches selected, but split-kv launches 2"
        ),
        (["--ncu", "/nonexistent.csv"], "/nonexistent.csv: cannot be read"),
    ])
    func badInputExitsTwoWithOneLine(extra: [String], message: String) throws {
        let r = CLI.run(["compare"] + Self.torchFlash + extra)
        #expect(r.status == 2, "\(r.err)")
        #expect(r.err.hasPrefix("iosim: compare: ") && r.err.contains(message) && r.err.split(separator: "\n").count == 1, "\(r.err)")
    }

    @Test func aCSVWithoutTheReadMetricNamesIt() throws {
        let folder = try TemporaryFolder(prefix: "iosim-compare")
        defer { folder.remove() }
        let csv = "==PROF== x\n\"ID\",\"Kernel Name\",\"gpu__time_duration.sum\"\n\"\",\"\",\"ns\"\n\"0\",\"k\",\"1,000\"\n"
        try csv.write(toFile: folder.file("r.csv"), atomically: true, encoding: .utf8)
        let r = CLI.run(["compare", "--ncu", folder.file("r.csv"), "--schedule", "fa2"])
        #expect(r.status == 2 && r.err.contains("no metric l1tex__m_xbar2l1tex_read_bytes.sum"), "\(r.err)")
        let t = CLI.run(["compare", "--ncu", Repo.path("Reports/gpu/torch_flash_ncu_raw.csv"), "--schedule", "fa2", "--hardware", "h100-sxm"])
        #expect(t.status == 0, "the torch file has the time metric: \(t.err)")
    }

    @Test func helpMatchesItsSnapshot() throws {
        let r = CLI.run(["compare", "--help"])
        #expect(r.status == 0)
        try Snapshots.check("help-compare.txt", r.out)
    }
}
