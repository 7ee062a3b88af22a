extension FA3Schedule {
    /// fa2's traffic for the same tiles (the ring changes the footprint, not the transfers).
    public static func closedForm(into c: inout ClosedFormBuilder, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) throws(SimulationError) {
        try FA2Schedule.forwardClosedForm(into: &c, p, t, kernel: kind.rawValue)
    }
}
