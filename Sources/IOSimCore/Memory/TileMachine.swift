/// The role an on-chip buffer plays. S and P share one buffer (`s`), as in FlashAttention.
public enum Role: Int, CaseIterable, Sendable {
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
    /// Backward pass (docs/counting-rules.md §8a): a loaded dOᵢ tile; the fp32 dQ, dK, dV accumulators; the dP/dS
    /// block (or standard's dP row); the loaded LSEᵢ and Dᵢ = rowsum(dOᵢ ∘ Oᵢ).
    case dO, dq, dk, dv, dp, lse, delta
}

/// A handle to an on-chip buffer: its role and which buffer of that role (FA3's K/V ring holds
/// one per pipeline stage). ``TileMachine/alloc(_:rows:cols:format:scales:)`` returns it.
public struct Operand: Hashable, Sendable, CustomStringConvertible {
    public var role: Role
    public var index: Int

    public init(_ role: Role, _ index: Int = 0) {
        self.role = role
        self.index = index
    }

    public static let q = Operand(.q), k = Operand(.k), v = Operand(.v), s = Operand(.s), acc = Operand(.acc)
    public static let o = Operand(.o), m = Operand(.m), l = Operand(.l), row = Operand(.row)
    public static let dO = Operand(.dO), dq = Operand(.dq), dk = Operand(.dk), dv = Operand(.dv)
    public static let dp = Operand(.dp), lse = Operand(.lse), delta = Operand(.delta)

    /// Buffers of one role a machine can hold at once.
    public static let maxIndex = 128
    /// A dense index for per-buffer storage.
    @inline(__always) var slot: Int { role.rawValue + Role.allCases.count * index }
    static var slots: Int { Role.allCases.count * maxIndex }

    public var description: String { index == 0 ? "\(role)" : "\(role)[\(index)]" }
}

/// Up to six operands, stored inline (no allocation: counting lists them for every operation).
public struct OperandList: Sendable {
    public private(set) var count = 0
    private var a = Operand.q, b = Operand.q, c = Operand.q, d = Operand.q, e = Operand.q, f = Operand.q

    init(_ items: Operand...) {
        for x in items { append(x) }
    }

    static let empty = OperandList()

    private mutating func append(_ x: Operand) {
        switch count {
        case 0: a = x
        case 1: b = x
        case 2: c = x
        case 3: d = x
        case 4: e = x
        default: f = x
        }
        count += 1
    }

    @inline(__always) public subscript(_ i: Int) -> Operand {
        switch i {
        case 0: a
        case 1: b
        case 2: c
        case 3: d
        case 4: e
        default: f
        }
    }
}

