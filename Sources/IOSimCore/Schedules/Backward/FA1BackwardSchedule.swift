/// FlashAttention's backward (Dao et al. 2022, Algorithm 4, without dropout), one CTA per
/// (batch, head) as its forward: line 5 writes dQ = 0 (an fp32 accumulator) and dK = dV = 0 (in the
/// dtype) to HBM; the outer loop runs over the column tiles j that some row sees, loading Kⱼ, Vⱼ
/// and keeping dK̃ⱼ, dṼⱼ on chip; the inner loop over their live row tiles i loads Qᵢ, Oᵢ, dOᵢ,
/// dQᵢ (fp32), ℓᵢ, mᵢ, computes Dᵢ = rowsum(dOᵢ ∘ Oᵢ), P = exp(S − mᵢ)/ℓᵢ, dP, dS and the updates,
/// and writes dQᵢ back per pair (fp32, and in the dtype at i's last live column tile, as the
/// forward writes Oᵢ — no separate final pass). After the inner loop dKⱼ, dVⱼ are written in the
/// dtype, for every j: zeros when no row sees j.
///
/// Footprint: fa2 backward's + s·Br·d + 4·Br (Oᵢ, and a third row vector: ℓᵢ, mᵢ and Dᵢ where
/// fa2 holds LSEᵢ and Dᵢ; docs/tiles.md, "Footprints").
/// Closed form (non-causal, per head): reads 2Nk·d + Tc·(4Nd + 2N), writes (Tc + 1)·Nd + 4Nk·d.
public enum FA1BackwardSchedule: Schedule {
    public static let kind = ScheduleKind.fa1
    public static var pass: Pass { .backward }
    public static var launch: LaunchTraits { LaunchTraits(model: .perHead, timeModel: false) }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        let t = tiles.clamped(to: p)
        return BackwardSupport.fa2Footprint(t, p) + Format.output.bytes(p.dtype) * t.br * p.d + 4 * t.br
    }

    public static func paperTiles(_ p: AttentionProblem, capacity: Int) -> KernelConfig? { fa1PaperTiles(p, capacity: capacity) }

    public static func extraDataValues(_ p: AttentionProblem) -> Double { BackwardSupport.gradientValues(p) }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d, one = 0..<1
        try BackwardSupport.check(p, kind)
        m.partition(.splitQ(t.warps))
        m.kernel("backward", ctas: p.instances)
        // Asked for every column tile under a mask: computed once.
        let lastColumn = p.mask.hasStructure ? t.lastLiveColumns(p) : nil
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            // Line 5: dQ = 0 (fp32), dK = dV = 0 in HBM, written tile by tile from SRAM.
            try m.tiles(0..<t.tr(p), uniformBelow: p.n / t.br) { m, i throws(SimulationError) in
                let rows = t.rows(i, p)
                try m.alloc(.dq, rows: rows.count, cols: p.d, format: .fp32)
                try m.compute(.fill(.dq, 0))
                try m.store(.dQ, instance: inst, rows: rows, cols: d, format: .fp32, from: .dq)
                m.free(.dq)
            }
            try m.tiles(0..<t.tc(p), uniformBelow: p.nk / t.bc) { m, j throws(SimulationError) in
                let cols = t.cols(j, p)
                try m.alloc(.dk, rows: cols.count, cols: p.d, format: .fp32)
                try m.compute(.fill(.dk, 0))
                try m.store(.dK, instance: kv, rows: cols, cols: d, format: .output, from: .dk)
                try m.store(.dV, instance: kv, rows: cols, cols: d, format: .output, from: .dk)
                m.free(.dk)
            }
            func column(_ m: inout Machine, _ j: Int) throws(SimulationError) {
                let cols = t.cols(j, p), live = t.liveRowTiles(j, p)
                try m.startColumn(cols.count)
                if !live.isEmpty {
                    try m.load(.K, instance: kv, rows: cols, cols: d, format: .input, into: .k)
                    try m.load(.V, instance: kv, rows: cols, cols: d, format: .input, into: .v)
                    // Row tiles whose last live pair this is write dQᵢ in the dtype; each group of
                    // them, and of the others, is uniform over its full tiles.
                    func pair(_ m: inout Machine, _ i: Int) throws(SimulationError) {
                        let rows = t.rows(i, p)
                        try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                        try m.load(.O, instance: inst, rows: rows, cols: d, format: .output, into: .o)
                        try m.load(.dO, instance: inst, rows: rows, cols: d, format: .output, into: .dO)
                        try m.load(.dQ, instance: inst, rows: rows, cols: d, format: .fp32, into: .dq)
                        try m.load(.l, instance: inst, rows: rows, cols: one, format: .fp32, into: .l)
                        try m.load(.m, instance: inst, rows: rows, cols: one, format: .fp32, into: .m)
                        try m.alloc(.delta, rows: rows.count, cols: 1, format: .fp32)
                        try m.compute(.rowDot(a: .dO, b: .o, into: .delta))
                        try m.gradientBlock(rows: rows, cols: cols, fromLSE: false)
                        try m.compute(.gemm(a: .dp, b: .k, c: .dq, transB: false, scaled: true, accumulate: true))
                        let last = j == (lastColumn?[i] ?? t.liveColumnTiles(i, p).upperBound - 1)
                        try m.store(.dQ, instance: inst, rows: rows, cols: d, format: last ? .output : .fp32, from: .dq)
                        m.free(.q); m.free(.o); m.free(.dO); m.free(.dq); m.free(.l); m.free(.m)
                        m.free(.delta); m.free(.s); m.free(.dp)
                    }
                    for group in t.lastColumnGroups(j, p, lastColumn: lastColumn) { try m.tiles(group, uniformBelow: p.n / t.br, pair) }
                    m.free(.k)
                    m.free(.v)
                }
                try m.storeColumn(kvInstance: kv, cols: cols)
            }
            // Without a mask no column tile but the last is any row tile's last: the full ones
            // before it are uniform.
            if p.causal {
                for j in 0..<t.tc(p) { try column(&m, j) }
            } else {
                try m.tiles(0..<t.tc(p) - 1, uniformBelow: p.nk / t.bc, column)
                try column(&m, t.tc(p) - 1)
            }
        }
    }
}
