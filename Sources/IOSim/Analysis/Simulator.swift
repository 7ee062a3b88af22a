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
    /// The pass counted (`training`: forward then backward, counts added, kernels concatenated).
    public var pass: Pass = .forward
    /// In `training`, the backward's tiles and footprint (`tiles` and `footprint` are the forward's).
    public var backwardTiles: Tiles?
    public var backwardFootprint: Int?
    /// In `training`, the forward's own counts (`counts` holds both passes').
    public var forwardCounts: TrafficCounts?

    public var feasible: Bool { counts != nil }
    public var ratio: Double? { counts.map(bound.ratio) }
}

public enum Simulator {
    /// Counts `kind` on `problem` under an SRAM of `capacity` bytes, executing every tile operation.
    public static func simulate(
        _ kind: ScheduleKind, _ problem: AttentionProblem, capacity: Int,
        tiles request: TileRequest = TileRequest(), pass: Pass = .forward
    ) -> ScheduleResult {
        if pass == .training { return training(kind, problem, capacity: capacity, tiles: request) }
        let bound = Bound(problem, capacityBytes: capacity, pass: pass)
        guard let schedule = kind.implementation(for: pass) else {
            let why = kind.implementation == nil ? "is not a registered schedule" : "has no \(pass) schedule"
            return ScheduleResult(kind: kind, bound: bound, reason: "\(kind.rawValue) \(why)", pass: pass)
        }
        do {
            let p = problem.scheduled
            let tiles = try TileChoice.choose(schedule, p, capacity: capacity, request)
            var machine = CountingMachine(problem: p, capacity: capacity, defaultKernel: kind.rawValue)
            try run(schedule, on: &machine, tiles: tiles)
            _ = try machine.counts.checkedHBM()
            return ScheduleResult(
                kind: kind, tiles: tiles, footprint: schedule.footprint(tiles, p, capacity: capacity),
                counts: machine.counts, bound: bound, pass: pass)
        } catch .countOverflow {
            return ScheduleResult(
                kind: kind, bound: bound, reason: SimulationError.countOverflow("\(kind.rawValue)'s counts").description, pass: pass)
        } catch {
            return ScheduleResult(kind: kind, bound: bound, reason: error.description, pass: pass)
        }
    }

    /// The forward, then the backward, each with its own tiles (chosen by the same request):
    /// counts added, kernels in launch order, bounds added.
    static func training(_ kind: ScheduleKind, _ problem: AttentionProblem, capacity: Int, tiles request: TileRequest) -> ScheduleResult {
        let f = simulate(kind, problem, capacity: capacity, tiles: request, pass: .forward)
        let b = simulate(kind, problem, capacity: capacity, tiles: request, pass: .backward)
        let bound = Bound(problem, capacityBytes: capacity, pass: .training)
        guard let fc = f.counts, let bc = b.counts, let ft = f.tiles, let fp = f.footprint, let bfp = b.footprint else {
            let why = f.reason.map { "forward: \($0)" } ?? b.reason.map { "backward: \($0)" } ?? "no tiles"
            return ScheduleResult(kind: kind, bound: bound, reason: why, pass: .training)
        }
        do {
            var r = ScheduleResult(
                kind: kind, tiles: ft, footprint: max(fp, bfp), counts: try fc.adding(bc), bound: bound, pass: .training)
            (r.backwardTiles, r.backwardFootprint, r.forwardCounts) = (b.tiles, bfp, fc)
            return r
        } catch {
            return ScheduleResult(
                kind: kind, bound: bound, reason: SimulationError.countOverflow("\(kind.rawValue)'s training counts").description, pass: .training)
        }
    }

    /// Runs a schedule on the counting machine, through the registry's specialised loop.
    static func run(_ s: any Schedule.Type, on m: inout CountingMachine, tiles: Tiles) throws(SimulationError) {
        guard let e = ScheduleRegistry.entry(s.kind, s.pass) else { throw .invalid("\(s.kind) is not a registered schedule") }
        try e.countRun(&m, tiles)
    }
}
