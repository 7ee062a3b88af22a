import Foundation

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

    /// M for a thread block on this GPU: its shared memory plus the SM's register file, since M
    /// counts everything a schedule keeps on chip (DESIGN §3) — FA kernels keep S/P and the O
    /// accumulator in registers.
    public var onChipPerBlock: Int { smemPerBlock + registersPerSM }

    /// Exponentials per second on one SM.
    public var expRatePerSM: Double { expPerClockPerSM * clockHz }
    /// fp32 operations per second on one SM.
    public var fp32RatePerSM: Double { fp32PerClockPerSM * clockHz }

    static let fields = [
        "name", "sms", "smem_per_sm_bytes", "smem_per_block_bytes", "registers_per_sm_bytes",
        "hbm_bandwidth_bytes_per_s", "l2_bytes", "tensor_flops_fp16", "tensor_flops_bf16",
        "tensor_flops_fp8", "tensor_flops_mma_sync", "exp_per_clock_per_sm", "fp32_per_clock_per_sm", "clock_hz", "sources",
    ]

    /// Largest values a hardware file may give: far above any GPU, low enough that the time
    /// estimate's per-SM arrays and products stay small and finite.
    enum Range {
        static let sms = 65_536
        static let bytes = 1 << 40
        static let rate = 1e19
        static let perClock = 1e6
        static let clock = 1e11
    }

    /// Parses a hardware file; every field must be present (`tensor_flops_fp8` may be null) and
    /// every number positive.
    public init(json data: Data, path: String) throws(ModelError) {
        let o = try ModelFile.object(data, path: path, fields: Self.fields)
        name = try ModelFile.string(o, "name", path)
        sms = try ModelFile.int(o, "sms", path, max: Range.sms)
        smemPerSM = try ModelFile.int(o, "smem_per_sm_bytes", path, max: Range.bytes)
        smemPerBlock = try ModelFile.int(o, "smem_per_block_bytes", path, max: Range.bytes)
        registersPerSM = try ModelFile.int(o, "registers_per_sm_bytes", path, max: Range.bytes)
        hbmBandwidth = try ModelFile.number(o, "hbm_bandwidth_bytes_per_s", path, max: Range.rate)
        l2Bytes = try ModelFile.int(o, "l2_bytes", path, max: Range.bytes)
        tensorFlops = [
            .fp16: try ModelFile.number(o, "tensor_flops_fp16", path, max: Range.rate),
            .bf16: try ModelFile.number(o, "tensor_flops_bf16", path, max: Range.rate),
        ]
        tensorFlops[.fp8] = try ModelFile.number(o, "tensor_flops_fp8", path, max: Range.rate, nullable: true)
        mmaSyncFlops = try ModelFile.number(o, "tensor_flops_mma_sync", path, max: Range.rate, nullable: true)
        expPerClockPerSM = try ModelFile.number(o, "exp_per_clock_per_sm", path, max: Range.perClock)
        fp32PerClockPerSM = try ModelFile.number(o, "fp32_per_clock_per_sm", path, max: Range.perClock)
        clockHz = try ModelFile.number(o, "clock_hz", path, max: Range.clock)
        guard case .object = o["sources"] else { throw .wrongType(path: path, field: "sources", expected: "an object") }
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
public struct WorkloadModel: Sendable, Equatable {
    public var name: String
    public var heads: Int
    public var kvHeads: Int
    public var d: Int

    public init(json data: Data, path: String) throws(ModelError) {
        let o = try ModelFile.object(data, path: path, fields: ["name", "heads", "kv_heads", "d", "sources"])
        name = try ModelFile.string(o, "name", path)
        heads = try ModelFile.int(o, "heads", path, max: Limits.maxBatchOrHeads)
        kvHeads = try ModelFile.int(o, "kv_heads", path, max: Limits.maxBatchOrHeads)
        d = try ModelFile.int(o, "d", path, max: Limits.maxHeadDim)
        guard heads % kvHeads == 0 else { throw .wrongType(path: path, field: "kv_heads", expected: "a divisor of heads") }
    }
}

/// Why a model file cannot be used; each names the file, and the field where one is at fault.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case notFound(name: String, kind: String, searched: [String])
    case unreadable(path: String)
    case malformed(path: String, detail: String)
    case missingField(path: String, field: String)
    case wrongType(path: String, field: String, expected: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case let .notFound(name, kind, searched):
            "no \(kind) model '\(name)': not a file, and not in \(searched.joined(separator: ", ")) (set IOSIM_MODELS to the Models folder)"
        case let .unreadable(path): "\(path): cannot be read"
        case let .malformed(path, detail): "\(path): not valid JSON (\(detail))"
        case let .missingField(path, field): "\(path): missing field '\(field)'"
        case let .wrongType(path, field, expected): "\(path): field '\(field)' must be \(expected)"
        case let .unsupported(s): s
        }
    }
}
