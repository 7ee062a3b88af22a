/// The schedules' traffic in closed form (DESIGN §4), per problem instance and summed over
/// instances. Each sums over the real (ragged) tile sizes; under a causal mask only live tile
/// pairs count. The simulator never uses these to count: tests check that executed counts equal
/// them exactly, and the `optimal` tile search uses them to rank candidates quickly — so the
/// causal sums are evaluated in O(log) time with floor sums, not by looping over tiles.
public enum ClosedForm {
    /// HBM traffic of `kind` with tiles `tiles` (clamped), totals over batch·heads; nil when a
    /// count would overflow Int64 (``checkedTraffic(_:_:_:capacity:)`` says so).
    public static func traffic(_ kind: ScheduleKind, _ p: AttentionProblem, _ tiles: Tiles, capacity: Int) -> TrafficCounts? {
        try? checkedTraffic(kind, p, tiles, capacity: capacity)
    }

    /// HBM traffic of `kind`, or ``SimulationError/countOverflow(_:)``.
    public static func checkedTraffic(_ kind: ScheduleKind, _ problem: AttentionProblem, _ tiles: Tiles,
                                      capacity: Int) throws(SimulationError) -> TrafficCounts {
        let p = problem.scheduled
        let t = tiles.clamped(to: p)
        var c = TrafficCounts()
        let (n, nk, d) = (p.n, p.nk, p.d)
        let (tr, tc) = (t.tr(p), t.tc(p))
        func mul(_ a: Int, _ b: Int) throws(SimulationError) -> Int { try .checkedMul(a, b) }
        func add(_ tensor: Tensor, reads: Int = 0, writes: Int = 0, _ format: Format) throws(SimulationError) {
            let b = format.bytes(p.dtype)
            c[tensor] = try .checkedSum(c[tensor], Transfer(reads: reads, writes: writes,
                                                            readBytes: mul(reads, b), writeBytes: mul(writes, b)))
        }
        // In fp8, one fp32 scale per loaded Q, K or V tile.
        func scales(_ tileLoads: Int) throws(SimulationError) {
            if p.dtype == .fp8 { try add(.scales, reads: tileLoads, .fp32) }
        }
        let live = LiveSums(t, p)
        switch kind {
        case .standard:
            let sReads = StandardSchedule.rowFits(p, capacity: capacity) ? n * nk : 2 * n * nk
            try add(.Q, reads: n * d, .input)
            try add(.K, reads: mul(tr * nk, d), .input)
            try add(.V, reads: mul(tr * nk, d), .input)
            try add(.S, reads: sReads, writes: n * nk, .output)
            try add(.P, reads: n * nk, writes: n * nk, .output)
            try add(.O, writes: n * d, .output)
            try scales(tr + 2 * tr * tc)
        case .fa2, .fa3:
            // Σᵢ over live column tiles of their real widths; a row tile with none loads nothing.
            try add(.Q, reads: live.liveQRows * d, .input)
            try add(.K, reads: mul(live.kvRows, d), .input)
            try add(.V, reads: mul(live.kvRows, d), .input)
            try add(.O, writes: n * d, .output)
            try add(.LSE, writes: n, .fp32)
            try scales(live.liveRowTiles + 2 * live.pairs)
        case .smallM:
            let dBlocks = (d + SmallMSchedule.dBlock(t, p) - 1) / SmallMSchedule.dBlock(t, p)
            try add(.Q, reads: mul(live.qRowsByPair, d), .input)
            try add(.K, reads: mul(live.kvRows, d), .input)
            try add(.V, reads: mul(live.kvRows, d), .input)
            try add(.P, reads: mul(dBlocks, live.entries), writes: live.entries, .output)
            try add(.l, reads: n, writes: n, .fp32)
            try add(.O, writes: n * d, .output)
            try scales(3 * dBlocks * live.pairs)
        case .fa1:
            let cols = LiveSums.Columns(t, p)
            try add(.K, reads: cols.kvRows * d, .input)
            try add(.V, reads: cols.kvRows * d, .input)
            try scales(2 * cols.count + live.pairs)
            try add(.Q, reads: mul(cols.qRows, d), .input)
            // O: initial fp32 write, fp32 read per live pair, fp32 write back except the last live
            // pair of each row tile, which writes the finished O in the output dtype.
            try add(.O, reads: mul(cols.qRows, d), writes: mul(cols.qRows, d), .fp32)
            try add(.O, writes: n * d, .output)
            try add(.l, reads: cols.qRows, writes: n + cols.qRows, .fp32)
            try add(.m, reads: cols.qRows, writes: n + cols.qRows, .fp32)
        }
        for i in c.byTensor.indices { c.byTensor[i] = try .checkedProduct(c.byTensor[i], p.instances) }
        _ = try c.checkedHBM()
        return c
    }
}

/// Σ_{i=0}^{n−1} ⌊(a·i + b)/m⌋ for n, a, b ≥ 0, m > 0, in O(log m) steps (the Euclid-like
/// reduction: take out ⌊a/m⌋ and ⌊b/m⌋, then swap the roles of a and m).
func floorSum(_ n: Int, _ m: Int, _ a: Int, _ b: Int) -> Int {
    var (n, m, a, b, sum) = (n, m, a, b, 0)
    while n > 0 {
        if a >= m { sum += (n - 1) * n / 2 * (a / m); a %= m }
        if b >= m { sum += n * (b / m); b %= m }
        let yMax = a * n + b
        if yMax < m { break }
        (n, b, m, a) = (yMax / m, yMax % m, a, m)
    }
    return sum
}

extension TrafficCounts {
    /// Every tensor's traffic times k.
    static func * (c: TrafficCounts, k: Int) -> TrafficCounts {
        var r = c
        r.byTensor = c.byTensor.map { $0 * k }
        return r
    }
}
