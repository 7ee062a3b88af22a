/// On-chip buffers a schedule can hold. S and P share one buffer (`s`), as in FlashAttention.
public enum Buffer: Int, CaseIterable, Sendable {
    /// Qᵢ, Kⱼ, Vⱼ tiles.
    case q, k, v
    /// A score / probability block (fp32), or standard attention's S or P tile.
    case s
    /// The fp32 output accumulator (FA2's Oᵢ, FA1's P̃ᵢⱼVⱼ, standard's O block).
    case acc
    /// FA1's running Oᵢ loaded from HBM (fp32).
    case o
    /// Row statistics: running max and sum.
    case m, l
    /// A row (or row chunk) of S or P in standard attention's softmax kernel.
    case row
    /// FA3's K/V ring: the stages beyond the one being consumed (tiles the producer has fetched ahead).
    case ring

    @inline(__always) var bit: UInt16 { 1 << UInt16(rawValue) }
}

/// A compute step of a schedule. The counting machine only checks that its operands are resident
/// and counts their SRAM traffic; the data machine performs it.
public enum ComputeStep: Sendable {
    /// s = scale·q·kᵀ for Q rows `rows` and K rows `cols`; causal-masked entries become −∞ when `masked`.
    case scores(rows: Range<Int>, cols: Range<Int>, masked: Bool)
    /// FA2's online softmax over s: new max m, P = exp(s − m) in place (rounded to the input dtype),
    /// l = e^{m_old − m}·l + rowsum(P), acc scaled by e^{m_old − m}.
    case onlineSoftmax
    /// acc += s·v (s holds P).
    case accumulate
    /// FA2's epilogue: acc /= l, m becomes the LSE.
    case finish
    /// FA1 Algorithm 1 lines 9–12: m̃, P̃, ℓ̃ from s; acc = P̃·v; new m, ℓ; o rescaled and updated.
    case fa1Update
    /// Fill a buffer (FA1's initial O = 0, ℓ = 0, m = −∞, written to HBM).
    case fill(Buffer, Double)
    /// Standard softmax of one whole row r of S held in `row`, in place into P (causal mask here).
    case softmaxRow(r: Int)
    /// Standard streaming softmax, pass 1: fold the chunk `cols` of row r into the running max and
    /// sum, which stay in registers (`first` starts a new row).
    case rowStatistics(r: Int, cols: Range<Int>, first: Bool)
    /// Standard streaming softmax, pass 2: P = exp(S − m)/ℓ for the chunk `cols` of row r.
    case normalize(r: Int, cols: Range<Int>)
    /// FA1's split-K epilogue: every warp writes its partial O, m and ℓ to SRAM and they are read
    /// back to be combined. Costs SRAM traffic only; the data machine has nothing to do.
    case combineWarps
    /// Saha–Ye: s (+)= scale·q·kᵀ over one block of d (`first` starts the sum).
    case partialScores(first: Bool)
    /// Saha–Ye: s = exp(s) (0 where causal-masked) for Q rows `rows`, K rows `cols`; l += rowsum.
    case exponentiate(rows: Range<Int>, cols: Range<Int>)
    /// Saha–Ye: acc /= l, row by row (rows with l = 0 become 0).
    case divideByRowSum

    /// Buffers read and written, as bit masks of `Buffer`.
    @inline(__always) var operands: (reads: UInt16, writes: UInt16) {
        switch self {
        case .scores: (Buffer.q.bit | Buffer.k.bit, Buffer.s.bit)
        case .onlineSoftmax: (Buffer.s.bit | Buffer.m.bit | Buffer.l.bit | Buffer.acc.bit,
                              Buffer.s.bit | Buffer.m.bit | Buffer.l.bit | Buffer.acc.bit)
        case .accumulate: (Buffer.s.bit | Buffer.v.bit | Buffer.acc.bit, Buffer.acc.bit)
        case .finish: (Buffer.acc.bit | Buffer.m.bit | Buffer.l.bit, Buffer.acc.bit | Buffer.m.bit)
        case .fa1Update: (Buffer.s.bit | Buffer.v.bit | Buffer.o.bit | Buffer.m.bit | Buffer.l.bit,
                          Buffer.acc.bit | Buffer.o.bit | Buffer.m.bit | Buffer.l.bit)
        case let .fill(b, _): (0, b.bit)
        case .softmaxRow, .rowStatistics, .normalize: (Buffer.row.bit, Buffer.row.bit)
        case .combineWarps: (Buffer.acc.bit | Buffer.m.bit | Buffer.l.bit, Buffer.acc.bit | Buffer.m.bit | Buffer.l.bit)
        case let .partialScores(first): (Buffer.q.bit | Buffer.k.bit | (first ? 0 : Buffer.s.bit), Buffer.s.bit)
        case .exponentiate: (Buffer.s.bit | Buffer.l.bit, Buffer.s.bit | Buffer.l.bit)
        case .divideByRowSum: (Buffer.acc.bit | Buffer.l.bit, Buffer.acc.bit)
        }
    }
}

