import AttentionReference
import Foundation
import IOSim
import NpyIO
import Testing

@testable import IOSimCLI

/// `iosim check`: verdicts, locations, exit codes and bad input, on fp16 files like a kernel's.
@Suite struct CheckCommandTests {
    /// A folder of q, k, v (fp16) and a kernel's O and LSE: the fp64 reference rounded to fp16 and
    /// fp32 (what a correct fp16 kernel writes, up to its own rounding).
    struct Case {
        let folder: TemporaryFolder
        let shape: AttentionShape
        let lead: [Int]
        var o: [Double]
        var lse: [Double]

        init(_ shape: AttentionShape, rank: Int = 4, mask: AttentionMask = .none, seed: UInt64 = 7) throws {
            folder = try TemporaryFolder(prefix: "iosim-check")
            self.shape = shape
            lead = rank == 4 ? [shape.batch, shape.heads] : rank == 3 ? [shape.heads] : []
            let kvLead = rank == 4 ? [shape.batch, shape.kvHeads] : rank == 3 ? [shape.kvHeads] : []
            let (q, k, v) = roundedInputs(shape, seed: seed, .fp16)
            let ref = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: mask)
            (o, lse) = (Precision.fp16.round(ref.o), Precision.fp32.round(ref.lse))
            try write("q.npy", lead + [shape.nq, shape.d], q, .float16)
            try write("k.npy", kvLead + [shape.nk, shape.d], k, .float16)
            try write("v.npy", kvLead + [shape.nk, shape.dv], v, .float16)
            try writeOutputs()
        }

        func write(_ name: String, _ dims: [Int], _ data: [Double], _ dtype: NpyArray.DType) throws {
            try Data(Npy.encode(NpyArray(shape: dims, data: data, dtype: dtype))).write(to: URL(fileURLWithPath: folder.file(name)))
        }

        func writeOutputs() throws {
            try write("o.npy", lead + [shape.nq, shape.dv], o, .float16)
            try write("lse.npy", lead + [shape.nq], lse, .float32)
        }

        var files: [String] { ["--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--o", "o.npy", "--lse", "lse.npy"] }

        func run(_ extra: [String]) throws -> (status: Int32, out: String, err: String) {
            try Repo.run(["check"] + files + extra, in: folder.url)
        }

