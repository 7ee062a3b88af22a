import IOSimCore

/// One schedule's outcome on a problem under M: its tiles, footprint, counts, bound and ratio,
/// or why it cannot run.
public struct ScheduleResult: Sendable {
    public var kind: ScheduleKind
    public var tiles: KernelConfig?
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
    public var backwardTiles: KernelConfig?
    public var backwardFootprint: Int?
    /// In `training`, the forward's own counts (`counts` holds both passes').
    public var forwardCounts: TrafficCounts?
    /// Under `--lengths`, each distinct length's own result, in the order of the problem's
    /// ``AttentionProblem/lengthGroups`` (the time estimate places their CTAs as one launch).
    public var perLength: [ScheduleResult]?

    /// Every field (the simulator makes results; so do tests that hand one to the time model).
    package init(
        kind: ScheduleKind, tiles: KernelConfig? = nil, footprint: Int? = nil, counts: TrafficCounts? = nil, bound: Bound,
        reason: String? = nil, timeEstimate: TimeEstimate.Breakdown? = nil, timeEstimateError: String? = nil,
        pass: Pass = .forward, backwardTiles: KernelConfig? = nil, backwardFootprint: Int? = nil,
        forwardCounts: TrafficCounts? = nil, perLength: [ScheduleResult]? = nil
    ) {
        (self.kind, self.tiles, self.footprint, self.counts, self.bound, self.reason) = (kind, tiles, footprint, counts, bound, reason)
        (self.timeEstimate, self.timeEstimateError, self.pass) = (timeEstimate, timeEstimateError, pass)
        (self.backwardTiles, self.backwardFootprint, self.forwardCounts, self.perLength) =
            (backwardTiles, backwardFootprint, forwardCounts, perLength)
    }

    public var feasible: Bool { counts != nil }
    public var ratio: Double? { counts.map(bound.ratio) }
}
