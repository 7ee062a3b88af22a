/// Standard attention's backward (FlashAttention paper, Algorithm 3) as five kernels, with the
/// S-sized P, dP and dS in HBM in the output dtype:
/// 1. `dv`: per column tile j, stream Pᵢⱼ and dOᵢ over i; write dVⱼ = Σᵢ PᵢⱼᵀdOᵢ once;
/// 2. `dp`: per row tile i, dOᵢ resident, stream Vⱼ; write each dPᵢⱼ = dOᵢVⱼᵀ;
/// 3. `ds`: row by row, dS = P ∘ (dP − rowsum(P ∘ dP)): when a row of P and a row of dP fit
///    (2·Nk·s ≤ M) one read of each; else a sum pass and an elementwise pass over chunks as large
///    as M holds (two reads of each); dS written once;
/// 4. `dq`: per row tile i, stream dSᵢⱼ and Kⱼ; write dQᵢ = scale·Σⱼ dSᵢⱼKⱼ once;
/// 5. `dk`: per column tile j, stream dSᵢⱼ and Qᵢ; write dKⱼ = scale·Σᵢ dSᵢⱼᵀQᵢ once.
/// Every tile is computed under a mask too (the mask lives in P), so the counts do not depend on it.
///
/// Footprint: the largest of s·(Br·Bc + Br·d) + 4·Bc·d (kernels 1 and 5), s·(Br·d + Bc·d) + 4·Br·Bc
/// (kernel 2), s·(Br·Bc + Bc·d) + 4·Br·d (kernel 4) and kernel 3's two rows or chunks.
public enum StandardBackwardSchedule: Schedule {
    public static let kind = ScheduleKind.standard
    public static var pass: Pass { .backward }
    public static var launch: LaunchTraits { LaunchTraits(model: .bulk, timeModel: false) }
    /// P, dP and dS live in HBM besides the gradients.
    public static func extraDataValues(_ p: AttentionProblem) -> Double {
        3 * Double(p.n) * Double(p.nk) + BackwardSupport.gradientValues(p)
    }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        let t = tiles.clamped(to: p), s = p.dtype.size, so = Format.output.bytes(p.dtype), d = p.d
        return max(
            so * t.br * t.bc + so * t.br * d + 4 * t.bc * d,
            so * t.br * d + s * t.bc * d + 4 * t.br * t.bc,
            so * t.br * t.bc + s * t.bc * d + 4 * t.br * d,
            2 * so * rowChunk(p, capacity: capacity))
    }

    /// Elements of a row of P (and of dP) kernel 3 holds at once: the whole row when both rows
    /// fit in M (equality fits), else the largest chunk of each that does.
    static func rowChunk(_ p: AttentionProblem, capacity: Int) -> Int {
        min(p.nk, max(1, capacity / (2 * Format.output.bytes(p.dtype))))
    }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d
        try BackwardSupport.check(p, kind)
        let chunk = rowChunk(p, capacity: m.capacity), chunks = (p.nk + chunk - 1) / chunk
        let (uniformRows, uniformCols) = (p.n / t.br, p.nk / t.bc)
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            /// Kernels dv and dk: per column tile j, Σᵢ (the tile ij of `scores`)ᵀ · (rows i of
            /// `other`) accumulated in fp32 (scaled for dK), written once as `result`.
            func columnSums(
                _ m: inout Machine, _ name: String, scores: (tensor: Tensor, into: Operand),
                other: (tensor: Tensor, format: Format, into: Operand), acc: Operand,
                scaled: Bool, result: Tensor
            ) throws(SimulationError) {
                m.kernel(name, ctas: t.tc(p) * p.instances)
                try m.tiles(0..<t.tc(p), uniformBelow: uniformCols) { m, j throws(SimulationError) in
                    let cols = t.cols(j, p)
                    try m.alloc(acc, rows: cols.count, cols: p.d, format: .fp32)
                    try m.compute(.fill(acc, 0))
                    try m.tiles(0..<t.tr(p), uniformBelow: uniformRows) { m, i throws(SimulationError) in
                        let rows = t.rows(i, p)
                        try m.load(scores.tensor, instance: inst, rows: rows, cols: cols, format: .output, into: scores.into)
                        try m.load(other.tensor, instance: inst, rows: rows, cols: d, format: other.format, into: other.into)
                        try m.compute(.gemmTransA(a: scores.into, b: other.into, c: acc, scaled: scaled, accumulate: true, roundA: false))
                        m.free(scores.into); m.free(other.into)
                    }
                    try m.store(result, instance: kv, rows: cols, cols: d, format: .output, from: acc)
                    m.free(acc)
                }
            }
            try columnSums(&m, "dv", scores: (.P, .s), other: (.dO, .output, .dO), acc: .dv, scaled: false, result: .dV)
            m.kernel("dp", ctas: t.tr(p) * p.instances)
            try m.tiles(0..<t.tr(p), uniformBelow: uniformRows) { m, i throws(SimulationError) in
                let rows = t.rows(i, p)
                try m.load(.dO, instance: inst, rows: rows, cols: d, format: .output, into: .dO)
                try m.tiles(0..<t.tc(p), uniformBelow: uniformCols) { m, j throws(SimulationError) in
                    let cols = t.cols(j, p)
                    try m.load(.V, instance: kv, rows: cols, cols: d, format: .input, into: .v)
                    try m.alloc(.dp, rows: rows.count, cols: cols.count, format: .fp32)
                    try m.compute(.gemm(a: .dO, b: .v, c: .dp, transB: true, scaled: false, accumulate: false))
                    try m.store(.dP, instance: inst, rows: rows, cols: cols, format: .output, from: .dp)
                    m.free(.dp); m.free(.v)
                }
                m.free(.dO)
            }
            // A CTA per row; every row moves the same chunks, so the rows are one uniform loop.
            m.kernel("ds", ctas: p.n * p.instances)
            try m.uniform(0..<p.n) { m, r throws(SimulationError) in
                let row = r..<r + 1
                func load(_ m: inout Machine, _ cols: Range<Int>) throws(SimulationError) {
                    try m.load(.P, instance: inst, rows: row, cols: cols, format: .output, into: .row)
                    try m.load(.dP, instance: inst, rows: row, cols: cols, format: .output, into: .dp)
                }
                if chunks == 1 {
                    try load(&m, 0..<p.nk)
                    try m.compute(.rowSoftmaxGradient(p: .row, dp: .dp))
                    try m.store(.dS, instance: inst, rows: row, cols: 0..<p.nk, format: .output, from: .dp)
                    m.free(.row); m.free(.dp)
                    return
                }
                for c in 0..<chunks {
                    try load(&m, c * chunk..<min((c + 1) * chunk, p.nk))
                    try m.compute(.rowGradientStatistics(p: .row, dp: .dp, first: c == 0))
                    m.free(.row); m.free(.dp)
                }
                for c in 0..<chunks {
                    let cols = c * chunk..<min((c + 1) * chunk, p.nk)
                    try load(&m, cols)
                    try m.compute(.rowGradientApply(p: .row, dp: .dp))
                    try m.store(.dS, instance: inst, rows: row, cols: cols, format: .output, from: .dp)
                    m.free(.row); m.free(.dp)
                }
            }
            m.kernel("dq", ctas: t.tr(p) * p.instances)
            try m.tiles(0..<t.tr(p), uniformBelow: uniformRows) { m, i throws(SimulationError) in
                let rows = t.rows(i, p)
                try m.alloc(.dq, rows: rows.count, cols: p.d, format: .fp32)
                try m.compute(.fill(.dq, 0))
                try m.tiles(0..<t.tc(p), uniformBelow: uniformCols) { m, j throws(SimulationError) in
                    let cols = t.cols(j, p)
                    try m.load(.dS, instance: inst, rows: rows, cols: cols, format: .output, into: .dp)
                    try m.load(.K, instance: kv, rows: cols, cols: d, format: .input, into: .k)
                    try m.compute(.gemm(a: .dp, b: .k, c: .dq, transB: false, scaled: true, accumulate: true))
                    m.free(.dp); m.free(.k)
                }
                try m.store(.dQ, instance: inst, rows: rows, cols: d, format: .output, from: .dq)
                m.free(.dq)
            }
            try columnSums(&m, "dk", scores: (.dS, .dp), other: (.Q, .input, .q), acc: .dk, scaled: true, result: .dK)
        }
    }
}
