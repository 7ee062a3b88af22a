import Foundation
import Testing

/// `--window`, `--alignment` and `--pack-gqa` (docs/counting-rules.md §5) reach the problem the schedules run —
/// echoed in JSON and in the table's problem line, only when they differ from the defaults — and
/// data mode with them passes the reference check.
@Suite struct MaskOptions {
    static func json(_ args: [String]) throws -> [String: Any] {
        let r = CLI.run(args + ["--format", "json"])
        #expect(r.status == 0, "\(args): \(r.err)")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
    }

    static func problem(_ args: [String]) throws -> [String: Any] {
        try #require(try json(args + ["--schedule", "fa2"])["problem"] as? [String: Any])
    }

    @Test func windowIsEchoedAndImpliesCausal() throws {
        let p = try Self.problem(["--N", "300", "--Nk", "500", "--window", "64"])
        #expect(p["window"] as? Int == 64 && p["causal"] as? Bool == true)
        #expect(p["alignment"] == nil, "bottom-right is the default and is not echoed")
    }

    /// `--window-left A --window-right B` (FlashAttention's window_size = (A, B)): both sides in
    /// JSON, null for the side no flag bounds, `causal` false when the window sees keys to the right.
    @Test func twoSidedWindowsAreEchoedWithUnboundedSidesAsNull() throws {
        let both = try Self.problem(["--N", "300", "--Nk", "500", "--window-left", "20", "--window-right", "30"])
        #expect(both["window_left"] as? Int == 20 && both["window_right"] as? Int == 30 && both["causal"] as? Bool == false)
        #expect(both["window"] == nil, "a two-sided window has no single length L")
        let left = try Self.problem(["--N", "300", "--window-left", "20"])
        #expect(left["window_left"] as? Int == 20 && left["window_right"] is NSNull && left["causal"] as? Bool == false)
        let causal = try Self.problem(["--N", "300", "--causal", "--window-left", "63"])
        #expect(causal["window"] as? Int == 64 && causal["window_left"] as? Int == 63 && causal["window_right"] as? Int == 0)
        #expect(causal["causal"] as? Bool == true)
        // Counts: a right side that reaches past every key is the left-only window.
        let far = try Self.json(["--N", "300", "--window-left", "20", "--window-right", "1000", "--schedule", "fa2"])
        let open = try Self.json(["--N", "300", "--window-left", "20", "--schedule", "fa2"])
        func hbm(_ j: [String: Any]) -> [String: Any]? { ((j["results"] as? [[String: Any]])?.first?["hbm"]) as? [String: Any] }
        #expect(hbm(far)?["reads"] as? Int == hbm(open)?["reads"] as? Int && hbm(far)?["reads"] != nil)
    }

    @Test(arguments: [
        (["--window", "8", "--window-left", "3"], "--window L is --window-left L−1 --window-right 0"),
        (["--causal", "--window-right", "2"], "--causal sees no key to the right"),
        (["--window-left", "-1"], "--window-left must be 0 or a positive number of keys"),
        (["--schedule", "flex", "--heads", "4", "--kv-heads", "2", "--pack-gqa"], "flex runs one CTA per query head and takes no --pack-gqa"),
        (["--mask-block", "64"], "--mask-block sets the blocks flex walks or a --block-mask file's; name --schedule flex or give --block-mask"),
        (["--schedule", "flex", "--mask-block", "64x0"], "--mask-block takes B or BqxBk"),
    ])
    func contradictoryWindowFlagsAreOneLineUsageErrors(args: [String], says: String) {
        let r = CLI.run(["--N", "300"] + args)
        #expect(r.status == 64 && r.err.contains(says) && r.err.split(separator: "\n").count == 1, "\(r.err)")
    }

    @Test func theMaskBlockIsEchoedForFlex() throws {
        let p = try Self.json(["--N", "512", "--causal", "--schedule", "flex", "--mask-block", "256x64"])["problem"] as? [String: Any]
        #expect(p?["mask_block"] as? [Int] == [256, 64])
        #expect(try Self.problem(["--N", "512", "--causal"])["mask_block"] == nil, "the default is not echoed")
    }