/// What a schedule computes on resident buffers. Each operation names its operands; the counting
/// machine checks they are resident and counts the SRAM traffic of the shared-memory ones (tiles
/// loaded from HBM) under the current ``WarpPartition``; the data machine performs it, once per
/// operation kind. The softmax steps stay whole operations, as the papers' lines are: their SRAM
/// traffic (FA1 reads and writes Oᵢ, mᵢ, ℓᵢ once per pair) is defined at that granularity.
public enum Operation: Sendable {
    /// c = α·a·b (a·bᵀ when `transB`), plus c when `accumulate`; α is the score scale when
    /// `scaled`, else 1. Shapes come from the operands.
    case gemm(a: Operand, b: Operand, c: Operand, transB: Bool, scaled: Bool, accumulate: Bool)
    /// Entries of block `scores` (problem rows `rows`, keys `cols`) that the mask hides become −∞.
    case mask(Operand, rows: Range<Int>, cols: Range<Int>)
    /// Every element of the buffer becomes `value`.
    case fill(Operand, Double)
    /// FlashAttention-2's online softmax over `scores`: new row max, P = exp(S − max) in place
    /// (rounded to the input dtype), sum = e^{old − new}·sum + rowsum(P), acc scaled by e^{old − new}.
    case onlineSoftmax(scores: Operand, max: Operand, sum: Operand, acc: Operand)
    /// acc /= sum row by row (rows with sum 0 become 0); with `max`, max becomes the LSE.
    case normalizeRows(acc: Operand, sum: Operand, max: Operand?)
    /// FlashAttention Algorithm 1 lines 9–12: tile statistics and P̃ from `scores`, scratch = P̃·v,
    /// new max and sum, o rescaled and updated.
    case fa1Update(scores: Operand, v: Operand, o: Operand, max: Operand, sum: Operand, scratch: Operand)
    /// FA1's split-K epilogue: every warp writes its partial acc, max and sum to SRAM and they are
    /// read back to be combined (SRAM traffic only).
    case combineWarps(acc: Operand, max: Operand, sum: Operand)
    /// Standard attention's softmax of a whole row r of S held in `row`, in place into P.
    case rowSoftmax(row: Operand, r: Int)
    /// Streaming softmax pass 1: fold the chunk `cols` of row r into the running max and sum
    /// (registers; `first` starts a row).
    case rowStatistics(row: Operand, r: Int, cols: Range<Int>, first: Bool)
    /// Streaming softmax pass 2: P = exp(S − max)/sum over the chunk `cols` of row r.
    case rowNormalize(row: Operand, r: Int, cols: Range<Int>)
    /// Saha–Ye: scores = exp(scores) with no max subtracted; sum += rowsum.
    case expAccumulate(scores: Operand, sum: Operand)
    /// Split-KV's combine, pass 1: max = max(max, value) row by row.
    case foldMax(value: Operand, max: Operand)
    /// Split-KV's combine, pass 2: w = exp(partLSE − max) (0 for an empty split), sum += w,
    /// acc += w·part, row by row.
    case mergePartial(part: Operand, partLSE: Operand, max: Operand, sum: Operand, acc: Operand)
    /// Lean Attention's host merge, one pass: with m′ = max(max, partLSE), acc = acc·e^{max−m′} +
    /// part·e^{partLSE−m′}, sum = sum·e^{max−m′} + e^{partLSE−m′}, max = m′ (row by row).
    case mergeOnline(part: Operand, partLSE: Operand, max: Operand, sum: Operand, acc: Operand)
    /// vLLM's reduce kernel, first step (PagedAttention v2): `max` (1 × 1) becomes the largest of
    /// the partitions' maxima `maxes` (k × 1), each of the k exp sums `sums` is rescaled in
    /// place to sums[s]·e^{maxes[s] − max} (0 for an empty partition) and `sum` (1 × 1) is their
    /// total.
    case partitionWeights(maxes: Operand, sums: Operand, max: Operand, sum: Operand)
    /// vLLM's reduce kernel, second step: acc += weights[index]·part (part 1 × d, a partition's
    /// normalised output).
    case accumulatePartition(part: Operand, weights: Operand, index: Int, acc: Operand)
    /// ChunkAttention's sequence-first merge of a shared chunk's partial result (Ye et al. 2024,
    /// `attn_seq_first_kernel`): `part` (rows × d) is the chunk's unnormalised Σ e^{s − partMax}·v,
    /// `partMax` and `partSum` its row max and exp sum. With m′ = max(max, partMax),
    /// a = e^{max − m′}, b = e^{partMax − m′}: acc = a·acc + b·part, sum = a·sum + b·partSum,
    /// max = m′ (row by row).
    case mergeChunk(part: Operand, partMax: Operand, partSum: Operand, max: Operand, sum: Operand, acc: Operand)
    /// c = α·aᵀ·b (+ c when `accumulate`): the backward's dVⱼ += PᵀdOᵢ and dKⱼ += dSᵀQᵢ. With
    /// `roundA`, a enters the GEMM rounded to the input dtype (FlashAttention converts the fp32 P
    /// to fp16/bf16 for its tensor-core GEMM).
    case gemmTransA(a: Operand, b: Operand, c: Operand, scaled: Bool, accumulate: Bool, roundA: Bool)
    /// Backward, from the forward's LSE: P = exp(S − LSE) in place (fp32; a row whose LSE is −∞,
    /// which sees no key, becomes 0).
    case probabilities(scores: Operand, lse: Operand)
    /// FlashAttention's backward (Algorithm 4 line 13), from the forward's statistics:
    /// P = exp(S − m)/ℓ in place (a row with ℓ = 0 becomes 0).
    case probabilitiesFromStatistics(scores: Operand, max: Operand, sum: Operand)
    /// D = rowsum(a ∘ b) into `into` (rows × 1): Dᵢ = rowsum(dOᵢ ∘ Oᵢ).
    case rowDot(a: Operand, b: Operand, into: Operand)
    /// dS = P ∘ (dP − D) into `dp`, row by row, rounded to the input dtype (it enters the dQ
    /// and dK GEMMs in it).
    case softmaxGradient(p: Operand, dp: Operand, delta: Operand)
    /// Standard backward kernel 3 on a whole row: `dp` becomes P ∘ (dP − rowsum(P ∘ dP)).
    case rowSoftmaxGradient(p: Operand, dp: Operand)
    /// Streaming pass 1: fold Σ P ∘ dP over a chunk into the row's D (registers; `first` starts
    /// a row).
    case rowGradientStatistics(p: Operand, dp: Operand, first: Bool)
    /// Streaming pass 2: `dp` becomes P ∘ (dP − D) over the chunk.
    case rowGradientApply(p: Operand, dp: Operand)

