import Foundation
import NpyIO
import Testing

/// Outputs of PyTorch's compiled FlexAttention recorded on the H100 (Reports/gpu/mask_recordings.tgz,
/// N = 1024, 2 heads, d = 64, fp16; Reports/gpu/README.md, "Masks"): `iosim check` passes each
/// with the mask it computed and fails it under a neighbouring mask, and its table prints where the
/// worst element is as plain text.
@Suite struct RecordedMaskOutputs {
    static func unpacked() throws -> TemporaryFolder {
        let folder = try TemporaryFolder(prefix: "iosim-masks")
        let r = try runTool("tar", ["xzf", Repo.path("Reports/gpu/mask_recordings.tgz"), "-C", folder.url.path])
        #expect(r.status == 0, "\(r.err)")
        return folder
    }

    static func check(_ folder: TemporaryFolder, _ kase: String, lse: Bool = true, _ flags: [String]) -> (status: Int32, out: String, err: String) {
        let f = { (name: String) in folder.file("rec/\(name)") }
        let files = ["--q", f("q.npy"), "--k", f("k.npy"), "--v", f("v.npy"), "--o", f("\(kase)_o.npy")]
        return CLI.run(["check"] + files + (lse ? ["--lse", f("\(kase)_lse.npy")] : []) + ["--dtype", "fp16"] + flags)
    }

    @Test func flexOutputsPassUnderTheirOwnMaskAndFailUnderAnother() throws {
        let folder = try Self.unpacked()
        defer { folder.remove() }
        let causal = Self.check(folder, "flex_causal", ["--causal"])
        #expect(causal.status == 0, "\(causal.out)\(causal.err)")
        #expect(causal.out.contains(" (0, ") && !causal.out.contains("\"("), "the location is plain text: \(causal.out)")
        #expect(Self.check(folder, "flex_none", []).status == 0)
        // The causal kernel's output checked as if it saw every key, or only a 512-key window: FAIL.
        #expect(Self.check(folder, "flex_causal", []).status == 1)
        #expect(Self.check(folder, "flex_causal", ["--window", "512"]).status == 1)
        #expect(Self.check(folder, "flex_none", ["--causal"]).status == 1)
    }

    /// Documents, prefix-LM and sinks with a window (cases.json's rules, written as iosim's flags):
    /// each passes under its own mask, and planted mask bugs fail — a document boundary ignored or
    /// moved by one, a window edge off by one, the sinks or the prefix dropped or one key short.
    @Test func structuredFlexOutputsPassAndPlantedMaskBugsFail() throws {
        let folder = try Self.unpacked()
        defer { folder.remove() }
        let docs = ["--documents", "300,200,256,268"]
        let own: [(String, [String])] = [
            ("flex_doc", docs), ("flex_doc_causal", docs + ["--causal"]), ("flex_prefix", ["--causal", "--prefix", "100"]),
            ("flex_sinks_window", ["--window", "128", "--sink-tokens", "4"]),
        ]
        for (kase, flags) in own {
            let r = Self.check(folder, kase, flags)
            #expect(r.status == 0, "\(kase) \(flags): \(r.out)\(r.err)")
        }
        let planted: [(String, [String])] = [
            ("flex_doc", []), ("flex_doc_causal", ["--causal"]), ("flex_doc_causal", ["--documents", "301,199,256,268", "--causal"]),
            ("flex_sinks_window", ["--window", "127", "--sink-tokens", "4"]), ("flex_sinks_window", ["--window", "128"]),
            ("flex_sinks_window", ["--window", "128", "--sink-tokens", "3"]), ("flex_prefix", ["--causal"]),
            ("flex_prefix", ["--causal", "--prefix", "99"]),
        ]
        for (kase, flags) in planted {
            #expect(Self.check(folder, kase, flags).status == 1, "\(kase) checked with \(flags) must fail")
        }
    }

    /// The H100's FlexAttention kernel on the benchmark's block masks (blocks/*_block_table.npy,
    /// N = 8192, 8 heads, d = 128): a random 64 × 64 table shared by the heads, and one table per
    /// head (windows 256…2048). flex walks every non-empty block of the file, so its reads match
    /// the measured L2→SM bytes (Reports/gpu/flex_masks_traffic.csv) within 0.5%.
    @Test(arguments: [("blocksparse", 437_368_160), ("perhead", 323_321_664), ("doc4_causal", 348_834_016)])
    func flexWithTheRecordedBlockTablesReadsWhatTheH100Read(kase: String, measured: Int) throws {
        let folder = try Self.unpacked()
        defer { folder.remove() }
        let r = CLI.run([
            "--schedule", "flex", "--N", "8192", "--d", "128", "--heads", "8", "--Br", "128", "--Bc", "64", "--M", "1GB", "--causal",
            "--block-mask", folder.file("blocks/\(kase)_block_table.npy"), "--format", "json",
        ])
        #expect(r.status == 0, "\(r.err)")
        let j = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        let result = try #require((j["results"] as? [[String: Any]])?.first)
        let reads = try #require((result["hbm"] as? [String: Any])?["read_bytes"] as? Int)
        #expect(abs(Double(reads) / Double(measured) - 1) < 0.005, "\(kase): \(reads) vs \(measured)")
        let problem = try #require(j["problem"] as? [String: Any])
        #expect((problem["block_mask"] as? String)?.hasSuffix("\(kase)_block_table.npy") == true && problem["mask_block"] as? [Int] == [128, 128])
    }