/// How a thread block's warps share one tile pair's operands (DESIGN §3, SRAM-side counts): an
/// operand tile is read from SRAM once per warp that uses it.
public enum WarpPartition: Sendable, Equatable {
    /// One reader per operand (standard attention's kernels, small-m).
    case single
    /// FA2/FA3: each of w warps (or warpgroups) owns ⌈Br/w⌉ rows of Qᵢ and reads all of Kⱼ and Vⱼ.
    case splitQ(Int)
    /// FA1: each of w warps owns a slice of Kⱼ, Vⱼ and reads all of Qᵢ; partial O, m, ℓ are
    /// combined through SRAM.
    case splitK(Int)
}

/// What a schedule runs against: a two-level memory with an SRAM of capacity M bytes.
/// A schedule is written once, generic over the machine, and runs on ``CountingMachine``
/// (counts only) or ``DataMachine`` (real values too).
public protocol TileMachine {
    var problem: AttentionProblem { get }
    /// SRAM capacity M in bytes.
    var capacity: Int { get }
    /// HBM → SRAM: `rows × cols` elements of tensor `t` of problem instance `instance` into `buffer`.
    mutating func load(_ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
                       into buffer: Buffer) throws(SimulationError)
    /// SRAM → HBM from a resident buffer.
    mutating func store(_ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
                        from buffer: Buffer) throws(SimulationError)
    /// Allocates an on-chip buffer of `rows × cols` elements, plus `scales` fp32 tile scales
    /// (fp8 tiles fetched ahead).
    mutating func alloc(_ buffer: Buffer, rows: Int, cols: Int, format: Format, scales: Int) throws(SimulationError)
    /// Declares how warps share the operands of the compute steps that follow.
    mutating func partition(_ p: WarpPartition)
    mutating func free(_ buffer: Buffer)
    mutating func compute(_ step: ComputeStep) throws(SimulationError)
    /// Runs `body` for every index of `range`, whose iterations the schedule promises move
    /// identical tile shapes. The counting machine runs the first and replays its counts for the
    /// rest; the data machine runs them all.
    mutating func uniform(_ range: Range<Int>, _ body: (inout Self, Int) throws(SimulationError) -> Void) throws(SimulationError)
}

extension TileMachine {
    @inline(__always)
    public mutating func alloc(_ buffer: Buffer, rows: Int, cols: Int, format: Format) throws(SimulationError) {
        try alloc(buffer, rows: rows, cols: cols, format: format, scales: 0)
    }

    public mutating func uniform(_ range: Range<Int>, _ body: (inout Self, Int) throws(SimulationError) -> Void) throws(SimulationError) {
        for j in range { try body(&self, j) }
    }

    /// Runs `body` over `range`: indices below `uniformEnd` (full tiles) through ``uniform(_:_:)``,
    /// the rest (a ragged last tile) one by one.
    @inline(__always)
    public mutating func tiles(_ range: Range<Int>, uniformBelow uniformEnd: Int,
                               _ body: (inout Self, Int) throws(SimulationError) -> Void) throws(SimulationError) {
        let split = Swift.min(Swift.max(range.lowerBound, uniformEnd), range.upperBound)
        try uniform(range.lowerBound..<split, body)
        for j in split..<range.upperBound { try body(&self, j) }
    }
}

extension TileMachine {
    /// acc = Σⱼ Pᵢⱼ·Vⱼ[:, block] over column tiles `columnTiles`, streaming P tiles (from HBM, in
    /// the output dtype) and V tiles through SRAM: standard attention's third kernel and Saha–Ye's
    /// second phase. Leaves `acc` (rows × block, fp32) allocated for the caller to finish and store.
    mutating func accumulatePV(_ t: Tiles, instance: Int, kvInstance: Int, rows: Range<Int>, block: Range<Int>,
                               columnTiles: Range<Int>) throws(SimulationError) {
        let p = problem
        try alloc(.acc, rows: rows.count, cols: block.count, format: .fp32)
        try compute(.fill(.acc, 0))
        try tiles(columnTiles, uniformBelow: p.nk / t.bc) { m, j throws(SimulationError) in
            let cols = t.cols(j, p)
            try m.load(.P, instance: instance, rows: rows, cols: cols, format: .output, into: .s)
            try m.load(.V, instance: kvInstance, rows: cols, cols: block, format: .input, into: .v)
            try m.compute(.accumulate)
            m.free(.s)
            m.free(.v)
        }
    }
}

extension AttentionProblem {
    /// The K/V instance that query instance `qi` reads (GQA groups share a K/V head).
    @inline(__always) public func kvInstance(_ qi: Int) -> Int {
        let b = qi / heads, h = qi % heads
        return b * kvHeads + h / (heads / kvHeads)
    }
}