    /// How many warps read operand `b` from SRAM in this operation under `partition` (docs/counting-rules.md §8):
    /// a GEMM split over the rows of `a` (split-Q) has every warp read all of `b`; one split over
    /// the keys (split-K, FA1's a·bᵀ) has every warp read all of `a`; every other operand, and
    /// every other operation, is read once in total. `rows` gives a resident buffer's rows.
    /// The backward's aᵀ·b splits its output's rows (the columns of `a`) over the warps, so
    /// every warp reads all of `b` (docs/counting-rules.md).
    @inline(__always)
    func readers(of x: Operand, _ partition: WarpPartition, rows: (Operand) -> Int, cols: (Operand) -> Int) -> Int {
        if case let .gemmTransA(a, b, _, _, _, _) = self {
            guard case let .splitQ(w) = partition else { return 1 }
            return x == b ? min(w, cols(a)) : 1
        }
        guard case let .gemm(a, b, _, transB, _, _) = self else { return 1 }
        switch partition {
        case .single: return 1
        case let .splitQ(w): return x == b ? min(w, rows(a)) : 1
        case let .splitK(w): return transB && x == a ? min(w, rows(b)) : 1
        }
    }

    /// Buffers read and written (inline lists: counting runs this for every executed operation).
    var operands: (reads: OperandList, writes: OperandList) {
        typealias L = OperandList
        switch self {
        case let .gemm(a, b, c, _, _, accumulate): return (accumulate ? L(a, b, c) : L(a, b), L(c))
        case let .mask(s, _, _): return (L(s), L(s))
        case let .fill(b, _): return (.empty, L(b))
        case let .onlineSoftmax(s, m, l, acc): return (L(s, m, l, acc), L(s, m, l, acc))
        case let .normalizeRows(acc, l, .some(m)): return (L(acc, m, l), L(acc, m))
        case let .normalizeRows(acc, l, .none): return (L(acc, l), L(acc))
        case let .fa1Update(s, v, o, m, l, scratch): return (L(s, v, o, m, l), L(scratch, o, m, l))
        case let .combineWarps(acc, m, l): return (L(acc, m, l), L(acc, m, l))
        case let .rowSoftmax(row, _), let .rowStatistics(row, _, _, _), let .rowNormalize(row, _, _): return (L(row), L(row))
        case let .expAccumulate(s, l): return (L(s, l), L(s, l))
        case let .foldMax(x, m): return (L(x, m), L(m))
        case let .mergePartial(o, lse, m, l, acc): return (L(o, lse, m, l, acc), L(l, acc))
        case let .mergeOnline(o, lse, m, l, acc): return (L(o, lse, m, l, acc), L(m, l, acc))
        case let .partitionWeights(x, w, m, l): return (L(x, w), L(w, m, l))
        case let .accumulatePartition(o, w, _, acc): return (L(o, w, acc), L(acc))
        case let .mergeChunk(o, pm, pl, m, l, acc): return (L(o, pm, pl, m, l, acc), L(m, l, acc))
        case let .gemmTransA(a, b, c, _, accumulate, _): return (accumulate ? L(a, b, c) : L(a, b), L(c))
        case let .probabilities(s, lse): return (L(s, lse), L(s))
        case let .probabilitiesFromStatistics(s, m, l): return (L(s, m, l), L(s))
        case let .rowDot(a, b, d): return (L(a, b), L(d))
        case let .softmaxGradient(p, dp, d): return (L(p, dp, d), L(dp))
        case let .rowSoftmaxGradient(p, dp), let .rowGradientStatistics(p, dp, _), let .rowGradientApply(p, dp):
            return (L(p, dp), L(dp))
        }
    }
}

