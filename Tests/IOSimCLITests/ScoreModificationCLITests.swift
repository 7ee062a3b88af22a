import AttentionReference
import Foundation
import NpyIO
import Testing

@testable import IOSimCLI

/// `--softcap`, `--alibi-slopes` and `--sink-logits` in `attention` and `check`: the reference's
/// output passes the check with the same flags and fails without one of them; bad values are one
/// line on stderr (exit 64 in `attention`, 2 in `check`) and write nothing.
@Suite struct ScoreModificationFlags {
    typealias Workspace = AttentionOutputs.Workspace

    static func workspace() throws -> Workspace {
        let w = try Workspace()
        try AtomicFiles.write([
            (w.at("sinks.npy"), Npy.encode(NpyArray(shape: [2], data: [0.25, -1]))),
            (w.at("three.npy"), Npy.encode(NpyArray(shape: [3], data: [0.5, 0.25, 0.125]))),
        ])
        return w
    }

    @Test func theReferencesOutputPassesTheCheckWithItsFlagsAndFailsWithoutThem() throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let mods = ["--softcap", "2.5", "--alibi-slopes", "standard", "--sink-logits", w.at("sinks.npy")]
        let made = CLI.run(["attention"] + w.inputs + ["--causal", "--out", w.at("o.npy"), "--lse", w.at("l.npy")] + mods)
        #expect(made.status == 0 && made.err.isEmpty, "\(made.err)")
        // What the library computes with the same modification (slopes 2^-4, 2^-8 for 2 heads).
        let m = ScoreModification(softcap: 2.5, alibiSlopes: [0.0625, 0.00390625], sinkLogits: [0.25, -1])
        let want = try ReferenceAttention.forward(
            q: Workspace.q.data, k: Workspace.k.data, v: Workspace.v.data,
            shape: AttentionShape(batch: 1, heads: 2, kvHeads: 1, nq: 5, nk: 6, d: 4, dv: 3), mask: .causal(.topLeft), modification: m)
        #expect(try AtomicFiles.readNpy(w.at("o.npy")).data == want.o)
        let check = ["check"] + w.inputs + ["--o", w.at("o.npy"), "--lse", w.at("l.npy"), "--dtype", "fp64", "--causal", "--alignment", "top-left"]
        let ok = CLI.run(check + mods)
        #expect(ok.status == 0, "\(ok.out)\(ok.err)")
        #expect(ok.out.contains("softcap 2.5, ALiBi, sink logits"), "the table names them")
        let json = CLI.run(check + mods + ["--format", "json"])
        let problem = try #require(
            (try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])?["problem"] as? [String: Any])
        #expect(problem["softcap"] as? Double == 2.5 && problem["alibi_slopes"] as? [Double] == [0.0625, 0.00390625])
        #expect(problem["sink_logits"] as? [Double] == [0.25, -1])
        // Each modification left out is caught.
        for drop in [0, 2, 4] {
            var partial = mods
            partial.removeSubrange(drop..<drop + 2)
            #expect(CLI.run(check + partial).status == 1, "without \(mods[drop])")
        }
    }

    @Test(arguments: [
        (["--softcap", "0"], "--softcap must be a positive finite number, got 0.0"),
        (["--softcap", "inf"], "--softcap must be a positive finite number"),
        (["--alibi-slopes", "three.npy"], "--alibi-slopes"),
        (["--sink-logits", "three.npy"], "has shape [3]; give [2], one value per query head"),
        (["--alibi-slopes", "missing.npy"], "--alibi-slopes"),
    ])
    func badValuesAreOneLineAndWriteNothing(flags: [String], says: String) throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let args = flags.map { $0.hasSuffix(".npy") ? w.at($0) : $0 }
        let a = CLI.run(["attention"] + w.inputs + ["--out", w.at("o.npy")] + args)
        #expect(a.status == 64 && a.err.contains(says) && a.err.split(separator: "\n").count == 1, "\(a.err)")
        #expect(!w.contents.contains("o.npy"))
        try AtomicFiles.write([(w.at("o.npy"), Npy.encode(NpyArray(shape: [1, 2, 5, 3], data: [Double](repeating: 0, count: 30))))])
        let c = CLI.run(["check"] + w.inputs + ["--o", w.at("o.npy"), "--dtype", "fp64"] + args)
        #expect(c.status == 2 && c.err.contains(says) && c.err.split(separator: "\n").count == 1, "\(c.err)")
    }

    @Test func standardSlopesNeedAPowerOfTwoHeadCount() throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let three = NpyArray(shape: [1, 3, 5, 4], data: (0..<60).map { Double($0 % 7) / 7 })
        try AtomicFiles.write([(w.at("q3.npy"), Npy.encode(three))])
        let r = CLI.run([
            "attention", "--q", w.at("q3.npy"), "--k", w.at("k.npy"), "--v", w.at("v.npy"), "--out", w.at("o.npy"), "--alibi-slopes", "standard",
        ])
        #expect(r.status == 64 && r.err.contains("--alibi-slopes standard needs a power-of-two head count, not 3"), "\(r.err)")
    }

    /// `attention --do` writes the modified attention's gradients; `check` passes them with the
    /// same flags and fails them without the soft cap.
    @Test func gradientsOfTheModifiedAttentionAreWrittenAndChecked() throws {
        let w = try Self.workspace()
        defer { w.remove() }
        try AtomicFiles.write([(w.at("do.npy"), Npy.encode(NpyArray(shape: [1, 2, 5, 3], data: (0..<30).map { Double($0 % 4) / 4 - 0.3 })))])
        let mods = ["--softcap", "1.5", "--alibi-slopes", "standard", "--sink-logits", w.at("sinks.npy")]
        let grads = ["--dq", w.at("dq.npy"), "--dk", w.at("dk.npy"), "--dv", w.at("dv.npy")]
        let made = CLI.run(["attention"] + w.inputs + ["--out", w.at("o.npy"), "--do", w.at("do.npy")] + grads + mods)
        #expect(made.status == 0, "\(made.err)")
        let check = ["check"] + w.inputs + ["--o", w.at("o.npy"), "--do", w.at("do.npy"), "--dtype", "fp64"] + grads
        let ok = CLI.run(check + mods)
        #expect(ok.status == 0, "\(ok.out)\(ok.err)")
        #expect(CLI.run(check + Array(mods.dropFirst(2))).status == 1, "without --softcap")
    }
}
