import AttentionReference
import Foundation
import NpyIO
import TestSupport
import Testing

/// Reports/gpu/recordings/manifest.json: the CUDA kernel runs recorded on the GPU.
struct RecordingManifest: Decodable, Sendable {
    var recordings: [Recording]
    /// Files every kernel includes, with their SHA-256.
    var sharedSources: [String: String]

    enum CodingKeys: String, CodingKey {
        case recordings
        case sharedSources = "shared_sources"
    }

    static let folder = Repo.gpuReports.appendingPathComponent("recordings")

    /// Read once; a malformed manifest fails every test that reads it, with the file and key.
    static let loaded = Result { try decodeJSON(RecordingManifest.self, from: folder.appendingPathComponent("manifest.json")) }
}

/// One recorded CUDA kernel run. Optional keys: `Nk` and `kv_heads` (keys per sequence and K/V
/// heads, default N and H), `alignment` of the causal mask (`top-left`, the default, or
/// `bottom-right`), `dq`, `dk`, `dv` (a backward kernel's gradients, all three or none),
/// `depends` (other sources the outputs come from, with their SHA-256), `inputs` (`q`, `k`, `v`:
/// the dequantized inputs an fp8 kernel computed with; present exactly for dtype fp8) and fa2's masks:
/// `documents` (varlen over documents of these lengths) or `block_mask` with `mask_block` [Bq, Bk]
/// (a block-sparse run's uint8 [heads, rows, cols] mask; partial blocks take the causal mask).

struct Recording: Decodable, CustomTestStringConvertible, Sendable {
    var name, kernel, dtype, source, sha256, o, lse: String
    var b, h, n, d, seed: Int
    var nk, kvHeads: Int
    var causal: Bool
    var alignment: CausalAlignment
    var qChecksum: Double
    var precision: Precision
    /// The gradient files (dQ, dK, dV), for a backward kernel.
    var gradientFiles: [String]?
    /// The dequantized Q, K, V files of an fp8 recording.
    var inputFiles: [String]?
    var depends: [String: String]
    /// Varlen documents (empty: one sequence of N).
    var documents: [Int]
    /// A block-sparse run's mask file and its blocks (Bq, Bk).
    var blockMaskFile: String?
    var maskBlock: [Int]?
    var testDescription: String { name }

