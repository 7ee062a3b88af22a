import Foundation
import IOSimCore
import IOSimFormats

/// A GPU as the time estimate sees it (a `Models/hardware/*.json` file). Every number carries its
/// source in the file's `sources` object.
public struct HardwareModel: Sendable, Equatable {
    public var name: String
    public var sms: Int
    /// Shared memory per SM, and the most one thread block may use.
    public var smemPerSM: Int
    public var smemPerBlock: Int
    public var registersPerSM: Int
    /// Slow-memory (HBM or GDDR) bandwidth, bytes/s.
    public var hbmBandwidth: Double
    public var l2Bytes: Int
    /// Dense tensor-core throughput with fp32 accumulation, FLOP/s; nil where the GPU has none.
    public var tensorFlops: [DType: Double]
    /// fp16/bf16 throughput of the warp-level `mma.sync` instruction where it is below the
    /// datasheet rate (Hopper, whose peak needs warpgroup `wgmma`); nil where it is the same.
    public var mmaSyncFlops: Double?
    /// Special-function (exp2) results per clock per SM.
    public var expPerClockPerSM: Double
    /// fp32 add/multiply/FMA results per clock per SM (the softmax's other arithmetic).
    public var fp32PerClockPerSM: Double
    public var clockHz: Double
    /// Measured dependent-load latencies, seconds (the optional `latency_l1_hit_s`,
    /// `latency_l2_hit_s`, `latency_dram_s`; nil when the file has none). The paged time model
    /// charges an exposed block-table lookup one L2-hit latency (docs/time-model.md); without
    /// `latency_l2_hit_s` paged estimates have no lookup term.
    public var latencies: Latencies?
    /// Measured round trips of whole tiles (``TileBursts``; nil when the file has none): the time
    /// estimate of an unpipelined kernel (`--stages 1`) counts one per dependent tile load.
    public var tileBursts: TileBursts?
    /// Measured latencies of an mma.sync CTA's chain between two tile loads (``MMASyncChain``; nil
    /// when the file has none): with ``tileBursts``, the arithmetic of an unpipelined CTA.
    public var mmaSyncChain: MMASyncChain?
    /// Whether the GPU has warpgroup MMAs (`wgmma`) and the tensor memory accelerator (bulk tensor
    /// copies): sm_90a, the Hopper SM. FA3-style kernels need both; without them fa3 has no time
    /// estimate (the `has_wgmma_tma` field).
    public var hasWgmmaTMA: Bool
    /// fa3's pipeline quantities (``WarpgroupPipeline``), measured; present exactly when ``hasWgmmaTMA``.
    public var warpgroupPipeline: WarpgroupPipeline?

    /// One thread's dependent-load latency at each level (a pointer chase over a random cycle).
    public struct Latencies: Sendable, Equatable {
        public var l1Hit: Double
        public var l2Hit: Double
        public var dram: Double

        public init(l1Hit: Double, l2Hit: Double, dram: Double) { (self.l1Hit, self.l2Hit, self.dram) = (l1Hit, l2Hit, dram) }
    }

    /// M for a thread block on this GPU: its shared memory plus the SM's register file, since M
    /// counts everything a schedule keeps on chip (docs/counting-rules.md §1) — FA kernels keep S/P and the O
    /// accumulator in registers.
    public var onChipPerBlock: Int { smemPerBlock + registersPerSM }

    /// Exponentials per second on one SM.
    public var expRatePerSM: Double { expPerClockPerSM * clockHz }
    /// fp32 operations per second on one SM.
    public var fp32RatePerSM: Double { fp32PerClockPerSM * clockHz }

    /// Optional fields: the three latencies, all or none.
    package static let latencyFields = ["latency_l1_hit_s", "latency_l2_hit_s", "latency_dram_s"]

    package static let fields = [
        "name", "sms", "smem_per_sm_bytes", "smem_per_block_bytes", "registers_per_sm_bytes",
        "hbm_bandwidth_bytes_per_s", "l2_bytes", "tensor_flops_fp16", "tensor_flops_bf16",
        "tensor_flops_fp8", "tensor_flops_mma_sync", "exp_per_clock_per_sm", "fp32_per_clock_per_sm", "clock_hz",
        "has_wgmma_tma", "sources",
    ]

