import IOSimCore
import IOSimTimeModel

extension Simulator {
    /// Documents under `--packing varlen` (docs/counting-rules.md §13): each distinct length runs
    /// once as a batch of its documents, and the counts add up as for `--lengths`. A kernel's CTAs
    /// are its launched grid as FlashAttention launches it: every document gets the CTAs of the
    /// longest one (those past a document's end load and write nothing). One launch has one tile
    /// configuration: the tiles are chosen for the longest document and every document runs
    /// with them (clamped to its length). The bound is the whole problem's under its document
    /// mask. (Training runs the forward and the backward through here one at a time.)
    /// A block mask with several planes runs the same way, one part per plane, without the grid
    /// (each part launches its own heads' CTAs).
    static func parts(
        _ kind: ScheduleKind, _ problem: AttentionProblem, _ parts: [AttentionProblem], capacity: Int,
        tiles request: TileRequest, pass: Pass, grid byLongest: Bool
    ) -> ScheduleResult {
        var whole = problem
        whole.packing = .mask
        let bound = Bound(whole, capacityBytes: capacity, pass: pass)
        let longest = simulate(kind, parts[0], capacity: capacity, tiles: request, pass: pass)
        var same = request
        if let t = longest.tiles { (same.br, same.bc, same.warps, same.warpsExplicit) = (t.br, t.bc, t.warps, true) }
        let results = [longest] + parts.dropFirst().map { simulate(kind, $0, capacity: capacity, tiles: same, pass: pass) }
        if let bad = zip(parts, results).first(where: { $0.1.counts == nil }) {
            let which = byLongest ? "documents of length \(bad.0.n)" : "the block mask's plane \(parts.firstIndex(of: bad.0) ?? 0)"
            return ScheduleResult(kind: kind, bound: bound, reason: "\(which): \(bad.1.reason ?? "infeasible")", pass: pass)
        }
        let documents = problem.batch * problem.documents.count
        /// The parts' counts added, each kernel's CTAs the longest part's per document times the
        /// documents (parts[0] is the longest; its batch is its documents times the batch).
        func grid(_ each: [TrafficCounts]) throws(SimulationError) -> TrafficCounts {
            var counts = TrafficCounts()
            for c in each { counts = try merged(counts, c) }
            guard byLongest else { return counts }
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
            r.perLength = results
            return r
        } catch {
            return ScheduleResult(
                kind: kind, bound: bound, reason: SimulationError.countOverflow("\(kind.rawValue)'s counts").description, pass: pass)
        }
    }
}
