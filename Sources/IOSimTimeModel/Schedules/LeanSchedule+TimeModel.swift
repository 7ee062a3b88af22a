import IOSimCore
import IOSimFormats

extension LeanSchedule: StreamLaunched {
    /// Each CTA's loads, in CTA order, from the same walk over row tiles as the closed form: a
    /// run (the CTA's units inside one row tile) loads Qᵢ once and its tiles' K/V rows once; a run
    /// that is not the row's host writes its partial (brᵢ·d + brᵢ fp32); the host reads every
    /// other run's partial once and writes O and LSE. The O and LSE of rows that see no key are
    /// charged to the CTA holding the instance's first unit (they are written up front, outside
    /// the ranges). Under a paged cache a run reads whole blocks and their table entries. The
    /// bytes of all CTAs sum to the counted HBM bytes.
    public static func ctaLoads(_ p: AttentionProblem, _ t: KernelConfig, _ body: (TimeEstimate.CTALoad) -> Void) throws(SimulationError) {
        try checkSize(t, p)
        let stream = Stream(t, p), d = p.d
        let input = Format.input.bytes(p.dtype), output = Format.output.bytes(p.dtype), fp32 = Format.fp32.bytes(p.dtype)
        // One fp32 scale per loaded Q, K or V tile in fp8 (docs/counting-rules.md §2), as the counts have it.
        let scale = p.dtype == .fp8 ? fp32 : 0
        let lastTile = t.cols(t.tc(p) - 1, p).count
        let empty = (0..<t.tr(p)).filter { stream.live[$0].isEmpty }.reduce(0) { $0 + t.rows($1, p).count }
        var current = TimeEstimate.CTALoad(), index = 0
        func add(_ g: Int, _ load: TimeEstimate.CTALoad) {
            // Row tiles come in stream order, so CTA indices never go back: flush on a change.
            if g != index {
                body(current)
                for _ in index + 1..<g { body(TimeEstimate.CTALoad()) }
                (current, index) = (TimeEstimate.CTALoad(), g)
            }
            current.kvBytes += load.kvBytes
            current.otherBytes += load.otherBytes
            current.scores += load.scores
            current.tiles += load.tiles
        }
        for inst in 0..<p.instances {
            let first = inst * stream.perInstance
            if empty > 0 {
                add(stream.total > 0 ? stream.cta(min(first, stream.total - 1)) : 0, TimeEstimate.CTALoad(otherBytes: empty * (d * output + fp32)))
            }
            for i in 0..<t.tr(p) where !stream.live[i].isEmpty {
                let rows = t.rows(i, p).count, live = stream.live[i]
                let a = first + stream.start[i], b = a + live.count
                let host = stream.cta(a), last = stream.cta(b - 1), partial = rows * (d + 1) * fp32
                for g in host...last {
                    let range = stream.range(g)
                    let mine = live.positions(max(a, range.lowerBound) - a..<min(b, range.upperBound) - a)
                    let kvRows = mine.covered { t.cols($0, p) }, hi = mine.upperBound, tiles = mine.count
                    // A paged cache reads whole blocks (the last tile's tail too) and one int32
                    // table entry per block for the K load and again for the V load (docs/counting-rules.md §12).
                    let readRows = p.pagedBlockSize.map { hi == t.tc(p) ? kvRows + ceilDiv(lastTile, $0) * $0 - lastTile : kvRows } ?? kvRows
                    let table = p.pagedBlockSize.map { 2 * (readRows / $0) * Format.int32.bytes(p.dtype) } ?? 0
                    var load = TimeEstimate.CTALoad(
                        kvBytes: 2 * readRows * d * input, otherBytes: rows * d * input + (1 + 2 * tiles) * scale + table,
                        scores: Double(rows * kvRows), tiles: tiles)
                    // The host merges the others' partials and writes O and LSE; the others write a partial.
                    load.otherBytes += g == host ? (last - host) * partial + rows * (d * output + fp32) : partial
                    add(g, load)
                }
            }
        }
        body(current)
        for _ in index + 1..<stream.ctas { body(TimeEstimate.CTALoad()) }
    }
}