    enum CodingKeys: String, CodingKey {
        case name, kernel, dtype, source, sha256, o, lse, seed, causal, alignment, dq, dk, dv, depends, inputs, documents
        case b = "B", h = "H", n = "N", d = "D", nk = "Nk", kvHeads = "kv_heads", qChecksum = "q_checksum"
        case blockMaskFile = "block_mask", maskBlock = "mask_block"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        (name, kernel, dtype) = try (
            c.decode(String.self, forKey: .name), c.decode(String.self, forKey: .kernel),
            c.decode(String.self, forKey: .dtype)
        )
        (source, sha256) = try (c.decode(String.self, forKey: .source), c.decode(String.self, forKey: .sha256))
        (o, lse) = try (c.decode(String.self, forKey: .o), c.decode(String.self, forKey: .lse))
        (b, h, n, d) = try (
            c.decode(Int.self, forKey: .b), c.decode(Int.self, forKey: .h), c.decode(Int.self, forKey: .n),
            c.decode(Int.self, forKey: .d)
        )
        (seed, causal) = try (c.decode(Int.self, forKey: .seed), c.decode(Bool.self, forKey: .causal))
        nk = try c.decodeIfPresent(Int.self, forKey: .nk) ?? n
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads) ?? h
        switch try c.decodeIfPresent(String.self, forKey: .alignment) ?? "top-left" {
        case "top-left": alignment = .topLeft
        case "bottom-right": alignment = .bottomRight
        case let other:
            throw DecodingError.dataCorruptedError(forKey: .alignment, in: c, debugDescription: "'\(other)' is not top-left or bottom-right")
        }
        let grads = try [CodingKeys.dq, .dk, .dv].compactMap { try c.decodeIfPresent(String.self, forKey: $0) }
        guard grads.isEmpty || grads.count == 3 else {
            throw DecodingError.dataCorruptedError(forKey: .dq, in: c, debugDescription: "dq, dk, dv: all three or none")
        }
        gradientFiles = grads.isEmpty ? nil : grads
        depends = try c.decodeIfPresent([String: String].self, forKey: .depends) ?? [:]
        documents = try c.decodeIfPresent([Int].self, forKey: .documents) ?? []
        (blockMaskFile, maskBlock) = try (
            c.decodeIfPresent(String.self, forKey: .blockMaskFile), c.decodeIfPresent([Int].self, forKey: .maskBlock)
        )
        guard (blockMaskFile == nil) == (maskBlock == nil), maskBlock.map({ $0.count == 2 }) ?? true else {
            throw DecodingError.dataCorruptedError(forKey: .maskBlock, in: c, debugDescription: "block_mask and mask_block [Bq, Bk]: both or neither")
        }
        guard documents.isEmpty || documents.reduce(0, +) == n else {
            throw DecodingError.dataCorruptedError(forKey: .documents, in: c, debugDescription: "documents must sum to N")
        }
        // Kept as the driver printed it (%.17g), since JSON number parsing may be off by an ulp.
        let checksum = try c.decode(String.self, forKey: .qChecksum)
        guard let q = Double(checksum) else {
            throw DecodingError.dataCorruptedError(forKey: .qChecksum, in: c, debugDescription: "'\(checksum)' is not a number")
        }
        qChecksum = q
        // fp8 is e4m3 (fa3_fp8.cuh), with a bf16 output as the reference's fp8 precision has it.
        switch dtype {
        case "fp16": precision = .fp16
        case "bf16": precision = .bf16
        case "fp8": precision = .fp8e4m3
        default:
            throw DecodingError.dataCorruptedError(forKey: .dtype, in: c, debugDescription: "'\(dtype)' is not fp16, bf16 or fp8")
        }
        let files = try c.decodeIfPresent([String: String].self, forKey: .inputs)
        inputFiles = try files.map { f in
            guard let q = f["q"], let k = f["k"], let v = f["v"], f.count == 3 else {
                throw DecodingError.dataCorruptedError(forKey: .inputs, in: c, debugDescription: "inputs: q, k, v")
            }
            return [q, k, v]
        }
        guard (inputFiles != nil) == (precision == .fp8e4m3) else {
            throw DecodingError.dataCorruptedError(forKey: .inputs, in: c, debugDescription: "inputs: for fp8 recordings, and only those")
        }
    }

    static func all() throws -> [Recording] { try RecordingManifest.loaded.get().recordings }

    var shape: AttentionShape { AttentionShape(batch: b, heads: h, kvHeads: kvHeads, nq: n, nk: nk, d: d) }
    /// The mask the kernel computed: causal or none, inside each document (varlen) or inside the
    /// partial blocks of the recorded block mask.
    func mask() throws -> AttentionMask {
        let base: AttentionMask = causal ? .causal(alignment) : .none
        if !documents.isEmpty { return .structured(StructuredMask(base: base, documents: documents)) }
        guard let file = blockMaskFile, let blocks = maskBlock else { return base }
        let array = try NpyIntegers.decode(try AtomicFiles.read(RecordingManifest.folder.appendingPathComponent(file).path))
        let (rows, cols) = ((n + blocks[0] - 1) / blocks[0], (nk + blocks[1] - 1) / blocks[1])
        guard array.shape.count == 3, array.shape[1] == rows, array.shape[2] == cols, [1, h].contains(array.shape[0]) else {
            throw TestDataError("\(file): shape \(array.shape), expected [1 or \(h), \(rows), \(cols)]")
        }
        return .blockSparse(
            BlockMask(
                blockQ: blocks[0], blockK: blocks[1], rows: rows, cols: cols, batch: 1, heads: array.shape[0], queryHeads: h,
                values: array.values.map { UInt8(clamping: $0) }, inner: base))
    }

    /// The driver's inputs (Backends/CUDA/driver.cu): an MMIX LCG stream per tensor `t` (Q 0, K 1,
    /// V 2, dO 3), 20-bit fixed-point values in [-1, 1).
    func input(_ t: UInt64) -> [Double] {
        var g = SeededGenerator(seed: UInt64(seed) ^ (0x9E37_79B9_7F4A_7C15 &* (t + 1)), algorithm: .mmixLCG)
        let count = t == 1 ? shape.kCount : t == 2 ? shape.vCount : shape.qCount
        return (0..<count).map { _ in Double(Int64(g.next() >> 44) - 524_288) / 524_288 }
    }

    /// The driver's fp8 quantization of generated tensor `t` (fa3fp8::quantize, iosim's
    /// FP8Quantizer): per head, one power-of-two scale s = 2^⌈log₂(amax/448)⌉ per 128 rows, values
    /// s·e4m3(x/s).
    func quantized(_ t: UInt64) -> [Double] {
        let x = input(t), rows = t == 0 ? n : nk, block = 128 * d
        var out = x
        for lo in stride(from: 0, to: x.count, by: rows * d) {
            for start in stride(from: lo, to: lo + rows * d, by: block) {
                let range = start..<min(start + block, lo + rows * d)
                let amax = x[range].reduce(0) { max($0, abs($1)) }
                let s = amax > 0 ? Double.exp2(Double.log2(amax / 448).rounded(.up)) : 1
                for i in range { out[i] = Precision.fp8e4m3.round(x[i] / s) * s }
            }
        }
        return out
    }

    /// The Q, K, V the kernel computed with: the recorded dequantized inputs for fp8, else the
    /// generated values rounded to the dtype.
    func kernelInputs() throws -> (q: [Double], k: [Double], v: [Double]) {
        if let files = inputFiles { return (try read(files[0]), try read(files[1]), try read(files[2])) }
        return (precision.round(input(0)), precision.round(input(1)), precision.round(input(2)))
    }

    private func read(_ file: String) throws -> [Double] {
        try AtomicFiles.readNpy(RecordingManifest.folder.appendingPathComponent(file).path).data
    }

    func result() throws -> AttentionResult<Double> { AttentionResult(o: try read(o), lse: try read(lse)) }

    /// O (and LSE unless empty) under the rule of docs/numerics.md; fp8 on its recorded dequantized
    /// inputs, not rounded again (as iosim's fp8 data mode is checked).
    func check(_ candidate: AttentionResult<Double>) throws -> EquivalenceReport {
        let (q, k, v) = try kernelInputs()
        return try Equivalence.checkForward(
            candidate: candidate, q: q, k: k, v: v, shape: shape, mask: try mask(), precision: precision,
            roundInputs: false)
    }

    /// The recorded dQ, dK, dV (a backward kernel's recording).
    func gradients() throws -> AttentionGradients<Double> {
        guard let files = gradientFiles else { throw TestDataError("\(name) has no gradients") }
        return AttentionGradients(dq: try read(files[0]), dk: try read(files[1]), dv: try read(files[2]))
    }

    /// Gradients against the fp64 reference from Q, K, V, dO under the rule with rtol 3 (docs/numerics.md).
    func check(_ candidate: AttentionGradients<Double>) throws -> BackwardEquivalenceReport {
        try Equivalence.checkBackward(
            candidate: candidate, q: input(0), k: input(1), v: input(2), dO: input(3), shape: shape, mask: try mask(),
            precision: precision)
    }
}

