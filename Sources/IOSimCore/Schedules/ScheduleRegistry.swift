/// The one list of schedules. Report order, CLI names, help lists and the specialised dispatch
/// all come from it. Adding a schedule = its own files (the type conforming to ``Schedule``, its
/// closed form, its `ScheduleKind` constant) + one line here (docs/ARCHITECTURE.md).
public enum ScheduleRegistry {
    public static let entries: [ScheduleEntry] = [
        ScheduleEntry(StandardSchedule.self),
        ScheduleEntry(FA1Schedule.self),
        ScheduleEntry(FA2Schedule.self),
        ScheduleEntry(FA3Schedule.self),
        ScheduleEntry(FlexSchedule.self),
        ScheduleEntry(SmallMSchedule.self),
        ScheduleEntry(SplitKVSchedule.self),
        ScheduleEntry(LeanSchedule.self),
        ScheduleEntry(PagedV1Schedule.self),
        ScheduleEntry(PagedV2Schedule.self),
        ScheduleEntry(ChunkAttnSchedule.self),
    ]

    /// The backward schedules (docs/counting-rules.md §8a), under the names of their forward schedules.
    public static let backwardEntries: [ScheduleEntry] = [
        ScheduleEntry(StandardBackwardSchedule.self),
        ScheduleEntry(FA1BackwardSchedule.self),
        ScheduleEntry(FA2BackwardSchedule.self),
    ]

    public static func entry(_ kind: ScheduleKind) -> ScheduleEntry? { entries.first { $0.kind == kind } }

    /// The entry that runs `kind` in `pass` (`training` runs both passes: its forward here).
    public static func entry(_ kind: ScheduleKind, _ pass: Pass) -> ScheduleEntry? {
        pass == .backward ? backwardEntry(kind) : entry(kind)
    }

    public static func backwardEntry(_ kind: ScheduleKind) -> ScheduleEntry? { backwardEntries.first { $0.kind == kind } }
}

/// A registered schedule: its type, and its tile loop bound to each machine. The closures are
/// made where the concrete type is known, so the compiler specialises the loop for each machine
/// (through the existential it would run generically, tens of times slower).
public struct ScheduleEntry: Sendable {
    public let kind: ScheduleKind
    public let type: any Schedule.Type
    /// Whether it can read a paged cache (``KVCacheReading/contiguousOrPaged`` or ``KVCacheReading/paged``).
    public var readsPagedCache: Bool { [.contiguousOrPaged, .paged].contains(type.kvCache) }
    /// Whether it reads a paged cache whatever `--kv-layout` says (vLLM's kernels).
    public var alwaysPaged: Bool { type.kvCache == .paged }
    package let countRun: @Sendable (inout CountingMachine, KernelConfig) throws(SimulationError) -> Void
    let doubleRun: @Sendable (inout DataMachine<Double>, KernelConfig) throws(SimulationError) -> Void
    let floatRun: @Sendable (inout DataMachine<Float>, KernelConfig) throws(SimulationError) -> Void

    init<S: Schedule>(_ s: S.Type) {
        kind = S.kind
        type = s
        countRun = { m, t throws(SimulationError) in try S.run(&m, tiles: t) }
        doubleRun = { m, t throws(SimulationError) in try S.run(&m, tiles: t) }
        floatRun = { m, t throws(SimulationError) in try S.run(&m, tiles: t) }
    }
}