    /// `check --block-mask` with the causal kernel's own block table and `--causal` inside its
    /// partial blocks passes; its partial blocks read as full fail,
    /// as the table alone does (no inner mask: partial = full).
    @Test func checkTakesTheKernelsBlockTableAndCatchesAPartialBlockReadAsFull() throws {
        let folder = try Self.unpacked()
        defer { folder.remove() }
        let table = folder.file("rec/flex_causal_block_table.npy")
        #expect(Self.check(folder, "flex_causal", ["--block-mask", table, "--causal"]).status == 0)
        #expect(Self.check(folder, "flex_causal", ["--block-mask", table]).status == 1)
        let docs = ["--documents", "300,200,256,268", "--causal"]
        #expect(Self.check(folder, "flex_doc_causal", ["--block-mask", folder.file("rec/flex_doc_causal_block_table.npy")] + docs).status == 0)
        // The causal table's full blocks show keys of other documents: FAIL.
        #expect(Self.check(folder, "flex_doc_causal", ["--block-mask", table] + docs).status == 1)
    }

    /// `array` ([1, heads, N, d]) with its heads and rows swapped, as `name` in `folder`: the
    /// packed [N, heads, d] of FlashAttention's varlen interface (`batch` false) or bshd's
    /// [1, N, heads, d].
    static func swapped(_ folder: TemporaryFolder, _ path: String, _ name: String, batch: Bool) throws -> String {
        let a = try AtomicFiles.readNpy(path)
        let (h, n, d) = (a.shape[1], a.shape[2], a.shape[3])
        var data = [Double](repeating: 0, count: a.data.count)
        for i in 0..<h { for r in 0..<n { for k in 0..<d { data[(r * h + i) * d + k] = a.data[(i * n + r) * d + k] } } }
        let out = folder.file(name)
        try AtomicFiles.write([(out, Npy.encode(NpyArray(shape: (batch ? [1] : []) + [n, h, d], data: data, dtype: a.dtype)))])
        return out
    }

    /// FlashAttention-2's varlen forward recorded on the H100 (`varlen_doc_c0/c1`: packed O [N, heads, d]
    /// and LSE [heads, N], documents 300, 200, 256, 268) passes `check --layout thd` with its
    /// documents, and fails with a boundary moved; bshd arrays of a flex output pass too.
    @Test func varlenOutputsInThePackedLayoutPassWithTheirDocuments() throws {
        let folder = try Self.unpacked()
        defer { folder.remove() }
        let rec = { (name: String) in folder.file("rec/\(name)") }
        var thd: [String: String] = [:]
        for t in ["q", "k", "v"] { thd[t] = try Self.swapped(folder, rec("\(t).npy"), "\(t)_thd.npy", batch: false) }
        func check(_ kase: String, _ flags: [String]) -> (status: Int32, out: String, err: String) {
            CLI.run(
                [
                    "check", "--q", thd["q"]!, "--k", thd["k"]!, "--v", thd["v"]!, "--o", rec("\(kase)_o.npy"), "--lse", rec("\(kase)_lse.npy"),
                    "--dtype", "fp16", "--layout", "thd",
                ] + flags)
        }
        let docs = ["--documents", "300,200,256,268"]
        let c0 = check("varlen_doc_c0", docs), c1 = check("varlen_doc_c1", docs + ["--causal"])
        #expect(c0.status == 0, "\(c0.out)\(c0.err)")
        #expect(c1.status == 0, "\(c1.out)\(c1.err)")
        #expect(check("varlen_doc_c1", ["--documents", "300,200,255,269", "--causal"]).status == 1)
        #expect(check("varlen_doc_c1", docs).status == 1, "the causal kernel checked as if it saw its whole document")
        let noDocs = check("varlen_doc_c0", [])
        #expect(noDocs.status == 2 && noDocs.err.contains("--layout thd is varlen's packed layout: give --documents"), "\(noDocs.err)")
        // bshd: the same flex output as [1, N, heads, d] for every array.
        var bshd: [String] = []
        for t in ["q", "k", "v", "flex_causal_o"] {
            bshd += ["--\(t == "flex_causal_o" ? "o" : t)", try Self.swapped(folder, rec("\(t).npy"), "\(t)_bshd.npy", batch: true)]
        }
        let b = CLI.run(["check"] + bshd + ["--dtype", "fp16", "--layout", "bshd", "--causal"])
        #expect(b.status == 0, "\(b.out)\(b.err)")
        // `attention --layout thd` writes O packed as [N, heads, d] and the LSE as [heads, N]; check
        // reads them back in the same layout.
        let (o, lse) = (folder.file("o_thd.npy"), folder.file("lse_thd.npy"))
        let a = CLI.run(
            ["attention", "--q", thd["q"]!, "--k", thd["k"]!, "--v", thd["v"]!, "--out", o, "--lse", lse, "--layout", "thd", "--causal"] + docs)
        #expect(a.status == 0, "\(a.err)")
        #expect(try AtomicFiles.readNpy(o).shape == [1024, 2, 64] && AtomicFiles.readNpy(lse).shape == [2, 1024])
        let back = CLI.run(
            ["check", "--q", thd["q"]!, "--k", thd["k"]!, "--v", thd["v"]!, "--o", o, "--lse", lse, "--dtype", "fp64", "--layout", "thd", "--causal"]
                + docs)
        #expect(back.status == 0, "\(back.out)\(back.err)")
    }
}