    /// Largest values a hardware file may give: far above any GPU, low enough that the time
    /// estimate's per-SM arrays and products stay small and finite.
    package enum Range {
        package static let sms = 65_536
        static let bytes = 1 << 40
        static let rate = 1e19
        static let perClock = 1e6
        static let clock = 1e11
        static let latency = 1.0
        /// Smallest values: below these no GPU was ever built, and the time estimate's quotients
        /// would leave the finite range.
        static let minRate = 1e3
        static let minPerClock = 1e-6
        static let minClock = 1e3
        static let minLatency = 1e-12
    }

    /// Parses a hardware file; every field must be present (`tensor_flops_fp8` may be null) and
    /// every number positive and physically possible (``Range``). Every error in the file is
    /// reported at once (``ModelError/several(path:_:)``), not one per run.
    public init(json data: Data, path: String) throws(ModelError) {
        let o = try ModelFile.object(data, path: path, fields: [])
        var e = FieldErrors(path: path)
        let missing = Self.fields.filter { o[$0] == nil }
        e.errors += missing.map { ModelError.missingField(path: path, field: $0) }
        func present(_ f: String) -> Bool { !missing.contains(f) }
        name = present("name") ? e.read("?") { () throws(ModelError) in try ModelFile.string(o, "name", path) } : "?"
        func int(_ f: String, _ max: Int) -> Int {
            present(f) ? e.read(1) { () throws(ModelError) in try ModelFile.int(o, f, path, max: max) } : 1
        }
        func number(_ f: String, _ min: Double, _ max: Double, nullable: Bool = false) -> Double? {
            present(f) ? e.read(1) { () throws(ModelError) in try ModelFile.number(o, f, path, min: min, max: max, nullable: nullable) } : 1
        }
        sms = int("sms", Range.sms)
        smemPerSM = int("smem_per_sm_bytes", Range.bytes)
        smemPerBlock = int("smem_per_block_bytes", Range.bytes)
        registersPerSM = int("registers_per_sm_bytes", Range.bytes)
        hbmBandwidth = number("hbm_bandwidth_bytes_per_s", Range.minRate, Range.rate)!
        l2Bytes = int("l2_bytes", Range.bytes)
        tensorFlops = [
            .fp16: number("tensor_flops_fp16", Range.minRate, Range.rate)!,
            .bf16: number("tensor_flops_bf16", Range.minRate, Range.rate)!,
        ]
        tensorFlops[.fp8] = number("tensor_flops_fp8", Range.minRate, Range.rate, nullable: true)
        mmaSyncFlops = number("tensor_flops_mma_sync", Range.minRate, Range.rate, nullable: true)
        expPerClockPerSM = number("exp_per_clock_per_sm", Range.minPerClock, Range.perClock)!
        fp32PerClockPerSM = number("fp32_per_clock_per_sm", Range.minPerClock, Range.perClock)!
        clockHz = number("clock_hz", Range.minClock, Range.clock)!
        latencies = e.read(nil) { () throws(ModelError) in try Self.latencies(o, path) }
        tileBursts = e.read(nil) { () throws(ModelError) in try TileBursts.parse(o, path) }
        mmaSyncChain = e.read(nil) { () throws(ModelError) in try MMASyncChain.parse(o, path) }
        var wgmma: Bool?
        if case let .bool(b) = o["has_wgmma_tma"] {
            wgmma = b
        } else if present("has_wgmma_tma") {
            e.errors.append(.wrongType(path: path, field: "has_wgmma_tma", expected: "true or false" + ModelFile.got(o["has_wgmma_tma"])))
        }
        hasWgmmaTMA = wgmma ?? false
        // The pipeline fields are checked against has_wgmma_tma only when it could be read (an
        // unreadable flag would make every one of them a second, misleading error).
        warpgroupPipeline = wgmma.flatMap { w in e.read(nil) { () throws(ModelError) in try Self.warpgroupPipeline(o, path, required: w) } }
        if present("sources"), o["sources"].map({ if case .object = $0 { false } else { true } }) ?? true {
            e.errors.append(.wrongType(path: path, field: "sources", expected: "an object"))
        }
        // Compared only when both were read: a broken one would make a second, false error.
        let broken = Set(e.errors.compactMap(\.field))
        if present("smem_per_sm_bytes"), present("smem_per_block_bytes"), broken.isDisjoint(with: ["smem_per_sm_bytes", "smem_per_block_bytes"]),
            smemPerBlock > smemPerSM
        {
            e.errors.append(
                .wrongType(
                    path: path, field: "smem_per_block_bytes",
                    expected: "at most 'smem_per_sm_bytes' (\(smemPerSM)): a block's shared memory is part of an SM's (got \(smemPerBlock))"))
        }
        try e.check()
    }

