/// The schedules' traffic in closed form (DESIGN §4), per problem instance and summed over
/// instances. Each sums over the real (ragged) tile sizes; under a causal mask only live tile
/// pairs count. The simulator never uses these to count: tests check that executed counts equal
/// them exactly, and the `optimal` tile search uses them to rank candidates quickly.
public enum ClosedForm {
    /// HBM traffic of `kind` with tiles `tiles` (clamped), totals over batch·heads.
    public static func traffic(_ kind: ScheduleKind, _ p: AttentionProblem, _ tiles: Tiles, capacity: Int) -> TrafficCounts? {
        let t = tiles.clamped(to: p)
        var c = TrafficCounts()
        let (n, nk, d) = (p.n, p.nk, p.d)
        let (tr, tc) = (t.tr(p), t.tc(p))
        func add(_ tensor: Tensor, reads: Int = 0, writes: Int = 0, _ format: Format) {
            let b = format.bytes(p.dtype)
            c[tensor] = c[tensor] + Transfer(reads: reads, writes: writes, readBytes: reads * b, writeBytes: writes * b)
        }
        // In fp8, one fp32 scale per loaded Q, K or V tile.
        func scales(_ tileLoads: Int) {
            if p.dtype == .fp8 { add(.scales, reads: tileLoads, .fp32) }
        }
        // Row tile i's live column tiles (count, and K/V rows they cover); under a causal mask
        // they are 0…last, otherwise all.
        var livePairs = 0, kvRows = 0, aEntries = 0, qRowsByPair = 0
        if !p.causal {  // every pair is live: the sums have a closed form (the tile search calls this often)
            (livePairs, kvRows, aEntries, qRowsByPair) = (tr * tc, tr * nk, n * nk, n * tc)
        }
        for i in 0..<(p.causal ? tr : 0) {
            let last = t.lastLiveColumnTile(i, p), rows = t.rows(i, p).count
            let covered = t.cols(last, p).upperBound
            livePairs += last + 1
            kvRows += covered
            aEntries += rows * covered
            qRowsByPair += rows * (last + 1)
        }
        switch kind {
        case .standard:
            let sReads = StandardSchedule.rowFits(p, capacity: capacity) ? n * nk : 2 * n * nk
            add(.Q, reads: n * d, .input)
            add(.K, reads: tr * nk * d, .input)
            add(.V, reads: tr * nk * d, .input)
            add(.S, reads: sReads, writes: n * nk, .output)
            add(.P, reads: n * nk, writes: n * nk, .output)
            add(.O, writes: n * d, .output)
            scales(tr + 2 * tr * tc)
        case .fa2, .fa3:
            // Σᵢ over live column tiles of their real widths.
            add(.Q, reads: n * d, .input)
            add(.K, reads: kvRows * d, .input)
            add(.V, reads: kvRows * d, .input)
            add(.O, writes: n * d, .output)
            add(.LSE, writes: n, .fp32)
            scales(tr + 2 * livePairs)
        case .smallM:
            let dBlocks = (d + SmallMSchedule.dBlock(t, p) - 1) / SmallMSchedule.dBlock(t, p)
            add(.Q, reads: qRowsByPair * d, .input)
            add(.K, reads: kvRows * d, .input)
            add(.V, reads: kvRows * d, .input)
            add(.P, reads: dBlocks * aEntries, writes: aEntries, .output)
            add(.l, reads: n, writes: n, .fp32)
            add(.O, writes: n * d, .output)
            scales(3 * dBlocks * livePairs)
        case .fa1:
            // Σⱼ over live row tiles of their real heights, and the column tiles with any live pair.
            var liveRows = 0, liveColumnRows = 0, liveColumns = 0
            if !p.causal { (liveRows, liveColumnRows, liveColumns) = (n * tc, nk, tc) }
            for j in 0..<(p.causal ? tc : 0) {
                let first = t.firstLiveRowTile(j, p)
                guard first < tr else { continue }
                liveRows += n - first * t.br
                liveColumnRows += t.cols(j, p).count
                liveColumns += 1
            }
            add(.K, reads: liveColumnRows * d, .input)
            add(.V, reads: liveColumnRows * d, .input)
            scales(2 * liveColumns + livePairs)
            add(.Q, reads: liveRows * d, .input)
            // O: initial fp32 write, fp32 read per live pair, fp32 write back except the last live
            // pair of each row tile, which writes the finished O in the output dtype.
            add(.O, reads: liveRows * d, writes: n * d + (liveRows - n) * d, .fp32)
            add(.O, writes: n * d, .output)
            add(.l, reads: liveRows, writes: n + liveRows, .fp32)
            add(.m, reads: liveRows, writes: n + liveRows, .fp32)
        }
        c = c * p.instances
        return c
    }
}

extension TrafficCounts {
    /// Every tensor's traffic times k.
    static func * (c: TrafficCounts, k: Int) -> TrafficCounts {
        var r = c
        r.byTensor = c.byTensor.map { $0 * k }
        return r
    }
}
