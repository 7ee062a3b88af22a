import IOSimCore
import IOSimFormats

/// FA1's backward time: one CTA per head doing every live pair's work
/// (``TimeEstimate/backwardEstimate(_:_:_:)``).
extension FA1BackwardSchedule: BackwardTimeModeled {
    public static func backwardTime(_ c: BackwardTimeContext) throws(ModelError) -> TimeEstimate.Breakdown? {
        guard let k = c.kernel("backward") else { return nil }
        let scores = LiveSums(c.t, c.p).entries
        let one = c.cta(entries: Double(scores), bytes: Double(k.hbm.bytes) / Double(c.p.instances))
        return c.schedule(perHead: [one], bytes: Double(k.hbm.bytes))
    }
}
