import AttentionReference

/// A schedule's name (its CLI and JSON name). The known ones, in report order, are those of
/// ``ScheduleRegistry/entries``; each schedule's file declares its own constant.
public struct ScheduleKind: RawRepresentable, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    public let rawValue: String

    /// A registered schedule by name, or nil.
    public init?(rawValue: String) {
        guard ScheduleRegistry.entries.contains(where: { $0.kind.rawValue == rawValue }) else { return nil }
        self.rawValue = rawValue
    }

    /// Declares a name (used by the schedules' own files).
    init(named name: String) { rawValue = name }

    /// Every registered schedule, in report order.
    public static var allCases: [ScheduleKind] { ScheduleRegistry.entries.map(\.kind) }
    /// The prefill schedules (`--schedule all`), in report order.
    public static var prefill: [ScheduleKind] { allCases.filter { $0.implementation?.family == .prefill } }
    /// The decode schedules with fa2 (`--schedule decode`, docs/cli.md §2), in report order.
    public static var decode: [ScheduleKind] {
        allCases.filter { $0 == .fa2 || $0.implementation?.family == .decode }
    }

    public var description: String { rawValue }

    /// The registered schedules that take `knob`, in report order.
    public static func taking(_ knob: ScheduleKnob) -> [ScheduleKind] {
        allCases.filter { $0.implementation?.knobs.contains(knob) == true }
    }

    /// The registered schedules that take `--stages`, in report order.
    public static var pipelined: [ScheduleKind] { allCases.filter { $0.implementation?.pipelineStages != nil } }

    /// The registered schedules that read the K/V cache as `reading`, in report order.
    public static func reading(_ reading: KVCacheReading) -> [ScheduleKind] {
        allCases.filter { $0.implementation?.kvCache == reading }
    }

    /// The schedule's implementation.
    public var implementation: (any Schedule.Type)? { ScheduleRegistry.entry(self)?.type }
}

/// How the time estimate cuts a schedule's work into thread blocks (its launch model).
public enum LaunchModel: Sendable {
    /// Bulk kernels with many small blocks each (standard attention): the work spreads evenly.
    case bulk
    /// One CTA per (batch, head) that loops over every tile (FlashAttention-1's kernel).
    case perHead
    /// One CTA per row tile per (batch, head) (FlashAttention-2 onwards, Saha–Ye).
    case perRowTile
}

/// How a schedule's kernels run, as the time estimate sees them: what it needs to know of a
/// schedule besides its counts, in one value that the schedule declares in its own file.
public struct LaunchTraits: Sendable, Equatable {
    /// How its work is placed on the SMs.
    public var model: LaunchModel = .perRowTile
    /// Whether loads, tensor work and softmax overlap (FA3's warp specialisation): the estimate
    /// takes their maximum instead of their sum.
    public var overlapsPhases = false
    /// Whether its GEMMs are warpgroup MMAs (wgmma, Hopper's full rate) rather than `mma.sync`.
    public var warpgroupMMA = false
    /// How its kernel waits on block-table lookups under a paged cache.
    public var tableLookups: TableLookups = .perTileLoad
    /// Whether the time estimate has a model of its launches.
    public var timeModel = true

    public init(
        model: LaunchModel = .perRowTile, overlapsPhases: Bool = false, warpgroupMMA: Bool = false,
        tableLookups: TableLookups = .perTileLoad, timeModel: Bool = true
    ) {
        (self.model, self.overlapsPhases, self.warpgroupMMA, self.tableLookups, self.timeModel) =
            (model, overlapsPhases, warpgroupMMA, tableLookups, timeModel)
    }
}

/// How a kernel waits on its block-table lookups under a paged K/V cache: which lookups sit
/// between a load and the one before it, so that a CTA with too few warps to hide them pays one
/// memory latency each (docs/time-model.md, Reports/gpu/paged_decode_findings.txt §4–5).
public enum TableLookups: Sendable {
    /// Each K or V tile load of the CTA is preceded by the lookup of its blocks (its threads look
    /// the tile's blocks up in parallel): one latency per tile load — FlashAttention-2's paged
    /// loop, which reads `block_table` right before it issues each K and each V tile.
    case perTileLoad
    /// Each warp looks up one block, then loads it, in the K loop and again in the V loop (vLLM's
    /// PagedAttention kernels): one latency per block per loop on each warp's chain.
    case perWarpBlock
    /// Lookups run ahead of the loads that need them (FA3's producer warps): none is waited on.
    case prefetched

    /// The dependent steps on a CTA's chain for `tiles` column tiles read by `warps` warps: one per
    /// K and one per V tile load, one block per warp per loop in parallel, or none. The time
    /// estimate charges a step a block-table lookup (paged caches) and, in an unpipelined kernel,
    /// a tile round trip.
    public func steps(tiles: Int, warps: Int) -> Int {
        switch self {
        case .perTileLoad: 2 * tiles
        case .perWarpBlock: 2 * ceilDiv(tiles, max(1, warps))
        case .prefetched: 0
        }
    }
}