/// The SHA-256 of a file of the repository, by `sha256sum`.
func sha256(_ relativePath: String) throws -> String {
    let r = try runTool("sha256sum", [Repo.path(relativePath)])
    guard r.status == 0 else { throw TestDataError("sha256sum \(relativePath): \(r.err)") }
    return String(r.out.prefix(64))
}

/// The CUDA kernels' recorded outputs against the reference, under the reference's tolerance rule.
@Suite struct CUDARecordings {
    @Test func everyKernelDtypeAndMaskIsRecorded() throws {
        let all = try Recording.all()
        for kernel in ["standard", "fa1", "fa2", "fa2-bwd", "fa3"] {
            for dtype in ["fp16", "bf16"] {
                for causal in [false, true] {
                    #expect(all.contains { $0.kernel == kernel && $0.dtype == dtype && $0.causal == causal }, "\(kernel) \(dtype) \(causal)")
                }
            }
        }
        // fa3 also in fp8 (e4m3, block scales: fa3_fp8.cuh), causal and not.
        for causal in [false, true] {
            #expect(all.contains { $0.kernel == "fa3" && $0.dtype == "fp8" && $0.causal == causal }, "fa3 fp8 \(causal)")
        }
        #expect(Set(all.filter { $0.dtype == "fp8" }.map(\.kernel)).isSubset(of: ["fa3"]), "only fa3 has an fp8 kernel")
        #expect(all.contains { $0.d == 80 } && all.contains { $0.n == 1 } && all.contains { $0.b > 1 })
        let backward = all.filter { $0.gradientFiles != nil }
        #expect(backward.contains { $0.n % 64 != 0 && $0.causal } && backward.contains { $0.b > 1 })
        #expect(Set(backward.map(\.kernel)) == ["fa2-bwd"], "only the backward kernel records gradients")
        // Decode kernels: both dtypes, grouped-query heads and several query rows against ragged caches.
        for kernel in ["split-kv", "paged-v1", "paged-v2"] {
            for dtype in ["fp16", "bf16"] {
                let runs = all.filter { $0.kernel == kernel && $0.dtype == dtype }
                #expect(runs.contains { $0.kvHeads < $0.h } && runs.contains { $0.n > 1 && $0.nk != $0.n }, "\(kernel) \(dtype)")
            }
        }
    }

