import ArgumentParser
import IOSim

/// Every problem and schedule option of a run, resolved once into values before anything runs:
/// the problem, M, the tile request (with the hardware-dependent defaults the library computes),
/// the hardware model (its file parsed once) and the schedules to run. A bad value throws a
/// `ValidationError` naming its flag (exit 64); a model file that cannot be used keeps its own
/// error (exit 1).
struct RunSetup {
    var problem: AttentionProblem
    /// M in bytes.
    var capacity: Int
    var request: TileRequest
    var hardware: HardwareModel?
    /// The schedules that run the pass, in report order (`paged` resolved for the problem).
    var kinds: [ScheduleKind]
    /// The `--schedule` selection they come from.
    var selection: ScheduleSelection
}

extension ProblemOptions {
    /// The options resolved for `pass` (``RunSetup``); `n` replaces `--N` (a sweep's point) and
    /// `capacity` the `--M` default (compare's).
    func resolve(pass: Pass, n: Int? = nil, capacity: (() throws -> Int)? = nil) throws -> RunSetup {
        let problem = try self.problem(n: n)
        let capacity = try capacity?() ?? self.capacity()
        let selection = scheduleOption.resolvingPaged(problem)
        let kinds = try selection.kinds(for: pass)
        return RunSetup(
            problem: problem, capacity: capacity, request: try tileRequest(for: problem), hardware: try hardwareModel(), kinds: kinds,
            selection: selection)
    }
}
