/// Which pass of attention a run counts (`--pass`, docs/counting-rules.md §8a).
public enum Pass: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// O (and the statistics the backward needs) from Q, K, V.
    case forward
    /// dQ, dK, dV from Q, K, V, O, dO and the forward's statistics.
    case backward
    /// The forward, then the backward: counts added, kernels listed in launch order.
    case training

    public var description: String { rawValue }

    /// The passes a run of this pass executes, in order.
    public var parts: [Pass] {
        switch self {
        case .forward: [.forward]
        case .backward: [.backward]
        case .training: [.forward, .backward]
        }
    }
}

extension ScheduleKind {
    /// The schedule that runs this pass (forward for `training`, whose backward comes from
    /// ``implementation(for:)`` with `.backward`), or nil when there is none (fa3, small-m and the
    /// decode schedules have no backward).
    public func implementation(for pass: Pass) -> (any Schedule.Type)? {
        pass == .backward ? ScheduleRegistry.backwardEntry(self)?.type : implementation
    }

    /// Whether this schedule can run every part of `pass`.
    public func supports(_ pass: Pass) -> Bool {
        pass.parts.allSatisfy { implementation(for: $0) != nil }
    }

    /// The schedules with a backward (`--schedule all` under `--pass backward|training`), in report order.
    public static var backward: [ScheduleKind] { ScheduleRegistry.backwardEntries.map(\.kind) }
}