    @Test(arguments: try Recording.all())
    func recordingMatchesTheReferenceUnderTheToleranceRule(r: Recording) throws {
        // The generator here and the driver's agree (checksum of the first 1000 rounded Q values;
        // fp8: of the first 1000 dequantized Q values, quantized here as the driver does).
        let fp8 = r.precision == .fp8e4m3
        let q = fp8 ? r.quantized(0) : r.precision.round(r.input(0))
        #expect(q.prefix(1000).reduce(0, +) == r.qChecksum)
        if fp8 {  // the recorded inputs are exactly this quantization of the generated ones
            let x = try r.kernelInputs()
            #expect(x.q == q && x.k == r.quantized(1) && x.v == r.quantized(2), "\(r.name): recorded fp8 inputs")
        }
        // Standard attention's LSE comes from S stored in the dtype (its first kernel writes S in
        // fp16/bf16), so it carries that rounding, ~1e-6 against the 1e-8 allowed for fp32
        // statistics; as in data mode, standard is checked on O only. fp8's LSE carries the fp8
        // tensor cores' reduced-precision accumulation of S (docs/numerics.md, "fp8 on the GPU"):
        // O here, the LSE against its own bound in fp8LSEIsWithinTheAccumulationBound.
        var out = try r.result()
        if r.kernel == "standard" || fp8 { out.lse = [] }
        let report = try r.check(out)
        #expect(report.passed, "\(r.name): \(report)")
        #expect((report.lse != nil) == (r.kernel != "standard" && !fp8))
    }

    /// fp8 LSE: S = scale·sq·sk·(Qq Kqᵀ) is accumulated by Hopper's fp8 tensor cores with about 14
    /// bits (DeepSeek-V3, arXiv:2412.19437, §3.3.2), so each of its ≤ d additions may err by
    /// u = 2⁻¹³ of a partial sum no larger than Σₖ|qₖkₖ| (the e4m3 products are exact), and
    /// |ΔS_ij| ≤ d·u·scale·Σₖ|q_ik k_jk| (the usual summation bound). The LSE moves by at most the
    /// largest |ΔS_ij| of its row (∂LSE/∂S_ij = P_ij ≥ 0, summing to 1), so each row's error must be
    /// within that bound over the row's visible keys plus the fp32 rule's allowance for the
    /// softmax. The fp32 rule alone fails here (docs/numerics.md, "fp8 on the GPU"). Every fp8
    /// recording is required by everyKernelDtypeAndMaskIsRecorded.
    @Test(arguments: try Recording.all().filter { $0.precision == .fp8e4m3 })
    func fp8LSEIsWithinTheAccumulationBound(r: Recording) throws {
        let (q, k, v) = try r.kernelInputs()
        let recorded = try r.result()
        let fp32Rule = try Equivalence.checkForward(
            candidate: recorded, q: q, k: k, v: v, shape: r.shape, mask: try r.mask(), precision: r.precision,
            roundInputs: false
        ).lse
        let rule = try #require(fp32Rule)
        let ref = try ReferenceAttention.forward(q: q, k: k, v: v, shape: r.shape, mask: try r.mask())
        let d = r.d, scale = 1 / Double(d).squareRoot(), u = 0x1p-13
        var worst = 0.0
        for row in 0..<(r.b * r.h * r.n) {
            let i = row % r.n, head = row / r.n
            let keys = r.causal ? 0...i : 0...(r.n - 1)  // fa3 fp8: Nk = N, top-left mask
            var magnitude = 0.0  // max over visible keys j of Σₖ |q_ik k_jk|
            for j in keys {
                var sum = 0.0
                for c in 0..<d { sum += abs(q[row * d + c] * k[(head * r.n + j) * d + c]) }
                magnitude = max(magnitude, sum)
            }
            let bound = Double(d) * u * scale * magnitude + rule.allowed
            let error = abs(recorded.lse[row] - ref.lse[row])
            worst = max(worst, error / bound)
            #expect(error <= bound, "\(r.name) row \(row): |LSE − ref| = \(error) > \(bound)")
        }
        // Reported so the margin is visible in the test log (the assertion is above).
        print("\(r.name): worst LSE error / bound = \(worst); fp32 rule alone: max|err| \(rule.maxAbsError), allowed \(rule.allowed)")
    }