/// A tiled attention schedule: its on-chip footprint for given tiles, and its tile loop, written
/// once against a ``TileMachine`` so that it both counts and (in data mode) computes.
public protocol Schedule: SendableMetatype {
    static var kind: ScheduleKind { get }
    /// The pass this loop computes (a backward schedule shares its forward's name).
    static var pass: Pass { get }
    /// Peak on-chip bytes for full tiles `tiles` (clamped to the problem).
    static func footprint(_ tiles: KernelConfig, _ problem: AttentionProblem, capacity: Int) -> Int
    /// The knobs it takes beyond the tiles (`--splits`, `--ctas`).
    static var knobs: Set<ScheduleKnob> { get }
    /// How it reads the K/V cache.
    static var kvCache: KVCacheReading { get }
    /// The K/V pipeline depths its kernel can be built with (`--stages`, docs/cli.md §2): how many
    /// K/V tiles a CTA has in flight ahead of the one it computes on. 1 is unpipelined: each tile
    /// load waits for the previous tile's work (the time estimate charges a round trip per load);
    /// FA3's ring keeps `stages` K/V tile pairs resident (its footprint grows). nil: it takes no
    /// `--stages` (its loop has no K/V pipeline to deepen).
    static var pipelineStages: ClosedRange<Int>? { get }
    /// How its kernels run, as the time estimate sees them (one value: ``LaunchTraits``).
    static var launch: LaunchTraits { get }
    /// The masks it takes (docs/cli.md §2).
    static var masks: MaskSupport { get }
    /// Runs every tile operation of the schedule on `machine`.
    static func run<Machine: TileMachine>(_ machine: inout Machine, tiles: KernelConfig) throws(SimulationError)
    /// The paper's tiles for this problem (`--tiles paper`), where the paper gives a rule.
    static func paperTiles(_ p: AttentionProblem, capacity: Int) -> KernelConfig?
    /// Whether automatic tiles keep Br = Bc.
    static var squareTiles: Bool { get }
    /// Whether `--tiles auto` takes the paper's tiles when they fit (FA3's published defaults).
    static var autoPrefersPaperTiles: Bool { get }
    /// HBM traffic per kernel in closed form, summed over batch·heads (the counts' exact
    /// prediction; `optimal` tiles are ranked by it). `p` is the problem the schedule runs
    /// (``AttentionProblem/scheduled``), `t` clamped to it.
    static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError)
    /// Values a data-mode run holds per instance besides Q, K, V, O and statistics.
    static func extraDataValues(_ p: AttentionProblem) -> Double
    /// Prefill schedules make up `--schedule all`; decode schedules are named (or `decode`).
    static var family: ScheduleFamily { get }
    /// The tiles of the kernel the schedule models, used unless a tile policy is asked for.
    static func kernelTiles(_ p: AttentionProblem) -> KernelConfig?
    /// The tiles and warps the real kernel it models launches with on `target`, with their source
    /// (`--tiles kernel`, docs/tiles.md "Kernel tiles"); nil where it models no one kernel or the
    /// kernel does not run there.
    static func kernelTiles(_ p: AttentionProblem, on target: KernelTarget) -> KernelTiles?
    /// For `.perRowTile` launches whose CTAs are not one per row tile: the live score entries of
    /// each CTA of one instance, in launch order (nil: one CTA per row tile).
    static func ctaWork(_ p: AttentionProblem, _ t: KernelConfig) -> [Double]?
    /// How many partial results (`Opart`, `LSEpart` rows) per query row it stores (data mode's layout).
    static func partialSlots(_ p: AttentionProblem, _ t: KernelConfig) -> Int
    /// For `.perRowTile` launches: the live column tiles each CTA of one instance loads, in the
    /// order of ``ctaWork(_:_:)`` (nil: one CTA per row tile, all its live column tiles).
    static func ctaColumnTiles(_ p: AttentionProblem, _ t: KernelConfig) -> [Int]?
    /// Whether it runs the batch's sequences together (a prefix shared across them): under
    /// `--lengths` it sees every length at once instead of one run per distinct length.
    static var seesWholeBatch: Bool { get }
    /// Its own column tiles in place of the K/V layout's rule (nil: that rule), from the tiles a
    /// policy chose and the Bc asked for, if any.
    static func columnTiles(_ chosen: KernelConfig, _ p: AttentionProblem, requestedBc: Int?) throws(SimulationError) -> KernelConfig?
}

/// A command-line knob that only some schedules take (docs/cli.md §2); each schedule lists its
/// own (``Schedule/knobs``), and the command line refuses a knob none of the chosen schedules takes.
public enum ScheduleKnob: String, Sendable, CaseIterable {
    /// `--splits`: the splits of each row tile's K/V (split-KV).
    case splits
    /// `--ctas`: a fixed grid of CTAs sharing the work (Lean Attention).
    case ctas
}