    /// The optional latencies: absent (nil), or all three positive and below a second, each with
    /// its own `sources` entry (every number in Models/ says where it comes from).
    static func latencies(_ o: [String: StrictJSON], _ path: String) throws(ModelError) -> Latencies? {
        guard try ModelFile.group(o, latencyFields, path, what: "the latency") else { return nil }
        return Latencies(
            l1Hit: try ModelFile.number(o, "latency_l1_hit_s", path, min: Range.minLatency, max: Range.latency),
            l2Hit: try ModelFile.number(o, "latency_l2_hit_s", path, min: Range.minLatency, max: Range.latency),
            dram: try ModelFile.number(o, "latency_dram_s", path, min: Range.minLatency, max: Range.latency))
    }

    /// fa3's pipeline fields (``WarpgroupPipeline/fields``): all, each with its source, where the GPU
    /// has wgmma and TMA; none elsewhere (they describe the wgmma pipeline).
    static func warpgroupPipeline(_ o: [String: StrictJSON], _ path: String, required: Bool) throws(ModelError) -> WarpgroupPipeline? {
        let fields = WarpgroupPipeline.fields
        guard required else {
            if let f = fields.first(where: { o[$0] != nil }) {
                throw .wrongType(path: path, field: f, expected: "absent when 'has_wgmma_tma' is false (it describes the wgmma pipeline)")
            }
            return nil
        }
        guard try ModelFile.group(o, fields, path) else { throw .missingField(path: path, field: fields[0]) }
        return WarpgroupPipeline(
            maxLatency: try ModelFile.number(o, fields[0], path, min: Range.minPerClock, max: Range.perClock),
            shuffleLatency: try ModelFile.number(o, fields[1], path, min: Range.minPerClock, max: Range.perClock),
            ex2Latency: try ModelFile.number(o, fields[2], path, min: Range.minPerClock, max: Range.perClock),
            addLatency: try ModelFile.number(o, fields[3], path, min: Range.minPerClock, max: Range.perClock),
            wgmmaLossPerSoftmaxCycle: try ModelFile.number(o, fields[4], path, min: Range.minPerClock, max: Range.perClock),
            softmaxLossPerWgmmaCycle: try ModelFile.number(o, fields[5], path, min: Range.minPerClock, max: Range.perClock))
    }

    /// Tensor throughput for a problem dtype: fp32/fp64 problems run on the fp16 rate's CUDA-core
    /// fraction, which the files do not carry, so they are refused. `mmaSync` asks for the rate of
    /// warp-level MMAs (FA1/FA2-style kernels) rather than the datasheet peak.
    public func tensorFlops(_ dtype: DType, mmaSync: Bool = false) throws(ModelError) -> Double {
        guard let f = tensorFlops[dtype] else {
            let has = DType.allCases.filter { tensorFlops[$0] != nil }.map(\.rawValue).joined(separator: ", ")
            throw .unsupported("\(name) has no \(dtype.rawValue) tensor-core rate (its model file gives \(has))")
        }
        if mmaSync, dtype != .fp8, let m = mmaSyncFlops { return min(f, m) }
        return f
    }
}

/// A model's attention shape (a `Models/workloads/*.json` file): fills `--heads`, `--kv-heads`, `--d`.
///
/// A **decode preset** also fixes the problem's query rows, cached keys and batch (`Nq`, `Nk`,
/// `batch`, all three or none), and takes its shape from a `base` shape file instead of repeating
/// it (the base's sources then stand for the shape):
///
///     {"name": "Llama-3 8B decode, 32K context", "base": "llama-3-8b", "Nq": 1, "Nk": 32768,
///      "batch": 1, "sources": {"Nk": "…", "batch": "…"}}
///
/// A file gives either `base` or all of `heads`, `kv_heads`, `d`; a base must be a plain shape
/// file (no base, no decode fields), found beside the preset first, then as a model name.
public struct WorkloadModel: Sendable, Equatable {
    public var name: String
    public var heads: Int
    public var kvHeads: Int
    public var d: Int
    /// Transformer layers (the `layers` field, with its source under `sources`), for KV-cache
    /// memory; nil when the file does not give it. A preset takes its base's.
    public var layers: Int?
    /// A decode preset's problem size; nil for a plain shape file.
    public var decode: Decode?

