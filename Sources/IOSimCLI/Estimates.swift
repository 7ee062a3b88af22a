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
            return finite(r, hw)
        }
        do { r.timeEstimate = try TimeEstimate.estimate(r, p, hw) } catch { r.timeEstimateError = error.description }
        return finite(r, hw)
    }

    /// No estimate that is not a finite, non-negative number is ever printed: the hardware model's
    /// ranges should prevent one, and if a combination still overflows, the row says so instead.
    static func finite(_ r: ScheduleResult, _ hw: HardwareModel) -> ScheduleResult {
        guard let t = r.timeEstimate, !t.seconds.isFinite || t.seconds < 0 else { return r }
        var r = r
        r.timeEstimate = nil
        r.timeEstimateError = "the time estimate on \(hw.name) is not a finite number of seconds (\(t.seconds)); check the hardware file's figures"
        return r
    }
}
