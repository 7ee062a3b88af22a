import AttentionReference
import Foundation
import NpyIO
import Testing

@testable import IOSimCLI

/// `iosim attention --do dO.npy --dq … --dk … --dv …`: the reference gradients, written with the
/// forward's outputs all or none; bad requests are one line on stderr and leave no files.
@Suite struct AttentionGradientOutputs {
    typealias Workspace = AttentionOutputs.Workspace
    /// GQA: two query heads share one K/V head; dO is shaped as O [1, 2, 5, 3].
    static let shape = AttentionShape(batch: 1, heads: 2, kvHeads: 1, nq: 5, nk: 6, d: 4, dv: 3)
    static let upstream = NpyArray(shape: [1, 2, 5, 3], data: (0..<30).map { Double(($0 * 7) % 11) / 11 - 0.5 })

    /// A workspace with do.npy beside q, k and v.
    static func workspace() throws -> Workspace {
        let w = try Workspace()
        try AtomicFiles.write([(w.at("do.npy"), Npy.encode(upstream))])
        return w
    }

    static func gradientFlags(_ w: Workspace) -> [String] {
        ["--do", w.at("do.npy"), "--dq", w.at("dq.npy"), "--dk", w.at("dk.npy"), "--dv", w.at("dv.npy")]
    }

