import IOSimCore
import IOSimFormats

/// FA2's backward time (``TimeEstimate/backwardEstimate(_:_:_:)``): `preprocess` and `convert` are
/// bulk, memory-bound kernels; `main` runs a CTA per column tile per head with its live pairs'
/// work, its DRAM bytes under the L2 rule of ``TimeEstimate/mainDRAMBytes(_:_:_:_:)``.
extension FA2BackwardSchedule: BackwardTimeModeled {
    public static func backwardTime(_ c: BackwardTimeContext) throws(ModelError) -> TimeEstimate.Breakdown? {
        let (p, t) = (c.p, c.t)
        guard let main = c.kernel("main") else { return nil }
        // Live scores of each column tile's CTA (one head).
        let work = (0..<t.tc(p)).map { j -> Double in
            let live = t.liveRowTiles(j, p)
            guard !live.isEmpty else { return 0 }
            let rows = live.covered { t.rows($0, p) }
            return Double(rows * t.cols(j, p).count)
        }
        let perHead = work.reduce(0, +)
        let bytes = TimeEstimate.mainDRAMBytes(main, p, t, c.hw)
        let scores = perHead * Double(p.instances)
        let times = work.map { w in c.cta(entries: w, bytes: scores > 0 ? bytes * w / scores : 0) }
        let main_ = c.schedule(perHead: times, bytes: bytes)
        let bulk = c.bulkSeconds(["preprocess", "convert"])
        return TimeEstimate.Breakdown(seconds: main_.seconds + bulk, ctas: main_.ctas, waves: main_.waves, hbmBytes: bytes)
    }
}
