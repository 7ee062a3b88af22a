import IOSim

/// Time estimates for the CLI's results when `--hardware` is given.
enum Estimates {
    /// The result with its time estimate, or with the reason there is none (a dtype the hardware
    /// has no tensor rate for, say): counts are reported either way.
    static func attach(_ r: ScheduleResult, _ p: AttentionProblem, _ hw: HardwareModel?) -> ScheduleResult {
        guard let hw, r.feasible else { return r }
        var r = r
        guard r.pass == .forward else {
            do { r.timeEstimate = try TimeEstimate.passEstimate(r, p, hw) } catch { r.timeEstimateError = error.description }
            return r
        }
        do { r.timeEstimate = try TimeEstimate.estimate(r, p, hw) } catch { r.timeEstimateError = error.description }
        return r
    }
}
