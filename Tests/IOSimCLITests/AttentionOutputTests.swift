import AttentionReference
import Foundation
import NpyIO
import Testing

@testable import IOSimCLI

/// `iosim attention`'s outputs: all or none, never over an input, a device or a link.
@Suite struct AttentionOutputs {
    /// A scratch folder holding q.npy, k.npy and v.npy.
    struct Workspace {
        let dir: String
        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("iosim-out-\(UUID())").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try AtomicFiles.write([
                (at("q.npy"), Npy.encode(Self.q)), (at("k.npy"), Npy.encode(Self.k)),
                (at("v.npy"), Npy.encode(Self.v)),
            ])
        }
        static let q = NpyArray(shape: [1, 2, 5, 4], data: (0..<40).map { Double($0 % 7) / 7 })
        static let k = NpyArray(shape: [1, 1, 6, 4], data: (0..<24).map { Double($0 % 5) / 5 })
        static let v = NpyArray(shape: [1, 1, 6, 3], data: (0..<18).map { Double($0) })
        func at(_ name: String) -> String { dir + "/" + name }
        func remove() { try? FileManager.default.removeItem(atPath: dir) }
        var contents: Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []) }
        var inputs: [String] { ["--q", at("q.npy"), "--k", at("k.npy"), "--v", at("v.npy")] }
        func bytes(_ name: String) -> Data? { FileManager.default.contents(atPath: at(name)) }
    }

    /// Parses and runs `iosim attention` in this process; returns the error's one-line text, or nil.
    func attention(_ args: [String]) -> String? {
        do {
            let command = try Attention.parse(args)
            try command.run()
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Runs the built binary; returns (status, stdout bytes, stderr).
    func iosim(_ args: [String]) throws -> (Int32, Data, String) {
        let r = try Repo.execute(args)
        return (r.status, r.stdout, r.err)
    }

    func type(_ path: String) -> FileAttributeType? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
    }

    @Test func symlinkDestinationIsWrittenThroughAndStaysALink() throws {
        let w = try Workspace()
        defer { w.remove() }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: w.at("real.npy")))
        try FileManager.default.createSymbolicLink(atPath: w.at("o.npy"), withDestinationPath: "real.npy")
        #expect(attention(w.inputs + ["--out", w.at("o.npy")]) == nil)
        #expect(type(w.at("o.npy")) == .typeSymbolicLink)
        #expect(try AtomicFiles.readNpy(w.at("real.npy")).shape == [1, 2, 5, 3])
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "o.npy", "real.npy"])
    }

    @Test func characterDeviceDestinationIsNeverReplaced() throws {
        let w = try Workspace()
        defer { w.remove() }
        #expect(attention(w.inputs + ["--out", "/dev/null", "--lse", "/dev/null"]) == nil)
        #expect(type("/dev/null") == .typeCharacterSpecial)
        // /dev/full: one line on stderr, a non-zero exit, the device intact and the other output untouched.
        try Data([42]).write(to: URL(fileURLWithPath: w.at("l.npy")))
        let (status, _, err) = try iosim(["attention"] + w.inputs + ["--out", "/dev/full", "--lse", w.at("l.npy")])
        #expect(status != 0)
        #expect(err == "iosim: /dev/full: cannot be written: No space left on device\n")
        #expect(type("/dev/full") == .typeCharacterSpecial)
        #expect(w.bytes("l.npy") == Data([42]))
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "l.npy"])
    }

    @Test func standardOutputDestinationIsWrittenThrough() throws {
        let w = try Workspace()
        defer { w.remove() }
        let (status, out, err) = try iosim(["attention"] + w.inputs + ["--out", "/dev/stdout"])
        #expect(status == 0, "\(err)")
        #expect(try Npy.decode([UInt8](out)).shape == [1, 2, 5, 3])
    }

    @Test func failingSecondOutputLeavesFirstUntouched() throws {
        let w = try Workspace()
        defer { w.remove() }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: w.at("o.npy")))
        try FileManager.default.createDirectory(atPath: w.at("adir"), withIntermediateDirectories: false)
        let (status, _, err) = try iosim(["attention"] + w.inputs + ["--out", w.at("o.npy"), "--lse", w.at("adir")])
        #expect(status != 0)
        #expect(err == "iosim: \(w.at("adir")): is a folder; give a file name\n")
        #expect(w.bytes("o.npy") == Data([1, 2, 3]))
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "o.npy", "adir"], "no temporaries left")
    }

    @Test func sameDestinationTwiceIsRefused() throws {
        let w = try Workspace()
        defer { w.remove() }
        let message = attention(w.inputs + ["--out", w.at("same.npy"), "--lse", w.dir + "/./same.npy"])
        #expect(message == "\(w.dir)/./same.npy: --lse is the same file as --out (\(w.at("same.npy"))); give each output its own file")
        #expect(w.contents == ["q.npy", "k.npy", "v.npy"])
    }

    @Test func outputEqualToAnInputIsRefused() throws {
        let w = try Workspace()
        defer { w.remove() }
        let original = w.bytes("q.npy")
        try FileManager.default.linkItem(atPath: w.at("q.npy"), toPath: w.at("hard.npy"))
        try FileManager.default.createSymbolicLink(atPath: w.at("sym.npy"), withDestinationPath: "q.npy")
        for spelling in [w.at("q.npy"), w.dir + "/./q.npy", w.at("hard.npy"), w.at("sym.npy")] {
            let message = attention(w.inputs + ["--out", spelling])
            #expect(message == "\(spelling): --out is the same file as --q (\(w.at("q.npy"))); refusing to overwrite an input")
        }
        let lse = attention(w.inputs + ["--out", w.at("o.npy"), "--lse", w.at("v.npy")])
        #expect(lse?.contains("--lse is the same file as --v") == true)
        #expect(w.bytes("q.npy") == original)
        #expect(w.contents == ["q.npy", "k.npy", "v.npy", "hard.npy", "sym.npy"])
        // Through the binary, relative spelling included: one line and a non-zero exit.
        let proc = try iosim([
            "attention", "--q", w.at("q.npy"), "--k", w.at("k.npy"), "--v", w.at("v.npy"),
            "--out", w.dir + "/../" + URL(fileURLWithPath: w.dir).lastPathComponent + "/k.npy",
        ])
        #expect(proc.0 != 0 && proc.2.hasPrefix("iosim: ") && proc.2.split(separator: "\n").count == 1, "\(proc.2)")
        #expect(proc.2.contains("--out is the same file as --k"))
    }

    @Test func negativeScaleIsAccepted() throws {
        let w = try Workspace()
        defer { w.remove() }
        #expect(try Attention.parse(w.inputs + ["--out", "o", "--scale", "-1"]).scale == -1)
        #expect(try Attention.parse(w.inputs + ["--out", "o", "--scale=-0.5"]).scale == -0.5)
        let (status, _, err) = try iosim(["attention"] + w.inputs + ["--scale", "-1", "--out", w.at("o.npy")])
        #expect(status == 0, "\(err)")
        let expected = try ReferenceAttention.forward(
            q: Workspace.q.data, k: Workspace.k.data, v: Workspace.v.data,
            shape: AttentionShape(batch: 1, heads: 2, kvHeads: 1, nq: 5, nk: 6, d: 4, dv: 3), scale: -1)
        #expect(try AtomicFiles.readNpy(w.at("o.npy")).data == expected.o)
        let missing = try iosim(["attention"] + w.inputs + ["--out", w.at("o.npy"), "--scale"])
        #expect(missing.0 != 0 && missing.2.split(separator: "\n").count == 1)
    }
}
