import IOSimChecking
import IOSimCore
import IOSimTimeModel

extension Verification.Run {
    /// The run of a counted result; throws ``SimulationError/infeasible(_:)`` for a result
    /// without tiles (the schedule did not fit).
    public init(_ result: ScheduleResult) throws(SimulationError) {
        guard let tiles = result.tiles else {
            throw .infeasible("\(result.kind.rawValue) is infeasible: \(result.reason ?? "no tiles fit")")
        }
        self.init(kind: result.kind, pass: result.pass, tiles: tiles, backwardTiles: result.backwardTiles)
    }
}

extension Verification {
    /// ``run(_:_:capacity:seed:inputs:progress:)`` for a counted result (its schedule, pass and tiles).
    public static func run(
        _ result: ScheduleResult, _ p: AttentionProblem, capacity: Int, seed: UInt64,
        inputs distribution: InputDistribution = .normal, progress: ((Double) -> Void)? = nil
    ) throws -> Report {
        try run(Run(result), p, capacity: capacity, seed: seed, inputs: distribution, progress: progress)
    }

    /// ``runUnchecked(_:_:capacity:seed:inputs:progress:)`` for a counted result.
    public static func runUnchecked(
        _ result: ScheduleResult, _ p: AttentionProblem, capacity: Int, seed: UInt64,
        inputs distribution: InputDistribution = .normal, progress: ((Double) -> Void)? = nil
    ) throws(SimulationError) -> TrafficCounts {
        try runUnchecked(Run(result), p, capacity: capacity, seed: seed, inputs: distribution, progress: progress)
    }
}
