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

    @Test func schedulesThatTakeWindowsAndSinksOnlyAreInfeasibleInsideDecodeAndRefusedWhenNamed() throws {
        let j = try Self.json(["--N", "1", "--Nk", "4096", "--window", "512", "--prefix", "4", "--schedule", "decode"])
        let lean = try #require(Self.result(j, "lean"))
        #expect(lean["feasible"] as? Bool == false && (lean["reason"] as? String)?.contains("not a prefix") == true)
        #expect(Self.result(j, "split-kv")?["feasible"] as? Bool == true)
        let named = CLI.run(["--N", "1", "--Nk", "4096", "--window", "512", "--prefix", "4", "--schedule", "lean"])
        #expect(named.status == 64 && named.err.contains("lean takes none, causal, window and sink-token masks only; drop --prefix"), "\(named.err)")
        // Sink tokens with a window are theirs: every decode schedule runs.
        let sinks = try Self.json(["--N", "1", "--Nk", "4096", "--window", "512", "--sink-tokens", "4", "--schedule", "decode"])
        for name in ["lean", "paged-v1", "paged-v2", "split-kv"] {
            #expect(Self.result(sinks, name)?["feasible"] as? Bool == true, "\(name)")
        }
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
        (["--documents", "100,100", "--schedule", "paged-v1"], "paged-v1 takes none, causal, window and sink-token masks only; drop --documents"),
    ])
    func badStructureFlagsAreOneLineUsageErrors(args: [String], says: String) {
        let r = CLI.run(args)
        #expect(r.status == 64 && r.err.contains(says) && r.err.split(separator: "\n").count == 1, "\(args): \(r.err)")
    }

    /// A `.npy` file of `descr` (one byte per element) holding `values`.
    static func npy(_ folder: TemporaryFolder, _ name: String, descr: String = "|i1", shape: [Int], _ values: [UInt8]) throws -> String {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let count = UInt16(header.utf8.count)
        let bytes = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(count & 0xff), UInt8(count >> 8)] + Array(header.utf8) + values
        let path = folder.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A block-mask file is read (int8 or bool; per head), echoed, and counted; a wrong shape,
    /// a value outside 0–2, a float array, varlen documents or packed GQA are one-line usage errors.
    @Test func blockMaskFilesAreReadCountedAndRefusedWhenTheyDoNotFit() throws {
        let folder = try TemporaryFolder(prefix: "iosim-blocks")
        defer { folder.remove() }
        // N = 256 in 128-blocks: 2 × 2; the lower-left block full, the diagonal partial.
        let table = try Self.npy(folder, "t.npy", shape: [1, 2, 2], [1, 0, 2, 1])
        let j = try Self.json(["--N", "256", "--causal", "--block-mask", table, "--schedule", "flex", "--M", "1MB", "--Br", "128"])
        let p = try #require(j["problem"] as? [String: Any])
        #expect(p["block_mask"] as? String == table && p["mask_block"] as? [Int] == [128, 128])
        let flex = try #require(Self.result(j, "flex"))
        #expect(
            (flex["hbm"] as? [String: Any])?["reads"] as? Int == 256 * 64 + 2 * 3 * 128 * 64 + 2 * 2 + 3,
            "Q, K and V of 3 blocks, 2 CTAs' table entries")
        let bools = try Self.npy(folder, "b.npy", descr: "|b1", shape: [1, 2, 2], [1, 0, 1, 1])
        let all = try Self.json(["--N", "256", "--block-mask", bools, "--schedule", "fa2", "--M", "1MB", "--Br", "128", "--Bc", "128"])
        let bound = try #require((Self.result(all, "fa2")?["bound"] as? [String: Any])?["visible_pairs"] as? Int)
        #expect(bound == 3 * 128 * 128, "bool true blocks are full")
        let bad: [([String], String)] = [
            (["--N", "300", "--block-mask", table], "has 2 × 2 blocks; Nq = 300, Nk = 300 in 128 × 128 blocks (--mask-block) need 3 × 3"),
            (["--N", "256", "--block-mask", try Self.npy(folder, "v.npy", shape: [1, 2, 2], [1, 0, 3, 1])], "element 2 is 3; values are 0"),
            (
                ["--N", "256", "--block-mask", try Self.npy(folder, "f.npy", descr: "<f2", shape: [1, 1], [0, 0])], "a block mask is bool or integer"
            ),
            (
                ["--N", "256", "--heads", "3", "--block-mask", try Self.npy(folder, "h.npy", shape: [2, 2, 2], Array(repeating: 1, count: 8))],
                "has 2 heads; the problem has 3"
            ),
            (["--documents", "100,156", "--block-mask", table], "--block-mask takes no --packing varlen"),
            (
                [
                    "--N", "256", "--heads", "2", "--kv-heads", "1", "--pack-gqa", "--block-mask",
                    try Self.npy(folder, "ph.npy", shape: [2, 2, 2], Array(repeating: 1, count: 8)),
                ], "a per-head block mask with packed GQA rows is not modelled yet"
            ),
            (["--N", "256", "--block-mask", folder.file("missing.npy")], "--block-mask"),
        ]
        for (args, says) in bad {
            let r = CLI.run(args)
            #expect(r.status == 64 && r.err.contains(says) && r.err.split(separator: "\n").count == 1, "\(args): \(r.err)")
        }
    }
}