/// How a thread block's warps share one tile pair's operands (SRAM-side counts, docs/counting-rules.md §8): an
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
    mutating func load(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        into buffer: Operand) throws(SimulationError)
    /// SRAM → HBM from a resident buffer.
    mutating func store(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        from buffer: Operand) throws(SimulationError)
    /// SRAM → HBM of row `bufferRow` of a resident buffer to row `row` of tensor `t`: a kernel
    /// whose rows go to scattered places (vLLM's partials, laid out per query row).
    mutating func storeRow(
        _ t: Tensor, instance: Int, row: Int, cols: Range<Int>, format: Format,
        from buffer: Operand, bufferRow: Int) throws(SimulationError)
    /// SRAM → HBM as an atomic add performed at the memory side (`atomicAdd`, TMA reduce-add):
    /// counted as a write of the region, never as a read (docs/counting-rules.md §1).
    mutating func reduce(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        from buffer: Operand) throws(SimulationError)
    /// HBM → SRAM reads of `elements` elements of tensor `t` that bring no value the arithmetic
    /// uses: the int32 block-table entries a paged load looks up, and the padded tail of a
    /// partly filled cache block that a paged load reads whole (docs/counting-rules.md §12). Counted as a load
    /// is (HBM reads, SRAM writes); no buffer holds them.
    mutating func fetch(_ t: Tensor, elements: Int, format: Format) throws(SimulationError)
    /// Starts (or returns to) kernel `name`, a grid of `ctas` CTAs: the transfers that follow are
    /// its traffic. Kernels are reported in the order they are first named.
    mutating func kernel(_ name: String, ctas: Int)
    /// Allocates an on-chip buffer of `rows × cols` elements, plus `scales` fp32 tile scales
    /// (fp8 tiles fetched ahead).
    @discardableResult
    mutating func alloc(_ buffer: Operand, rows: Int, cols: Int, format: Format, scales: Int) throws(SimulationError) -> Operand
    /// Declares how warps share the operands of the compute steps that follow.
    mutating func partition(_ p: WarpPartition)
    mutating func free(_ buffer: Operand)
    mutating func compute(_ op: Operation) throws(SimulationError)
    /// Runs `body` for every index of `range`, whose iterations the schedule promises move
    /// identical tile shapes. The counting machine runs the first and replays its counts for the
    /// rest; the data machine runs them all.
    mutating func uniform(_ range: Range<Int>, _ body: (inout Self, Int) throws(SimulationError) -> Void) throws(SimulationError)
}

extension TileMachine {
    @inline(__always) @discardableResult
    public mutating func alloc(_ buffer: Operand, rows: Int, cols: Int, format: Format) throws(SimulationError) -> Operand {
        try alloc(buffer, rows: rows, cols: cols, format: format, scales: 0)
    }

