/// One schedule's outcome on a problem under M: its tiles, footprint, counts, bound and ratio,
/// or why it cannot run.
public struct ScheduleResult: Sendable {
    public var kind: ScheduleKind
    public var tiles: Tiles?
    /// Peak bytes resident during the run (the schedule's footprint for its tiles).
    public var footprint: Int?
    public var counts: TrafficCounts?
    public var bound: Bound
    /// Why the schedule cannot run, when it cannot.
    public var reason: String?
    /// The estimated kernel time on a hardware model, when one was asked for.
    public var timeEstimate: TimeEstimate.Breakdown?
    /// Why no time estimate could be made, when one was asked for (the counts still stand).
    public var timeEstimateError: String?

    public var feasible: Bool { counts != nil }
    public var ratio: Double? { counts.map(bound.ratio) }
}

public enum Simulator {
    /// Counts `kind` on `problem` under an SRAM of `capacity` bytes, executing every tile operation.
    public static func simulate(
        _ kind: ScheduleKind, _ problem: AttentionProblem, capacity: Int,
        tiles request: TileRequest = TileRequest()
    ) -> ScheduleResult {
        let bound = Bound(problem, capacityBytes: capacity)
        guard let schedule = kind.implementation else {
            return ScheduleResult(kind: kind, bound: bound, reason: "\(kind.rawValue) is not a registered schedule")
        }
        do {
            let p = problem.scheduled
            let tiles = try TileChoice.choose(schedule, p, capacity: capacity, request)
            var machine = CountingMachine(problem: p, capacity: capacity, defaultKernel: kind.rawValue)
            try run(schedule, on: &machine, tiles: tiles)
            _ = try machine.counts.checkedHBM()
            return ScheduleResult(
                kind: kind, tiles: tiles, footprint: schedule.footprint(tiles, p, capacity: capacity),
                counts: machine.counts, bound: bound)
        } catch .countOverflow {
            return ScheduleResult(kind: kind, bound: bound, reason: SimulationError.countOverflow("\(kind.rawValue)'s counts").description)
        } catch {
            return ScheduleResult(kind: kind, bound: bound, reason: error.description)
        }
    }

    /// Runs a schedule on the counting machine, through the registry's specialised loop.
    static func run(_ s: any Schedule.Type, on m: inout CountingMachine, tiles: Tiles) throws(SimulationError) {
        guard let e = ScheduleRegistry.entry(s.kind) else { throw .invalid("\(s.kind) is not a registered schedule") }
        try e.countRun(&m, tiles)
    }
}
