/// The schedules the simulator knows, in the order results are reported.
public enum ScheduleKind: String, CaseIterable, Sendable, Codable {
    case standard, fa1, fa2, fa3
    case smallM = "small-m"
}

/// A tiled attention schedule: its on-chip footprint for given tiles, and its tile loop, written
/// once against a ``TileMachine`` so that it both counts and (in data mode) computes.
public protocol Schedule {
    static var kind: ScheduleKind { get }
    /// Peak on-chip bytes for full tiles `tiles` (clamped to the problem).
    static func footprint(_ tiles: Tiles, _ problem: AttentionProblem, capacity: Int) -> Int
    /// Runs every tile operation of the schedule on `machine`.
    static func run<Machine: TileMachine>(_ machine: inout Machine, tiles: Tiles) throws(SimulationError)
    /// The paper's tiles for this problem (`--tiles paper`), where the paper gives a rule.
    static func paperTiles(_ p: AttentionProblem, capacity: Int) -> Tiles?
    /// Whether automatic tiles keep Br = Bc.
    static var squareTiles: Bool { get }
}

extension Schedule {
    public static func paperTiles(_ p: AttentionProblem, capacity: Int) -> Tiles? { nil }
    public static var squareTiles: Bool { false }

    /// FlashAttention's rule (Dao et al. 2022, Algorithm 1 line 1): Bc = ⌈M/4d⌉, Br = min(Bc, d),
    /// M in elements.
    static func fa1PaperTiles(_ p: AttentionProblem, capacity: Int) -> Tiles {
        let bc = (capacity / p.dtype.size + 4 * p.d - 1) / (4 * p.d)
        return Tiles(br: min(bc, p.d), bc: bc)
    }
}

extension ScheduleKind {
    /// The implementation of this schedule, or nil where it is not built yet.
    public var implementation: (any Schedule.Type)? {
        switch self {
        case .standard: StandardSchedule.self
        case .fa1: FA1Schedule.self
        case .fa2: FA2Schedule.self
        case .fa3: FA3Schedule.self
        case .smallM: SmallMSchedule.self
        }
    }
}

/// Footprint pieces shared by the FlashAttention schedules (bytes).
enum Footprint {
    /// FA2 (DESIGN §4): Qᵢ, Kⱼ, Vⱼ in the dtype; S/P block, O accumulator, m and ℓ in fp32:
    /// s·(Br·d + 2·Bc·d) + 4·(Br·Bc + Br·d + 2·Br).
    static func fa2(_ t: Tiles, _ p: AttentionProblem) -> Int {
        let s = p.dtype.size
        return s * (t.br * p.d + 2 * t.bc * p.d) + 4 * (t.br * t.bc + t.br * p.d + 2 * t.br) + scales(3, p)
    }

    /// In fp8 every resident Q, K or V tile carries one fp32 scale (DESIGN §6).
    @inline(__always) static func scales(_ tiles: Int, _ p: AttentionProblem) -> Int {
        p.dtype == .fp8 ? 4 * tiles : 0
    }
}