        func json(_ extra: [String]) throws -> (Int32, [String: Any]) {
            let r = try run(extra + ["--format", "json"])
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.err)")
            return (r.status, obj)
        }
    }

    static func tensors(_ obj: [String: Any]) -> [[String: Any]] { obj["tensors"] as? [[String: Any]] ?? [] }

    /// A kernel that computed a two-sided window (FlashAttention's window_size = (A, B)) passes
    /// with the same flags, and fails when checked as causal or with the window one key narrower:
    /// the check holds the kernel to exactly the mask it says it computed.
    @Test func aTwoSidedWindowIsCheckedAgainstExactlyThatWindow() throws {
        let c = try Case(
            AttentionShape(batch: 1, heads: 2, kvHeads: 2, nq: 150, nk: 200, d: 32), mask: .slidingWindow(left: 12, right: 7, alignment: .bottomRight)
        )
        defer { c.folder.remove() }
        let flags = ["--dtype", "fp16", "--window-left", "12", "--window-right", "7", "--block-rows", "32"]
        #expect(try c.run(flags).status == 0)
        #expect(try c.run(["--dtype", "fp16", "--causal"]).status == 1)
        #expect(try c.run(["--dtype", "fp16", "--window-left", "12", "--window-right", "6"]).status == 1)
        let bad = try c.run(["--dtype", "fp16", "--window", "4", "--window-right", "1"])
        #expect(bad.status == 2 && bad.err.hasPrefix("iosim: check: --window L is"), "\(bad.err)")
    }

    @Test func aCorrectFP16OutputPassesWithExitZeroInTableAndJSON() throws {
        let c = try Case(AttentionShape(batch: 2, heads: 4, kvHeads: 2, nq: 70, nk: 90, d: 40, dv: 24), mask: .causal(.bottomRight))
        defer { c.folder.remove() }
        let table = try c.run(["--dtype", "fp16", "--causal"])
        #expect(table.status == 0, "\(table.err)")
        #expect(table.out.contains("O ") && table.out.contains("LSE") && table.out.hasSuffix("PASS\n"))
        let (status, obj) = try c.json(["--dtype", "fp16", "--causal"])
        #expect(status == 0 && obj["passed"] as? Bool == true)
        let names = Self.tensors(obj).map { $0["name"] as? String }
        #expect(names == ["O", "LSE"])
        for t in Self.tensors(obj) {
            let (err, allowed) = (t["max_abs_error"] as! Double, t["allowed"] as! Double)
            #expect(err <= allowed && t["rtol"] as? Double == 2)
        }
    }

    @Test(arguments: [2, 3, 4])
    func aCorruptedElementFailsWithExitOneAtItsBatchHeadRowAndColumn(rank: Int) throws {
        let shape = AttentionShape(batch: rank == 4 ? 2 : 1, heads: rank == 2 ? 1 : 3, nq: 50, nk: 50, d: 32, dv: 16)
        var c = try Case(shape, rank: rank)
        defer { c.folder.remove() }
        let (b, h, row, col) = (shape.batch - 1, shape.heads - 1, 37, 11)
        c.o[((b * shape.heads + h) * shape.nq + row) * shape.dv + col] += 0.01
        c.lse[(b * shape.heads + h) * shape.nq + 5] -= 0.001
        try c.writeOutputs()
        let (status, obj) = try c.json(["--dtype", "fp16", "--block-rows", "32"])
        #expect(status == 1 && obj["passed"] as? Bool == false)
        let (o, lse) = (Self.tensors(obj)[0], Self.tensors(obj)[1])
        #expect(o["passed"] as? Bool == false)
        #expect(o["where"] as? [String: Int] == ["batch": b, "head": h, "row": row, "column": col])
        #expect(lse["passed"] as? Bool == false)
        #expect(lse["where"] as? [String: Int] == ["batch": b, "head": h, "row": 5])
        let table = try c.run(["--dtype", "fp16"])
        #expect(table.status == 1 && table.out.contains("(\(b), \(h), \(row), \(col))") && table.out.contains("FAIL"))
    }

    /// Blocks of 32 rows give exactly the verdict, errors, allowances and locations of one block
    /// per head, for masks whose blocks become windows and those that need a boolean mask.
    @Test(arguments: [
        AttentionMask.none, .causal(.bottomRight), .causal(.topLeft), .slidingWindow(left: 20, right: 0, alignment: .bottomRight),
    ])
    func checkingInBlocksGivesTheSameVerdictAndErrorsAsOneBlock(mask: AttentionMask) throws {
        // Nq > Nk: bottom-right causal leaves the first rows fully masked.
        let shape = AttentionShape(batch: 1, heads: 4, kvHeads: 2, nq: 150, nk: 110, d: 24, dv: 16)
        var c = try Case(shape, mask: mask)
        defer { c.folder.remove() }
        c.o[(2 * shape.nq + 100) * shape.dv + 3] += 3e-3
        try c.writeOutputs()
        func report(_ rows: Int) throws -> KernelOutputCheck.Report {
            let f = { (name: String) in try NpyFile(path: c.folder.file(name)) }
            let files = KernelOutputCheck.Files(q: try f("q.npy"), k: try f("k.npy"), v: try f("v.npy"), o: try f("o.npy"), lse: try f("lse.npy"))
            return try KernelOutputCheck(files: files, dtype: .fp16, mask: mask, scale: nil, blockRows: rows).run()
        }
        let (whole, blocked) = (try report(1 << 20), try report(32))
        #expect(whole.blockRows == 160 && blocked.blockRows == 32)
        #expect(whole.tensors == blocked.tensors)
        #expect(whole.passed == blocked.passed)
    }

    @Test func theBlockMaskGivesEveryRowItsColumnsInTheWholeProblem() throws {
        let c = try Case(AttentionShape(nq: 200, nk: 64, d: 8))
        defer { c.folder.remove() }
        let f = { (name: String) in try NpyFile(path: c.folder.file(name)) }
        let files = KernelOutputCheck.Files(q: try f("q.npy"), k: try f("k.npy"), v: try f("v.npy"), o: try f("o.npy"))
        for mask in [AttentionMask.causal(.bottomRight), .causal(.topLeft), .slidingWindow(left: 9, right: 0, alignment: .bottomRight)] {
            let check = try KernelOutputCheck(files: files, dtype: .fp16, mask: mask, scale: nil, blockRows: 32)
            for r0 in stride(from: 0, to: 200, by: 32) {
                let n = min(32, 200 - r0)
                let m = check.blockMask(r0: r0, c: n)
                for i in 0..<n {
                    let want = mask.columnRange(row: r0 + i, nq: 200, nk: 64)!
                    if case let .boolean(keep) = m {
                        #expect((0..<64).filter { keep[i * 64 + $0] } == Array(want))
                    } else {
                        #expect(m.columnRange(row: i, nq: n, nk: 64) == want, "\(mask) row \(r0 + i)")
                    }
                }
            }
        }
    }

    @Test func bfloat16FilesAreReadAsRawBitsOnlyWithTheFlag() throws {
        let shape = AttentionShape(heads: 2, nq: 40, nk: 40, d: 16)
        let c = try Case(shape, rank: 3)
        defer { c.folder.remove() }
        let (q, k, v) = roundedInputs(shape, seed: 7, .bf16)
        let ref = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape)
        try c.write("q.npy", [2, 40, 16], q, .bfloat16)
        try c.write("k.npy", [2, 40, 16], k, .bfloat16)
        try c.write("v.npy", [2, 40, 16], v, .bfloat16)
        try c.write("o.npy", [2, 40, 16], Precision.bf16.round(ref.o), .bfloat16)
        try c.write("lse.npy", [2, 40], Precision.fp32.round(ref.lse), .float32)
        let refused = try c.run(["--dtype", "bf16"])
        #expect(refused.status == 2 && refused.err.contains("--bf16-bits") && refused.err.split(separator: "\n").count == 1)
        let r = try c.run(["--dtype", "bf16", "--bf16-bits"])
        #expect(r.status == 0, "\(r.out)\(r.err)")
    }

    @Test(arguments: [
        (["--dtype", "fp16", "--o", "q.npy"], "o has shape"),
        (["--dtype", "fp16", "--v", "q.npy"], "k has 12 rows (Nk) but v has 20"),
        (["--dtype", "fp16", "--lse", "o.npy"], "lse has shape"),
        (["--causal"], "--dtype is required"),
        (["--dtype", "fp12"], "The value 'fp12' is invalid for '--dtype <dtype>'"),
        (["--dtype", "fp32"], "narrower than the float32 O"),
        (["--dtype", "fp16", "--k", "missing.npy"], "missing.npy: no such file"),
        (["--dtype", "fp16", "--window", "0"], "--window must be a positive integer"),
        (["--dtype", "fp16", "--scale", "nan"], "--scale must be a finite number"),
        (["--dtype", "fp16", "--alignment", "middle"], "The value 'middle' is invalid for '--alignment <alignment>'"),
        (["--dtype", "fp16", "--format", "xml"], "The value 'xml' is invalid for '--format <format>'"),
        (["--dtype", "fp16", "--fp8-bits", "e3m4"], "unknown --fp8-bits 'e3m4'"),
        (["--dtype", "fp16", "--frobnicate"], "Unknown option '--frobnicate'"),
        // The parser's own refusals are bad input too (exit 2), not its usage exit.
        (["--dtype"], "Missing value for '--dtype <dtype>'"),
        (["--dtype", "fp16", "--block-rows", "many"], "The value 'many' is invalid for '--block-rows <R>'"),
    ])
    func badInputExitsTwoWithOneLine(extra: [String], message: String) throws {
        let c = try Case(AttentionShape(batch: 1, heads: 3, kvHeads: 3, nq: 20, nk: 12, d: 8, dv: 4))
        defer { c.folder.remove() }
        // A later flag wins, so `extra` can replace one of the files.
        let r = try c.run(extra)
        #expect(r.status == 2, "\(extra): \(r.err)")
        #expect(r.err.hasPrefix("iosim: check: ") && r.err.contains(message), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1 && r.out.isEmpty)
    }

    @Test func q3DWithK2DIsAShapeMismatch() throws {
        let c = try Case(AttentionShape(heads: 2, nq: 10, nk: 10, d: 4), rank: 3)
        defer { c.folder.remove() }
        try c.write("k.npy", [10, 4], [Double](repeating: 0, count: 40), .float16)
        let r = try c.run(["--dtype", "fp16"])
        #expect(r.status == 2 && r.err.contains("same number of dimensions"))
    }

    /// A case with the backward's files: dO, and dQ, dK, dV of a perfect fp16 kernel (the
    /// reference gradients rounded to fp16).
    static func gradientCase(_ shape: AttentionShape, mask: AttentionMask) throws -> (Case, AttentionGradients<Double>) {
        let c = try Case(shape, mask: mask)
        let (q, k, v) = roundedInputs(shape, seed: 7, .fp16)
        let dO = Precision.fp16.round(randomArray(shape.oCount, seed: 99))
        let g = try ReferenceGradients.backward(q: q, k: k, v: v, dO: dO, shape: shape, mask: mask)
        try c.write("do.npy", [shape.batch, shape.heads, shape.nq, shape.dv], dO, .float16)
        try c.write("dq.npy", [shape.batch, shape.heads, shape.nq, shape.d], Precision.fp16.round(g.dq), .float16)
        try c.write("dk.npy", [shape.batch, shape.kvHeads, shape.nk, shape.d], Precision.fp16.round(g.dk), .float16)
        try c.write("dv.npy", [shape.batch, shape.kvHeads, shape.nk, shape.dv], Precision.fp16.round(g.dv), .float16)
        return (c, g)
    }

    static let gradientFiles = ["--do", "do.npy", "--dq", "dq.npy", "--dk", "dk.npy", "--dv", "dv.npy"]

    @Test func correctGradientsPassAndACorruptedDKFailsAtItsKVHeadRowAndColumn() throws {
        let shape = AttentionShape(batch: 2, heads: 4, kvHeads: 2, nq: 40, nk: 56, d: 16, dv: 8)
        let (c, g) = try Self.gradientCase(shape, mask: .causal(.bottomRight))
        defer { c.folder.remove() }
        let (status, obj) = try c.json(["--dtype", "fp16", "--causal"] + Self.gradientFiles)
        #expect(status == 0, "\(obj)")
        #expect(Self.tensors(obj).map { $0["name"] as? String } == ["O", "LSE", "dQ", "dK", "dV"])
        #expect(Self.tensors(obj).suffix(3).allSatisfy { $0["rtol"] as? Double == 3 })
        var dk = Precision.fp16.round(g.dk)
        let head = (1 * shape.kvHeads + 1) * shape.nk
        dk[(head + 50) * shape.d + 9] += 0.5
        try c.write("dk.npy", [shape.batch, shape.kvHeads, shape.nk, shape.d], dk, .float16)
        let (failed, report) = try c.json(["--dtype", "fp16", "--causal"] + Self.gradientFiles)
        #expect(failed == 1)
        let t = try #require(Self.tensors(report).first { $0["name"] as? String == "dK" })
        #expect(t["passed"] as? Bool == false && t["where"] as? [String: Int] == ["batch": 1, "head": 1, "row": 50, "column": 9])
    }

    @Test func gradientsWithoutTheUpstreamGradientAreBadInput() throws {
        let (c, _) = try Self.gradientCase(AttentionShape(nq: 20, nk: 20, d: 8), mask: .none)
        defer { c.folder.remove() }
        let r = try c.run(["--dtype", "fp16", "--dq", "dq.npy"])
        #expect(r.status == 2 && r.err.contains("--dq needs --do"))
        let shapes = try c.run(["--dtype", "fp16", "--do", "do.npy", "--dk", "lse.npy"])
        #expect(shapes.status == 2 && shapes.err.contains("dk has shape"))
    }

    @Test func helpMatchesItsSnapshotAndNamesTheExitCodes() throws {
        let r = CLI.run(["check", "--help"])
        #expect(r.status == 0)
        #expect(r.out.contains("0   every tensor passes") && r.out.contains("2   bad input"))
        try Snapshots.check("help-check.txt", r.out)
    }
}

/// Q, K and V of `shape` from `seed`, rounded to `precision` (the kernel's inputs).
func roundedInputs(_ shape: AttentionShape, seed: UInt64, _ precision: Precision) -> (q: [Double], k: [Double], v: [Double]) {
    let (q, k, v) = AttentionInputs(shape, seed: seed).qkv
    return (precision.round(q), precision.round(k), precision.round(v))
}
