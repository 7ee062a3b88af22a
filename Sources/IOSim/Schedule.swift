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
}

extension ScheduleKind {
    /// The implementation of this schedule, or nil where it is not built yet.
    public var implementation: (any Schedule.Type)? {
        switch self {
        case .standard: StandardSchedule.self
        case .fa1: FA1Schedule.self
        case .fa2: FA2Schedule.self
        case .fa3, .smallM: nil
        }
    }
}

/// Footprint pieces shared by the FlashAttention schedules (bytes).
enum Footprint {
    /// FA2 (DESIGN §4): Qᵢ, Kⱼ, Vⱼ in the dtype; S/P block, O accumulator, m and ℓ in fp32:
    /// s·(Br·d + 2·Bc·d) + 4·(Br·Bc + Br·d + 2·Br).
    static func fa2(_ t: Tiles, _ p: AttentionProblem) -> Int {
        let s = p.dtype.size
        return s * (t.br * p.d + 2 * t.bc * p.d) + 4 * (t.br * t.bc + t.br * p.d + 2 * t.br)
    }
}