    /// Query rows per sequence, cached keys per sequence and sequences of a decode preset.
    public struct Decode: Sendable, Equatable {
        public var nq: Int
        public var nk: Int
        public var batch: Int

        public init(nq: Int, nk: Int, batch: Int) { (self.nq, self.nk, self.batch) = (nq, nk, batch) }
    }

    static let shapeFields = ["heads", "kv_heads", "d"]
    static let decodeFields = ["Nq", "Nk", "batch"]

    /// Parses a workload file; a preset's base is looked up beside `path`, then by name.
    public init(json data: Data, path: String) throws(ModelError) {
        try self.init(json: data, path: path) { (base: String) throws(ModelError) -> WorkloadModel in
            let file = try ModelFile.locateBase(base, beside: path)
            return try WorkloadModel(json: ModelFile.read(file), path: file) { (_: String) throws(ModelError) -> WorkloadModel in
                throw .wrongType(path: file, field: "base", expected: "absent: \(file) is the base of \(path), and a base must be a shape file")
            }
        }
    }

    /// The optional `layers` field: a positive integer up to ``Limits/maxLayers``, whose source
    /// `sources.layers` must name (every number in Models/ says where it comes from).
    static func layers(_ o: [String: StrictJSON], path: String) throws(ModelError) -> Int? {
        guard o["layers"] != nil else { return nil }
        let n = try ModelFile.int(o, "layers", path, max: Limits.maxLayers)
        guard case let .object(sources) = o["sources"], case let .string(s) = sources["layers"], !s.isEmpty else {
            throw .wrongType(path: path, field: "sources", expected: "an object with a 'layers' entry naming where the layer count comes from")
        }
        return n
    }

    /// Parses a workload file, resolving a `base` field with `resolve`.
    public init(json data: Data, path: String, resolve: (String) throws(ModelError) -> WorkloadModel) throws(ModelError) {
        let o = try ModelFile.object(data, path: path, fields: ["name", "sources"])
        name = try ModelFile.string(o, "name", path)
        guard case .object = o["sources"] else { throw .wrongType(path: path, field: "sources", expected: "an object") }
        if o["base"] != nil {
            for f in Self.shapeFields where o[f] != nil {
                throw .wrongType(path: path, field: f, expected: "absent when 'base' is given (the base file gives the shape)")
            }
            let baseName = try ModelFile.string(o, "base", path)
            let base = try resolve(baseName)
            guard base.decode == nil else {
                throw .wrongType(path: path, field: "base", expected: "a shape file without Nq, Nk and batch ('\(baseName)' is a decode preset)")
            }
            (heads, kvHeads, d) = (base.heads, base.kvHeads, base.d)
            guard o["layers"] == nil else {
                throw .wrongType(path: path, field: "layers", expected: "absent when 'base' is given (the base file gives the layers)")
            }
            layers = base.layers
        } else {
            for f in Self.shapeFields where o[f] == nil { throw .missingField(path: path, field: f) }
            heads = try ModelFile.int(o, "heads", path, max: Limits.maxBatchOrHeads)
            kvHeads = try ModelFile.int(o, "kv_heads", path, max: Limits.maxBatchOrHeads)
            d = try ModelFile.int(o, "d", path, max: Limits.maxHeadDim)
            guard heads % kvHeads == 0 else { throw .wrongType(path: path, field: "kv_heads", expected: "a divisor of heads") }
            layers = try Self.layers(o, path: path)
        }
        let given = Self.decodeFields.filter { o[$0] != nil }
        if given.isEmpty {
            decode = nil
        } else {
            // Partial presets would leave the rest to --N's and --batch's defaults: refused.
            for f in Self.decodeFields where o[f] == nil { throw .missingField(path: path, field: f) }
            decode = Decode(
                nq: try ModelFile.int(o, "Nq", path, max: Limits.maxSequence),
                nk: try ModelFile.int(o, "Nk", path, max: Limits.maxSequence),
                batch: try ModelFile.int(o, "batch", path, max: Limits.maxBatchOrHeads))
        }
    }
}
