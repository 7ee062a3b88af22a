import Foundation
import Testing

@testable import IOSim
@testable import IOSimCLI

/// Issue 25's "defaults a kernel engineer trusts" and "consistency a user trips on".
@Suite struct FirstContact {
    static func oneLine(_ r: (status: Int32, out: String, err: String), _ status: Int32) -> Bool {
        r.status == status && r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("iosim: ")
    }

    @Test func withHardwareTheTilesAreTheKernelsAndTheTableSaysWhichMAndWhy() throws {
        let r = try Repo.run(["--N", "4096", "--d", "128", "--hardware", "h100-sxm", "--schedule", "fa2,fa3"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("fa2       128×64") && r.out.contains("fa3       128×176"), "\(r.out)")
        #expect(r.out.contains("M = 494592 B: its shared memory per block (232448 B) + register file (262144 B)"))
        #expect(r.out.contains("tiles: kernel"))
        let optimal = try Repo.run(["--N", "4096", "--d", "128", "--hardware", "h100-sxm", "--schedule", "fa2", "--tiles", "optimal"])
        #expect(!optimal.out.contains("fa2       128×64") && optimal.out.contains("tiles: optimal"))
        let plain = try Repo.run(["--N", "4096", "--d", "128", "--schedule", "fa2"])
        #expect(!plain.out.contains("tiles: "), "without --hardware the default stays optimal and no line is added")
    }

    @Test func theLibraryWithTheHardwareDefaultsGivesWhatTheCommandPrints() throws {
        let hw = try ModelFile.hardware("h100-sxm")
        let p = AttentionProblem(n: 1, nk: 32768, d: 128, heads: 32, kvHeads: 8, packGQA: true)
        for kind in [ScheduleKind.fa2, .splitKV, .lean] {
            let r = Simulator.simulate(kind, p, capacity: hw.onChipPerBlock, tiles: TileRequest.defaults(for: p, on: hw))
            let cli = try Repo.run([
                "--N", "1", "--Nk", "32K", "--d", "128", "--heads", "32", "--kv-heads", "8", "--pack-gqa", "--schedule", kind.rawValue,
                "--hardware", "h100-sxm", "--format", "json",
            ])
            let json = try #require(try JSONSerialization.jsonObject(with: Data(cli.out.utf8)) as? [String: Any])
            let result = try #require((json["results"] as? [[String: Any]])?.first)
            let hbm = try #require(result["hbm"] as? [String: Any])
            #expect(result["Br"] as? Int == r.tiles?.br && result["Bc"] as? Int == r.tiles?.bc, "\(kind)")
            #expect(hbm["read_bytes"] as? Int == r.counts?.hbm.readBytes, "\(kind)")
        }
    }

    @Test func compareTakesTheMeasuredKernelsTilesFromItsName() throws {
        let r = try Repo.run([
            "compare", "--ncu", Repo.path("Reports/gpu/torch_flash_ncu_raw.csv"), "--N", "4096", "--d", "64", "--heads", "8",
            "--schedule", "fa2", "--match", "traits<64", "--format", "json",
        ])
        #expect(r.status == 0, "\(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(obj["tiles"] as? String == "tiles from the kernel's name")
        let reads = try #require(obj["kernels"] as? [[String: Any]]).filter { $0["metric"] as? String == "l2_to_sm_read_bytes" }
        #expect(!reads.isEmpty && reads.allSatisfy { $0["ratio"] as? Double == 1 }, "the kernel's own tiles predict its bytes exactly")
    }

    @Test func kernelNameTilesAreOnlyForTheSchedulesThatRunThoseKernels() throws {
        let r = try Repo.run([
            "compare", "--ncu", Repo.path("Reports/gpu/torch_flash_ncu_raw.csv"), "--N", "4096", "--d", "64", "--heads", "8",
            "--schedule", "fa3", "--match", "traits<64", "--format", "json",
        ])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.err)")
        #expect(obj["tiles"] as? String == "--tiles kernel")
    }

