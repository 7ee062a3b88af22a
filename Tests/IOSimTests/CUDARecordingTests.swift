import AttentionReference
import Foundation
import NpyIO
import Testing

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// One recorded CUDA kernel run (Reports/gpu/recordings/manifest.json).
struct Recording: CustomTestStringConvertible, Sendable {
    var name, kernel, dtype, source, sha256, o, lse: String
    var b, h, n, d, seed: Int
    var causal: Bool
    var qChecksum: Double
    var testDescription: String { name }

    static let folder = repositoryRoot.appendingPathComponent("Reports/gpu/recordings")

    static func manifest() throws -> [String: Any] {
        let data = try Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static let all: [Recording] = {
        guard let m = try? manifest(), let list = m["recordings"] as? [[String: Any]] else { return [] }
        return list.map { r in
            Recording(name: r["name"] as! String, kernel: r["kernel"] as! String, dtype: r["dtype"] as! String,
                      source: r["source"] as! String, sha256: r["sha256"] as! String, o: r["o"] as! String,
                      lse: r["lse"] as! String, b: r["B"] as! Int, h: r["H"] as! Int, n: r["N"] as! Int,
                      d: r["D"] as! Int, seed: r["seed"] as! Int, causal: r["causal"] as! Bool,
                      qChecksum: Double(r["q_checksum"] as! String)!)
        }
    }()

    var precision: Precision { dtype == "fp16" ? .fp16 : .bf16 }
    var shape: AttentionShape { AttentionShape(batch: b, heads: h, nq: n, d: d) }

    /// The driver's input generator (Backends/CUDA/driver.cu): a 64-bit LCG per tensor, 20-bit
    /// fixed-point values in [-1, 1).
    func input(_ t: UInt64) -> [Double] {
        var x = UInt64(seed) ^ (0x9E37_79B9_7F4A_7C15 &* (t + 1))
        return (0..<b * h * n * d).map { _ in
            x = x &* 6364136223846793005 &+ 1442695040888963407
            return Double(Int64(x >> 44) - 524_288) / 524_288
        }
    }

    func result() throws -> AttentionResult<Double> {
        AttentionResult(o: try AtomicFiles.readNpy(Self.folder.appendingPathComponent(o).path).data,
                        lse: try AtomicFiles.readNpy(Self.folder.appendingPathComponent(lse).path).data)
    }

    func check(_ candidate: AttentionResult<Double>) throws -> EquivalenceReport {
        try Equivalence.checkForward(candidate: candidate, q: input(0), k: input(1), v: input(2), shape: shape,
                                     mask: causal ? .causal(.topLeft) : .none, precision: precision)
    }
}

func sha256(_ path: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["sha256sum", repositoryRoot.appendingPathComponent(path).path]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return String(out.prefix(64))
}

@Suite struct CUDARecordings {
    @Test func everyKernelDtypeAndMaskIsRecorded() throws {
        let all = Recording.all
        for kernel in ["standard", "fa1", "fa2"] { for dtype in ["fp16", "bf16"] { for causal in [false, true] {
            #expect(all.contains { $0.kernel == kernel && $0.dtype == dtype && $0.causal == causal }, "\(kernel) \(dtype) \(causal)")
        } } }
        #expect(all.contains { $0.d == 80 } && all.contains { $0.n == 1 } && all.contains { $0.b > 1 })
    }

    @Test(arguments: Recording.all)
    func recordingMatchesTheReferenceUnderTheToleranceRule(r: Recording) throws {
        // The generator here and the driver's agree (checksum of the first 1000 rounded Q values,
        // kept as the driver printed it, %.17g, since JSON number parsing may be off by an ulp).
        let q = r.precision.round(r.input(0))
        #expect(q.prefix(1000).reduce(0, +) == r.qChecksum)
        // Standard attention's LSE comes from S stored in the dtype (its first kernel writes S in
        // fp16/bf16), so it carries that rounding, ~1e-6 against the 1e-8 allowed for fp32
        // statistics; as in data mode, standard is checked on O only.
        var out = try r.result()
        if r.kernel == "standard" { out.lse = [] }
        let report = try r.check(out)
        #expect(report.passed, "\(r.name): \(report)")
        #expect((report.lse != nil) == (r.kernel != "standard"))
    }

    @Test func recordingsAreOfTheKernelSourcesInTheTree() throws {
        // A kernel edited after its recording makes its recordings stale: re-run Backends/CUDA/run_all.sh.
        for r in Recording.all { #expect(try sha256(r.source) == r.sha256, "\(r.name) is stale: \(r.source) changed") }
        let shared = try #require(try Recording.manifest()["shared_sources"] as? [String: String])
        for (path, hash) in shared { #expect(try sha256(path) == hash, "\(path) changed since the recordings") }
    }

    @Test func aValueAFewUlpsBeyondTheAllowanceFails() throws {
        // Moving one recorded value by twice the allowance plus 4 ulps puts it at least 4 ulps
        // beyond the allowance, whichever side of the reference it was on.
        let r = try #require(Recording.all.first { $0.kernel == "fa2" && $0.dtype == "fp16" && $0.causal })
        var out = try r.result()
        let ok = try r.check(out)
        let i = ok.output.worstIndex
        out.o[i] += 2 * ok.output.allowed + 4 * r.precision.ulp(at: out.o[i])
        let bad = try r.check(out)
        #expect(ok.passed && !bad.passed)
    }
}
