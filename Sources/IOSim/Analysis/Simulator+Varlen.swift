import IOSimCore
import IOSimTimeModel

extension Simulator {
    /// Documents under `--packing varlen` (docs/counting-rules.md §13): each distinct length runs
    /// once as a batch of its documents, and the counts add up as for `--lengths`. A kernel's CTAs
    /// are its launched grid as FlashAttention launches it: every document gets the CTAs of the
    /// longest one (those past a document's end load and write nothing). The bound is the whole
    /// problem's under its document mask.
    static func varlen(
        _ kind: ScheduleKind, _ problem: AttentionProblem, _ parts: [AttentionProblem], capacity: Int,
        tiles request: TileRequest, pass: Pass
    ) -> ScheduleResult {
        var whole = problem
        whole.packing = .mask
        let bound = Bound(whole, capacityBytes: capacity, pass: pass)
        let results = parts.map { simulate(kind, $0, capacity: capacity, tiles: request, pass: pass) }
        if let bad = zip(parts, results).first(where: { $0.1.counts == nil }) {
            return ScheduleResult(kind: kind, bound: bound, reason: "documents of length \(bad.0.n): \(bad.1.reason ?? "infeasible")", pass: pass)
        }
        let documents = problem.batch * problem.documents.count
        /// The parts' counts added, each kernel's CTAs the longest part's per document times the
        /// documents (parts[0] is the longest; its batch is its documents times the batch).
        func grid(_ each: [TrafficCounts]) throws(SimulationError) -> TrafficCounts {
            var counts = TrafficCounts()
            for c in each { counts = try merged(counts, c) }
            for i in counts.kernels.indices {
                guard let k = each[0].kernels.first(where: { $0.name == counts.kernels[i].name }) else { continue }
                counts.kernels[i].ctas = try Int.checkedMul(k.ctas / parts[0].batch, documents)
            }
            return counts
        }
        do {
            var r = ScheduleResult(
                kind: kind, tiles: results[0].tiles, footprint: nil, counts: try grid(results.map { $0.counts! }), bound: bound, pass: pass)
            r.footprint = results.compactMap(\.footprint).max()
            (r.backwardTiles, r.backwardFootprint) = (results[0].backwardTiles, results.compactMap(\.backwardFootprint).max())
            if pass == .training { r.forwardCounts = try grid(results.compactMap(\.forwardCounts)) }
            r.perLength = results
            return r
        } catch {
            return ScheduleResult(
                kind: kind, bound: bound, reason: SimulationError.countOverflow("\(kind.rawValue)'s counts").description, pass: pass)
        }
    }
}