    @Test func aBrokenSharedMemoryFieldIsOneErrorNotTwo() throws {
        let folder = try TemporaryFolder(prefix: "iosim-hw")
        defer { folder.remove() }
        var hw = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Repo.hardwareModel("h100-sxm"))) as? [String: Any])
        hw["smem_per_sm_bytes"] = "abc"
        try JSONSerialization.data(withJSONObject: hw).write(to: URL(fileURLWithPath: folder.file("hw.json")))
        let r = try Repo.run(["--N", "1024", "--hardware", folder.file("hw.json")])
        #expect(Self.oneLine(r, 1) && r.err.contains("smem_per_sm_bytes") && !r.err.contains("errors:"), "\(r.err)")
    }

    @Test func compareWarnsWhenTheMeasuredGridIsNotThePredictedOne() throws {
        let base = [
            "compare", "--ncu", Repo.path("Reports/gpu/ncu_sample_torch_fwd_bwd.csv"), "--N", "1024", "--d", "64", "--heads", "2",
            "--schedule", "split-kv", "--match", "flash_fwd_splitkv",
        ]
        let wrong = try Repo.run(base + ["--splits", "2"])
        #expect(wrong.status == 0 && wrong.err.contains("warning: launch 4") && wrong.err.contains("ran 128 CTAs"), "\(wrong.err)")
        let right = try Repo.run(base + ["--splits", "4"])
        #expect(right.status == 0 && right.err.isEmpty, "\(right.err)")
        #expect(right.out.contains("9437184    9437184  1.000"), "\(right.out)")
    }

    @Test(arguments: [("chekc", "check"), ("simulat", "simulate"), ("kv-memroy", "kv-memory"), ("atention", "attention")])
    func aMistypedSubcommandSuggestsTheClosest(typo: String, meant: String) throws {
        let r = try Repo.run([typo, "--N", "64"])
        #expect(Self.oneLine(r, 64) && r.err.contains("did you mean '\(meant)'?") && r.err.contains("subcommands: simulate"), "\(r.err)")
    }

    @Test func anUnknownModelListsTheModels() throws {
        let r = try Repo.run(["--N", "128", "--model", "llama-9"])
        #expect(Self.oneLine(r, 1) && r.err.contains("llama-3-8b") && r.err.contains("mistral-7b"), "\(r.err)")
        let h = try Repo.run(["--N", "128", "--hardware", "b300"])
        #expect(Self.oneLine(h, 1) && h.err.contains("h100-sxm"), "\(h.err)")
    }

    @Test func lengthsTakeSizeSuffixes() throws {
        let k = try Repo.run(["kv-memory", "--model", "llama-3-8b", "--batch", "2", "--max-len", "8K"])
        #expect(k.status == 0 && k.out.contains("reserve 8192 per sequence"), "\(k.err)")
        let w = try Repo.run(["--N", "4K", "--window", "1K", "--schedule", "fa2", "--format", "json"])
        #expect(w.status == 0 && w.out.contains("\"window\": 1024"), "\(w.err)")
        let bad = try Repo.run(["--N", "4K", "--window", "1Q"])
        #expect(Self.oneLine(bad, 64))
    }

    @Test func attentionTakesChecksShapesWindowsDtypesAndRawBits() throws {
        let folder = try TemporaryFolder(prefix: "iosim-first-contact")
        defer { folder.remove() }
        // [heads, N, d] bf16 raw bits, as a PyTorch user saves them.
        let (heads, n, d) = (2, 40, 16)
        var rng = SeededGenerator(seed: 25)
        func bits(_ count: Int) -> [UInt16] {
            (0..<count).map { _ in UInt16(truncatingIfNeeded: (Float.random(in: -2...2, using: &rng)).bitPattern >> 16) }
        }
        for name in ["q", "k", "v"] {
            try Self.writeRaw16(folder.file("\(name).npy"), shape: [heads, n, d], words: bits(heads * n * d))
        }
        let common = ["--q", folder.file("q.npy"), "--k", folder.file("k.npy"), "--v", folder.file("v.npy"), "--bf16-bits", "--window", "8"]
        let a = try Repo.run(
            ["attention"] + common + ["--out", folder.file("o.npy"), "--lse", folder.file("l.npy"), "--dtype", "bf16", "--alignment", "bottom-right"])
        #expect(a.status == 0, "\(a.err)")
        let c = try Repo.run(["check"] + common + ["--o", folder.file("o.npy"), "--lse", folder.file("l.npy"), "--dtype", "bf16"])
        #expect(c.status == 0 && c.out.contains("PASS"), "the fp64 reference of the same inputs passes: \(c.out) \(c.err)")
    }

    /// A version-1.0 `.npy` file of 16-bit words ('<u2'), as `np.save` writes raw bf16 bits.
    static func writeRaw16(_ path: String, shape: [Int], words: [UInt16]) throws {
        var header = "{'descr': '<u2', 'fortran_order': False, 'shape': (" + shape.map(String.init).joined(separator: ", ") + "), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        for w in words { bytes += [UInt8(w & 0xFF), UInt8(w >> 8)] }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func errorLinesEscapeControlCharactersAndJSONStringsToo() {
        #expect(TerminalText.escape("a\u{1B}[31mb\nc") == "a\\u{1B}[31mb\\u{A}c")
        #expect(TerminalText.escape("plain ✓ text") == "plain ✓ text")
        #expect(JSON.quoted("k\u{1B}\"\n") == "\"k\\u001b\\\"\\n\"")
        #expect(JSON.number(.nan).text == "\"NaN\"" && JSON.number(-.infinity).text == "\"-Infinity\"" && JSON.number(1.5).text == "1.5")
    }
}
