import Foundation
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
}