    @Test(arguments: [false, true])
    func gradientsAreTheReferenceGradientsAndOIsUnchanged(causal: Bool) throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let mask = causal ? ["--causal"] : []
        let r = CLI.run(["attention"] + w.inputs + mask + ["--out", w.at("o.npy"), "--lse", w.at("l.npy")] + Self.gradientFlags(w))
        #expect(r.status == 0 && r.err.isEmpty, "\(r.err)")
        let expected = try ReferenceGradients.backward(
            q: Workspace.q.data, k: Workspace.k.data, v: Workspace.v.data, dO: Self.upstream.data, shape: Self.shape,
            mask: causal ? .causal(.topLeft) : .none)
        let (dq, dk, dv) = (try AtomicFiles.readNpy(w.at("dq.npy")), try AtomicFiles.readNpy(w.at("dk.npy")), try AtomicFiles.readNpy(w.at("dv.npy")))
        #expect(dq.shape == [1, 2, 5, 4] && dk.shape == [1, 1, 6, 4] && dv.shape == [1, 1, 6, 3])
        #expect(dq.data == expected.dq && dk.data == expected.dk && dv.data == expected.dv)
        // O and LSE are byte for byte those of a run without gradients.
        let o = w.bytes("o.npy"), lse = w.bytes("l.npy")
        let plain = CLI.run(["attention"] + w.inputs + mask + ["--out", w.at("o.npy"), "--lse", w.at("l.npy")])
        #expect(plain.status == 0)
        #expect(w.bytes("o.npy") == o && w.bytes("l.npy") == lse)
    }

    @Test func twoDimensionalInputsGiveTwoDimensionalGradientsAndAnySubsetIsWritten() throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let (q, k, v) = (NpyArray(shape: [5, 4], data: Array(Workspace.q.data[0..<20])), Workspace.k, Workspace.v)
        try AtomicFiles.write([
            (w.at("q2.npy"), Npy.encode(q)), (w.at("k2.npy"), Npy.encode(NpyArray(shape: [6, 4], data: k.data))),
            (w.at("v2.npy"), Npy.encode(NpyArray(shape: [6, 3], data: v.data))),
            (w.at("do2.npy"), Npy.encode(NpyArray(shape: [5, 3], data: Array(Self.upstream.data[0..<15])))),
        ])
        let r = CLI.run([
            "attention", "--q", w.at("q2.npy"), "--k", w.at("k2.npy"), "--v", w.at("v2.npy"), "--out", w.at("o2.npy"),
            "--do", w.at("do2.npy"), "--dv", w.at("dv2.npy"),
        ])
        #expect(r.status == 0, "\(r.err)")
        let expected = try ReferenceGradients.backward(
            q: q.data, k: k.data, v: v.data, dO: Array(Self.upstream.data[0..<15]), shape: AttentionShape(nq: 5, nk: 6, d: 4, dv: 3))
        let dv = try AtomicFiles.readNpy(w.at("dv2.npy"))
        #expect(dv.shape == [6, 3] && dv.data == expected.dv)
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "do.npy", "q2.npy", "k2.npy", "v2.npy", "do2.npy", "o2.npy", "dv2.npy"])
    }

    @Test(arguments: ["--dq", "--dk", "--dv"])
    func aGradientOutputWithoutDoIsAUsageError(flag: String) throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let r = CLI.run(["attention"] + w.inputs + ["--out", w.at("o.npy"), flag, w.at("g.npy")])
        #expect(ExitCodes.oneLine(r, status: 64), "\(r.status) \(r.err)")
        #expect(r.err == "iosim: \(flag) needs --do, the gradient of the loss with respect to O (.npy, shaped as O)\n")
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "do.npy"])
    }

    @Test func doWithoutAGradientOutputIsAUsageError() throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let r = CLI.run(["attention"] + w.inputs + ["--out", w.at("o.npy"), "--do", w.at("do.npy")])
        #expect(ExitCodes.oneLine(r, status: 64), "\(r.status) \(r.err)")
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "do.npy"])
    }

    @Test(arguments: [[1, 2, 5, 4], [1, 2, 4, 3], [2, 5, 3], [1, 1, 5, 3]])
    func anUpstreamGradientNotShapedAsOIsRefusedWithNoOutputs(shape: [Int]) throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let count = shape.reduce(1, *)
        try AtomicFiles.write([(w.at("bad.npy"), Npy.encode(NpyArray(shape: shape, data: [Double](repeating: 1, count: count))))])
        var flags = Self.gradientFlags(w)
        flags[1] = w.at("bad.npy")
        let r = CLI.run(["attention"] + w.inputs + ["--out", w.at("o.npy")] + flags)
        #expect(ExitCodes.oneLine(r, status: 1), "\(r.status) \(r.err)")
        #expect(r.err == "iosim: do has shape \(shape) but O has shape [1, 2, 5, 3]; --do must be shaped as O\n")
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "do.npy", "bad.npy"])
    }

    @Test func aGradientOutputEqualToAnInputIsRefused() throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let before = ["q.npy", "k.npy", "v.npy", "do.npy"].map { w.bytes($0) }
        for (flag, input, inputFlag) in [("--dq", "q.npy", "--q"), ("--dk", "do.npy", "--do"), ("--dv", "v.npy", "--v")] {
            var flags = Self.gradientFlags(w)
            flags[flags.firstIndex(of: flag)! + 1] = w.dir + "/./" + input
            let r = CLI.run(["attention"] + w.inputs + ["--out", w.at("o.npy")] + flags)
            #expect(ExitCodes.oneLine(r, status: 1), "\(r.status) \(r.err)")
            #expect(r.err.contains("\(flag) is the same file as \(inputFlag)"), "\(r.err)")
        }
        // Two gradients into one file.
        var flags = Self.gradientFlags(w)
        flags[flags.firstIndex(of: "--dv")! + 1] = w.at("dk.npy")
        let twice = CLI.run(["attention"] + w.inputs + ["--out", w.at("o.npy")] + flags)
        #expect(ExitCodes.oneLine(twice, status: 1) && twice.err.contains("--dv is the same file as --dk"), "\(twice.err)")
        #expect(["q.npy", "k.npy", "v.npy", "do.npy"].map { w.bytes($0) } == before)
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "do.npy"])
    }

    @Test func aFailingGradientDestinationLeavesEveryOutputUntouched() throws {
        let w = try Self.workspace()
        defer { w.remove() }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: w.at("o.npy")))
        try FileManager.default.createDirectory(atPath: w.at("adir"), withIntermediateDirectories: false)
        var flags = Self.gradientFlags(w)
        flags[flags.firstIndex(of: "--dk")! + 1] = w.at("adir")
        let r = CLI.run(["attention"] + w.inputs + ["--out", w.at("o.npy")] + flags)
        #expect(ExitCodes.oneLine(r, status: 1), "\(r.status) \(r.err)")
        #expect(r.err == "iosim: \(w.at("adir")): is a folder; give a file name\n")
        #expect(w.bytes("o.npy") == Data([1, 2, 3]))
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "do.npy", "o.npy", "adir"], "no gradient and no temporary written")
    }

    @Test func theFlagsParse() throws {
        let w = try Self.workspace()
        defer { w.remove() }
        let command = try Attention.parse(w.inputs + ["--out", "o"] + Self.gradientFlags(w))
        #expect(command.upstream == w.at("do.npy") && command.gradientOutputs.map(\.flag) == ["--dq", "--dk", "--dv"])
    }
}