    @Test func topLeftAlignmentIsEchoedWithCausalOrWindow() throws {
        #expect(try Self.problem(["--N", "300", "--Nk", "500", "--causal", "--alignment", "top-left"])["alignment"] as? String == "top-left")
        let w = try Self.problem(["--N", "300", "--window", "16", "--alignment", "top-left"])
        #expect(w["alignment"] as? String == "top-left" && w["window"] as? Int == 16)
        #expect(try Self.problem(["--N", "300", "--causal", "--alignment", "bottom-right"])["alignment"] == nil)
    }

    @Test func packingIsEchoed() throws {
        let p = try Self.problem(["--N", "256", "--heads", "8", "--kv-heads", "2", "--pack-gqa"])
        #expect(p["pack_gqa"] as? Bool == true && p["heads"] as? Int == 8 && p["kv_heads"] as? Int == 2)
    }

    @Test func defaultProblemsKeepExactlyTheirKeys() throws {
        let p = try Self.problem(["--N", "300", "--Nk", "500", "--causal"])
        #expect(Set(p.keys) == ["N", "Nk", "d", "batch", "heads", "kv_heads", "dtype", "causal", "M_bytes", "M_elements"])
    }

    @Test func theMaskChangesTheCounts() throws {
        func reads(_ extra: [String]) throws -> Int {
            let results = try #require(
                try Self.json(["--N", "300", "--Nk", "500", "--schedule", "fa2", "--Br", "32", "--Bc", "32"] + extra)["results"] as? [[String: Any]])
            return try #require((results[0]["hbm"] as? [String: Any])?["reads"] as? Int)
        }
        let (full, bottomRight, topLeft, window) = (
            try reads([]), try reads(["--causal"]),
            try reads(["--causal", "--alignment", "top-left"]), try reads(["--window", "64"])
        )
        #expect(full > bottomRight && bottomRight > topLeft, "top-left with Nq < Nk sees fewer keys than bottom-right")
        #expect(window < bottomRight)
    }

    @Test func tableProblemLineEchoesMaskAndPacking() throws {
        let r = CLI.run([
            "--N", "300", "--Nk", "500", "--window", "64", "--alignment", "top-left", "--heads", "4",
            "--kv-heads", "2", "--pack-gqa", "--schedule", "fa2",
        ])
        #expect(r.status == 0, "\(r.err)")
        #expect(
            r.out.hasPrefix(
                "problem: N=300 Nk=500 d=64 batch=1 heads=4 kv_heads=2 dtype=fp16 causal=true alignment=top-left window=64 pack_gqa=true\n"),
            "\(r.out)")
    }

    static let dataModeCases: [[String]] = [
        ["--N", "300", "--Nk", "500", "--d", "64", "--M", "64KiB", "--window", "64"],
        ["--N", "256", "--d", "64", "--M", "64KiB", "--heads", "8", "--kv-heads", "2", "--pack-gqa"],
        ["--N", "300", "--Nk", "500", "--d", "64", "--M", "64KiB", "--causal", "--alignment", "top-left"],
        ["--N", "500", "--Nk", "300", "--d", "64", "--M", "64KiB", "--causal", "--alignment", "top-left"],
        ["--N", "500", "--Nk", "300", "--d", "64", "--M", "64KiB", "--causal"],
        [
            "--N", "200", "--Nk", "300", "--d", "32", "--M", "32KiB", "--window", "24", "--alignment", "top-left",
            "--heads", "4", "--kv-heads", "1", "--pack-gqa",
        ],
    ]

    @Test(arguments: dataModeCases)
    func dataModePassesTheReferenceCheck(args: [String]) throws {
        let obj = try Self.json(args + ["--mode", "data"])
        let results = try #require(obj["results"] as? [[String: Any]])
        #expect(results.count == 5)
        for r in results {
            #expect(r["feasible"] as? Bool == true, "\(r["schedule"] ?? "")")
            let eq = try #require(r["equivalence"] as? [String: Any], "\(r["schedule"] ?? "")")
            #expect(eq["passed"] as? Bool == true, "\(args) \(r["schedule"] ?? ""): \(eq)")
        }
    }

    @Test func verifyPassesUnderAWindowWithPacking() throws {
        let r = CLI.run([
            "verify", "--N", "200", "--Nk", "300", "--d", "32", "--M", "32KiB", "--window", "40",
            "--heads", "4", "--kv-heads", "2", "--pack-gqa", "--schedule", "fa2,fa3",
        ])
        #expect(r.status == 0 && r.out.components(separatedBy: "PASS").count == 3, "\(r.out) \(r.err)")
    }
}