    /// S = scale·Q·Kᵀ for rows `rows` and keys `cols`, masked when the problem has a mask.
    @inline(__always)
    public mutating func scores(
        _ q: Operand, _ k: Operand, into s: Operand, rows: Range<Int>, cols: Range<Int>,
        masked: Bool
    ) throws(SimulationError) {
        try compute(.gemm(a: q, b: k, c: s, transB: true, scaled: true, accumulate: false))
        if masked && problem.causal { try compute(.mask(s, rows: rows, cols: cols)) }
    }

    public mutating func uniform(_ range: Range<Int>, _ body: (inout Self, Int) throws(SimulationError) -> Void) throws(SimulationError) {
        for j in range { try body(&self, j) }
    }

    /// Runs `body` over `range`: indices below `uniformEnd` (full tiles) through ``uniform(_:_:)``,
    /// the rest (a ragged last tile) one by one.
    @inline(__always)
    public mutating func tiles(
        _ range: Range<Int>, uniformBelow uniformEnd: Int,
        _ body: (inout Self, Int) throws(SimulationError) -> Void
    ) throws(SimulationError) {
        let split = Swift.min(Swift.max(range.lowerBound, uniformEnd), range.upperBound)
        try uniform(range.lowerBound..<split, body)
        for j in split..<range.upperBound { try body(&self, j) }
    }

    /// ``tiles(_:uniformBelow:_:)`` over each run of `runs` in order.
    @inline(__always)
    public mutating func tiles(
        _ runs: TileRuns, uniformBelow uniformEnd: Int,
        _ body: (inout Self, Int) throws(SimulationError) -> Void
    ) throws(SimulationError) {
        for run in runs.runs { try tiles(run, uniformBelow: uniformEnd, body) }
    }
}