    @Test(arguments: try Recording.all().filter { $0.gradientFiles != nil })
    func recordedGradientsMatchTheReferenceUnderTheToleranceRule(r: Recording) throws {
        let report = try r.check(try r.gradients())
        #expect(report.passed, "\(r.name): \(report)")
    }

    @Test func recordingsAreOfTheKernelSourcesInTheTree() throws {
        // A kernel edited after its recording makes its recordings stale: re-run Backends/CUDA/run_all.sh.
        for r in try Recording.all() {
            #expect(try sha256(r.source) == r.sha256, "\(r.name) is stale: \(r.source) changed")
            for (path, hash) in r.depends { #expect(try sha256(path) == hash, "\(r.name) is stale: \(path) changed") }
        }
        for (path, hash) in try RecordingManifest.loaded.get().sharedSources {
            #expect(try sha256(path) == hash, "\(path) changed since the recordings")
        }
    }

    /// fa2 fp16 and fa3 fp8 (whose O is bf16, checked on its recorded inputs), causal.
    static let perturbed =
        (try? Recording.all()).map { all in
            [all.first { $0.kernel == "fa2" && $0.dtype == "fp16" && $0.causal }, all.first { $0.dtype == "fp8" && $0.causal }]
                .compactMap { $0 }
        } ?? []

    @Test(arguments: perturbed)
    func aValueAFewUlpsBeyondTheAllowanceFails(r: Recording) throws {
        // Moving one recorded value by twice the allowance plus 4 ulps puts it at least 4 ulps
        // beyond the allowance, whichever side of the reference it was on (ulps of O's format).
        let format = BaselineAttention.outputPrecision(for: r.precision)
        var out = try r.result()
        if r.precision == .fp8e4m3 { out.lse = [] }
        let ok = try r.check(out)
        let i = ok.output.worstIndex
        out.o[i] += 2 * ok.output.allowed + 4 * format.ulp(at: out.o[i])
        let bad = try r.check(out)
        #expect(ok.passed && !bad.passed)
    }

    @Test func aGradientAFewUlpsBeyondTheAllowanceFails() throws {
        // The same for each gradient of a backward recording: one value of dQ, dK or dV moved
        // past its allowance fails the whole check.
        let r = try #require(try Recording.all().first { $0.gradientFiles != nil && $0.dtype == "fp16" && $0.causal })
        let recorded = try r.gradients()
        let ok = try r.check(recorded)
        #expect(ok.passed)
        for (path, comparison) in [(\AttentionGradients<Double>.dq, ok.dq), (\.dk, ok.dk), (\.dv, ok.dv)] {
            var g = recorded
            let i = comparison.worstIndex
            g[keyPath: path][i] += 2 * comparison.allowed + 4 * r.precision.ulp(at: g[keyPath: path][i])
            #expect(try !r.check(g).passed)
        }
    }
}