/// The masks a schedule takes. A schedule run with a mask it does not take is reported as not
/// running, with the reason; the command line refuses to name it with one.
public enum MaskSupport: Sendable, Equatable {
    /// Every structured mask: windows, sinks, prefixes, documents.
    case every
    /// None, causal, windows and sink tokens only (decode and serving kernels: lean's stream, the
    /// paged partitions, chunk-attn's chunks): a row tile's live column tiles are the sinks' run
    /// and the window's.
    case windows

    /// Why `mask` is refused, or nil when it is taken.
    public func refusal(_ mask: AttentionMask, schedule: ScheduleKind) -> String? {
        guard self == .windows else { return nil }
        let only = "\(schedule.rawValue) takes none, causal, window and sink-token masks only"
        if case .blockSparse = mask { return "\(only), not a block mask" }
        guard case let .structured(s) = mask, !s.documents.isEmpty || s.prefix > 0 else { return nil }
        return "\(only), not \(!s.documents.isEmpty ? "documents" : "a prefix")"
    }
}

/// How a schedule reads the K/V cache.
public enum KVCacheReading: Sendable, Equatable {
    /// K and V rows at fixed strides only (standard, fa1, small-m): under `--kv-layout paged`
    /// it is reported as not running.
    case contiguous
    /// K and V rows at fixed strides, or in whole blocks when `--kv-layout paged` asks: it streams
    /// K/V through ``TileMachine/attend(_:kvInstance:rows:columnTiles:blockSize:)``
    /// (docs/counting-rules.md §12).
    case contiguousOrPaged
    /// Always in whole blocks of a paged cache (vLLM's kernels): `--Bc` must be a multiple of the block.
    case paged
    /// Chunks of a prefix tree shared across sequences (ChunkAttention): no GQA.
    case prefixChunks
}

/// Which workloads a schedule is for (docs/cli.md §2: `all` is the prefill schedules, `decode` fa2 and
/// the decode schedules; a prefix-sharing schedule is only run when named).
public enum ScheduleFamily: Sendable {
    case prefill, decode, prefixSharing
    /// One framework's kernel, run only when named (flex).
    case namedOnly
}

extension Schedule {
    public static var pass: Pass { .forward }
    public static var launch: LaunchTraits { LaunchTraits() }
    public static var knobs: Set<ScheduleKnob> { [] }
    public static var kvCache: KVCacheReading { .contiguous }
    public static var masks: MaskSupport { .every }
    public static var pipelineStages: ClosedRange<Int>? { nil }
    public static func paperTiles(_ p: AttentionProblem, capacity: Int) -> KernelConfig? { nil }
    public static var squareTiles: Bool { false }
    public static var autoPrefersPaperTiles: Bool { false }
    public static func extraDataValues(_ p: AttentionProblem) -> Double { 0 }
    public static var family: ScheduleFamily { .prefill }
    public static func kernelTiles(_ p: AttentionProblem) -> KernelConfig? { nil }
    public static func kernelTiles(_ p: AttentionProblem, on target: KernelTarget) -> KernelTiles? { nil }
    public static func ctaWork(_ p: AttentionProblem, _ t: KernelConfig) -> [Double]? { nil }
    public static func partialSlots(_ p: AttentionProblem, _ t: KernelConfig) -> Int { t.splits }
    public static func ctaColumnTiles(_ p: AttentionProblem, _ t: KernelConfig) -> [Int]? { nil }
    public static var seesWholeBatch: Bool { false }
    public static func columnTiles(_ chosen: KernelConfig, _ p: AttentionProblem, requestedBc: Int?) throws(SimulationError) -> KernelConfig? { nil }

    /// FlashAttention's rule (Dao et al. 2022, Algorithm 1 line 1): Bc = ⌈M/4d⌉, Br = min(Bc, d),
    /// M in elements.
    static func fa1PaperTiles(_ p: AttentionProblem, capacity: Int) -> KernelConfig {
        let bc = (capacity / p.dtype.size + 4 * p.d - 1) / (4 * p.d)
        return KernelConfig(br: min(bc, p.d), bc: bc)
    }
}

/// Footprint pieces shared by the FlashAttention schedules (bytes).
enum Footprint {
    /// FA2 (docs/tiles.md, "Footprints"): Qᵢ, Kⱼ, Vⱼ in the dtype; S/P block, O accumulator, m and ℓ in fp32:
    /// s·(Br·d + 2·Bc·d) + 4·(Br·Bc + Br·d + 2·Br).
    static func fa2(_ t: KernelConfig, _ p: AttentionProblem) -> Int {
        let s = p.dtype.size
        return s * (t.br * p.d + 2 * t.bc * p.d) + 4 * (t.br * t.bc + t.br * p.d + 2 * t.br) + scales(3, p)
    }

    /// In fp8 every resident Q, K or V tile carries one fp32 scale (docs/counting-rules.md §2).
    @inline(__always) static func scales(_ tiles: Int, _ p: AttentionProblem) -> Int {
        p.dtype == .fp8 ? 4 * tiles : 0
    }
}