extension TileMachine {
    /// acc = Σⱼ Pᵢⱼ·Vⱼ[:, block] over column tiles `columnTiles`, streaming P tiles (from HBM, in
    /// the output dtype) and V tiles through SRAM: standard attention's third kernel and Saha–Ye's
    /// second phase. Leaves `acc` (rows × block, fp32) allocated for the caller to finish and store.
    mutating func accumulatePV(
        _ t: KernelConfig, instance: Int, kvInstance: Int, rows: Range<Int>, block: Range<Int>,
        columnTiles: TileRuns
    ) throws(SimulationError) {
        let p = problem
        try alloc(.acc, rows: rows.count, cols: block.count, format: .fp32)
        try compute(.fill(.acc, 0))
        try tiles(columnTiles, uniformBelow: p.nk / t.bc) { m, j throws(SimulationError) in
            let cols = t.cols(j, p)
            try m.load(.P, instance: instance, rows: rows, cols: cols, format: .output, into: .s)
            try m.load(.V, instance: kvInstance, rows: cols, cols: block, format: .input, into: .v)
            try m.compute(.gemm(a: .s, b: .v, c: .acc, transB: false, scaled: false, accumulate: true))
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

extension TileMachine {
    /// FlashAttention-2's inner loop (Algorithm 1 lines 6–11) for the rows `rows` of resident Qᵢ
    /// over column tiles `columnTiles` of K/V instance `kv`: acc, m, ℓ must be allocated and
    /// initialised; leaves them unnormalised. Shared by fa2, fa3, split-kv, lean and the paged
    /// schedules.
    ///
    /// With a paged cache (`blockSize`, else the problem's ``AttentionProblem/pagedBlockSize``)
    /// each K and each V tile load reads the whole blocks it covers and one int32 `table` entry
    /// per block (docs/counting-rules.md §12): the table is looked up again for V, as vLLM's kernels do in their
    /// second loop. Tiles start on block boundaries (Bc is a multiple of the block size, or the
    /// only tile), so only the last tile can end inside a block; its tail is read too.
    ///
    /// ChunkAttention's own chunks (`keyEnd`, `table: false`, `masked: false`): the keys end at
    /// the sequence's length, not the problem's Nk; each chunk (the block) is read whole without
    /// a table (a prefix tree's node holds its chunk's address); no mask (its kernels have none).
    @inline(__always)
    public mutating func attend(
        _ t: KernelConfig, kvInstance kv: Int, rows: Range<Int>, columnTiles: TileRuns, blockSize: Int? = nil,
        keyEnd: Int? = nil, table: Bool = true, masked: Bool = true
    ) throws(SimulationError) {
        for run in columnTiles.runs {
            try attend(t, kvInstance: kv, rows: rows, columnTiles: run, blockSize: blockSize, keyEnd: keyEnd, table: table, masked: masked)
        }
    }

    /// ``attend(_:kvInstance:rows:columnTiles:blockSize:keyEnd:table:masked:)`` over one run of column tiles.
    @inline(__always)
    public mutating func attend(
        _ t: KernelConfig, kvInstance kv: Int, rows: Range<Int>, columnTiles: Range<Int>, blockSize: Int? = nil,
        keyEnd: Int? = nil, table: Bool = true, masked: Bool = true
    ) throws(SimulationError) {
        let p = problem, d = 0..<p.d, b = blockSize ?? p.pagedBlockSize, end = keyEnd ?? p.nk
        try tiles(columnTiles, uniformBelow: end / t.bc) { m, j throws(SimulationError) in
            let cols = j * t.bc..<min((j + 1) * t.bc, end)
            let blocks = b.map { ceilDiv(cols.upperBound, $0) - cols.lowerBound / $0 } ?? 0
            let tail = b.map { blocks * $0 - cols.count } ?? 0
            if table, blocks > 0 { try m.fetch(.table, elements: blocks, format: .int32) }
            try m.load(.K, instance: kv, rows: cols, cols: d, format: .input, into: .k)
            if tail > 0 { try m.fetch(.K, elements: tail * p.d, format: .input) }
            if table, blocks > 0 { try m.fetch(.table, elements: blocks, format: .int32) }
            try m.load(.V, instance: kv, rows: cols, cols: d, format: .input, into: .v)
            if tail > 0 { try m.fetch(.V, elements: tail * p.d, format: .input) }
            try m.alloc(.s, rows: rows.count, cols: cols.count, format: .fp32)
            try m.scores(.q, .k, into: .s, rows: rows, cols: cols, masked: masked)
            try m.compute(.onlineSoftmax(scores: .s, max: .m, sum: .l, acc: .acc))
            try m.compute(.gemm(a: .s, b: .v, c: .acc, transB: false, scaled: false, accumulate: true))
            m.free(.s)
            m.free(.k)
            m.free(.v)
        }
    }

    /// Ends what ``startRows(_:)`` began: O = acc / ℓ for rows `rows` of `instance`, stored in
    /// the output dtype, and with `lse` the LSE (m + log ℓ, fp32); frees acc, m and ℓ.
    @inline(__always)
    public mutating func finishRows(instance: Int, rows: Range<Int>, lse: Bool = false) throws(SimulationError) {
        try compute(.normalizeRows(acc: .acc, sum: .l, max: lse ? .m : nil))
        try store(.O, instance: instance, rows: rows, cols: 0..<problem.d, format: .output, from: .acc)
        if lse { try store(.LSE, instance: instance, rows: rows, cols: 0..<1, format: .fp32, from: .m) }
        free(.acc)
        free(.m)
        free(.l)
    }

    /// Allocates the fp32 accumulator and row statistics of `rows` rows: acc = 0, m = −∞, ℓ = 0.
    @inline(__always)
    public mutating func startRows(_ rows: Int) throws(SimulationError) {
        try alloc(.acc, rows: rows, cols: problem.d, format: .fp32)
        try alloc(.m, rows: rows, cols: 1, format: .fp32)
        try alloc(.l, rows: rows, cols: 1, format: .fp32)
        try compute(.fill(.acc, 0))
        try compute(.fill(.m, -.infinity))
        try compute(.fill(.l, 0))
    }
}
