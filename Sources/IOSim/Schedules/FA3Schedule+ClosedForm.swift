extension FA3Schedule {
    /// fa2's traffic for the same tiles (the ring changes the footprint, not the transfers).
    public static func closedForm(_ p: AttentionProblem, _ t: Tiles, capacity: Int) throws(SimulationError) -> TrafficCounts {
        try FA2Schedule.forwardClosedForm(p, t, kernel: kind.rawValue)
    }
}
