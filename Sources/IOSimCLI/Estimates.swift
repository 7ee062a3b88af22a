import IOSim

/// Time estimates for the CLI's results when `--hardware` is given.
enum Estimates {
    /// Refuses, once and clearly, a dtype the hardware model has no tensor rate for.
    static func check(_ hw: HardwareModel, _ p: AttentionProblem) throws {
        _ = try hw.tensorFlops(p.dtype)
    }

    static func attach(_ r: ScheduleResult, _ p: AttentionProblem, _ hw: HardwareModel?) throws -> ScheduleResult {
        guard let hw else { return r }
        var r = r
        r.timeEstimate = try TimeEstimate.estimate(r, p, hw)
        return r
    }
}
