import AttentionReference
import RealModule

/// Runs a schedule with real values: HBM holds Q, K, V and whatever the schedule writes; SRAM
/// buffers hold tiles; compute steps do the arithmetic. Arithmetic is in `A` — Double for fp64
/// problems, Float (the fp32 accumulators of a real kernel) otherwise — and every value written
/// to HBM is rounded to its storage format, so an fp16 schedule sees fp16 S, P and O where a
/// kernel would. Probabilities fed to the PV product are rounded to the input dtype, as
/// FlashAttention kernels do before the second tensor-core GEMM.
///
/// It counts exactly as ``CountingMachine`` does (it wraps one).
public struct DataMachine<A: BLASScalar>: TileMachine {
    public var problem: AttentionProblem { counter.problem }
    public var capacity: Int { counter.capacity }
    public private(set) var counter: CountingMachine
    /// HBM contents by tensor; each a [instance][row][col] array, created on first write.
    public private(set) var hbm: [Tensor: [A]] = [:]
    private var widths: [Tensor: Int] = [:]
    private var buffers = [[A]](repeating: [], count: Buffer.allCases.count)
    private var shapes = [(rows: Int, cols: Int)](repeating: (0, 0), count: Buffer.allCases.count)
    private let scale: A
    /// Running max and sum of standard attention's streamed softmax row (registers).
    private var rowMax = -A.infinity, rowSum: A = 0
    /// Called now and then with the fraction of the expected HBM reads done (a data-mode run can
    /// take minutes; the CLI turns this into a progress line).
    public var progress: ((Double) -> Void)?
    /// The HBM reads the run will make (its closed form), for `progress`.
    public var expectedReads = 0
    private var loadsSinceReport = 0

    /// `q`, `k`, `v` in the layouts of ``AttentionShape`` (values already in the problem dtype).
    public init(problem: AttentionProblem, capacity: Int, q: [Double], k: [Double], v: [Double], scale: Double? = nil) {
        counter = CountingMachine(problem: problem, capacity: capacity)
        self.scale = A(scale ?? 1 / Double.sqrt(Double(problem.d)))
        hbm[.Q] = q.map { A($0) }; widths[.Q] = problem.d
        hbm[.K] = k.map { A($0) }; widths[.K] = problem.d
        hbm[.V] = v.map { A($0) }; widths[.V] = problem.d
    }

    public var counts: TrafficCounts { counter.counts }

    /// Rows and width of tensor t per instance.
    private func layout(_ t: Tensor) -> (rows: Int, width: Int, instances: Int) {
        let p = problem
        switch t {
        case .K, .V: return (p.nk, p.d, p.batch * p.kvHeads)
        case .S, .P: return (p.n, p.nk, p.instances)
        case .m, .l, .LSE: return (p.n, 1, p.instances)
        default: return (p.n, p.d, p.instances)
        }
    }

    /// The row's index in the tensor's HBM layout: K and V by instance, query-side tensors in the
    /// user's [batch, heads, Nq] order (packed GQA rows go back to their head).
    @inline(__always) private func flatRow(_ t: Tensor, instance: Int, row: Int, rowsPerInstance n: Int) -> Int {
        t == .K || t == .V ? instance * n + row : problem.queryRow(instance: instance, row: row)
    }

    public mutating func partition(_ p: WarpPartition) { counter.partition(p) }

    public mutating func alloc(_ b: Buffer, rows: Int, cols: Int, format: Format, scales: Int) throws(SimulationError) {
        try counter.alloc(b, rows: rows, cols: cols, format: format, scales: scales)
        buffers[b.rawValue] = [A](repeating: 0, count: rows * cols)
        shapes[b.rawValue] = (rows, cols)
    }

    public mutating func free(_ b: Buffer) {
        counter.free(b)
        buffers[b.rawValue] = []
    }

    public mutating func load(_ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
                              into b: Buffer) throws(SimulationError) {
        try counter.load(t, instance: instance, rows: rows, cols: cols, format: format, into: b)
        loadsSinceReport += 1
        if loadsSinceReport >= 512, let progress, expectedReads > 0 {
            loadsSinceReport = 0
            progress(min(1, Double(counter.counts.hbm.reads) / Double(expectedReads)))
        }
        let (n, w, _) = layout(t)
        guard let src = hbm[t] else { throw .scheduleBug("\(t) is read before anything wrote it") }
        var dst = [A](repeating: 0, count: rows.count * cols.count)
        for (r, row) in rows.enumerated() {
            let base = flatRow(t, instance: instance, row: row, rowsPerInstance: n) * w
            for (c, col) in cols.enumerated() { dst[r * cols.count + c] = src[base + col] }
        }
        buffers[b.rawValue] = dst
        shapes[b.rawValue] = (rows.count, cols.count)
    }

    public mutating func store(_ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
                               from b: Buffer) throws(SimulationError) {
        try counter.store(t, instance: instance, rows: rows, cols: cols, format: format, from: b)
        let (n, w, instances) = layout(t)
        if hbm[t] == nil { hbm[t] = [A](repeating: .nan, count: instances * n * w) }
        let precision = format.precision(problem.dtype)
        let src = buffers[b.rawValue]
        for (r, row) in rows.enumerated() {
            let base = flatRow(t, instance: instance, row: row, rowsPerInstance: n) * w
            for (c, col) in cols.enumerated() {
                hbm[t]![base + col] = A(precision.round(Double(src[r * cols.count + c])))
            }
        }
    }

    public mutating func compute(_ step: ComputeStep) throws(SimulationError) {
        try counter.compute(step)
        switch step {
        case let .fill(b, value):
            for i in buffers[b.rawValue].indices { buffers[b.rawValue][i] = A(value) }
        case let .scores(rows, cols, masked):
            scores(rows: rows, cols: cols, masked: masked && problem.causal)
        case .onlineSoftmax:
            onlineSoftmax()
        case .accumulate:
            gemmPV(into: .acc, beta: 1)
        case .finish:
            let d = problem.d
            for r in 0..<shapes[Buffer.m.rawValue].rows {
                let l = buffers[Buffer.l.rawValue][r], m = buffers[Buffer.m.rawValue][r]
                for c in 0..<d { buffers[Buffer.acc.rawValue][r * d + c] = l == 0 ? 0 : buffers[Buffer.acc.rawValue][r * d + c] / l }
                buffers[Buffer.m.rawValue][r] = l == 0 ? -A.infinity : m + A.log(l)
            }
        case .fa1Update:
            fa1Update()
        case let .softmaxRow(r):
            rowStatistics(r: r, cols: 0..<problem.nk, first: true)
            normalize(r: r, cols: 0..<problem.nk)
        case let .rowStatistics(r, cols, first):
            rowStatistics(r: r, cols: cols, first: first)
        case let .normalize(r, cols):
            normalize(r: r, cols: cols)
        case .combineWarps:
            break
        case let .partialScores(first):
            scores(rows: 0..<0, cols: 0..<0, masked: false, accumulate: !first)
        case let .exponentiate(rows, cols):
            try exponentiateBlock(rows: rows, cols: cols)
        case .divideByRowSum:
            let (br, w) = shapes[Buffer.acc.rawValue]
            for r in 0..<br {
                let l = buffers[Buffer.l.rawValue][r]
                for c in 0..<w { buffers[Buffer.acc.rawValue][r * w + c] = l == 0 ? 0 : buffers[Buffer.acc.rawValue][r * w + c] / l }
            }
        }
    }

    /// Saha–Ye's exponentiation: no row max is subtracted (their algorithm has none), so a score
    /// above log(max) of the arithmetic or of the dtype P is stored in overflows; that is reported
    /// rather than turned into Inf.
    private mutating func exponentiateBlock(rows: Range<Int>, cols: Range<Int>) throws(SimulationError) {
        let bc = cols.count
        let limit = problem.dtype.outputPrecision.greatestFinite
        for r in 0..<rows.count {
            var sum: A = 0
            for c in 0..<bc {
                let i = r * bc + c
                let live = problem.visibleColumns(row: rows.lowerBound + r).contains(cols.lowerBound + c)
                let x = buffers[Buffer.s.rawValue][i]
                let p = live ? A.exp(x) : 0
                guard Double(p) <= limit else {
                    throw .invalid("small-m overflowed: exp(\(x)) exceeds \(problem.dtype.outputPrecision)'s range (Saha–Ye's algorithm subtracts no row max); scale the inputs down or use fa2")
                }
                buffers[Buffer.s.rawValue][i] = p
                sum += p
            }
            buffers[Buffer.l.rawValue][r] += sum
        }
    }

    /// s = scale · q · kᵀ (+ s when `accumulate`, q and k being blocks of d), with −∞ where
    /// column > row under the causal mask.
    private mutating func scores(rows: Range<Int>, cols: Range<Int>, masked: Bool, accumulate: Bool = false) {
        let (br, bc, d) = (shapes[Buffer.q.rawValue].rows, shapes[Buffer.k.rawValue].rows, shapes[Buffer.q.rawValue].cols)
        let (q, k) = (buffers[Buffer.q.rawValue], buffers[Buffer.k.rawValue])
        var s = take(.s)
        q.withUnsafeBufferPointer { q in
            k.withUnsafeBufferPointer { k in
                s.withUnsafeMutableBufferPointer { s in
                    A.gemm(transB: true, m: br, n: bc, k: d, alpha: scale, a: q.baseAddress!, lda: d,
                           b: k.baseAddress!, ldb: d, beta: accumulate ? 1 : 0, c: s.baseAddress!, ldc: bc)
                    if masked {
                        for r in 0..<br {
                            let visible = problem.visibleColumns(row: rows.lowerBound + r)
                            for c in 0..<bc where !visible.contains(cols.lowerBound + c) { s[r * bc + c] = -A.infinity }
                        }
                    }
                }
            }
        }
        buffers[Buffer.s.rawValue] = s
    }

    /// c = s · v (+ c when beta = 1), s being br × bc and v bc × d.
    private mutating func gemmPV(into c: Buffer, beta: A) {
        let (br, bc) = shapes[Buffer.s.rawValue], d = shapes[Buffer.v.rawValue].cols
        let (p, v) = (buffers[Buffer.s.rawValue], buffers[Buffer.v.rawValue])
        var out = take(c)
        p.withUnsafeBufferPointer { p in
            v.withUnsafeBufferPointer { v in
                out.withUnsafeMutableBufferPointer { o in
                    A.gemm(transB: false, m: br, n: d, k: bc, alpha: 1, a: p.baseAddress!, lda: bc,
                           b: v.baseAddress!, ldb: d, beta: beta, c: o.baseAddress!, ldc: d)
                }
            }
        }
        buffers[c.rawValue] = out
    }

    /// Moves a buffer's storage out, so it can be written while others are read.
    private mutating func take(_ b: Buffer) -> [A] {
        let x = buffers[b.rawValue]
        buffers[b.rawValue] = []
        return x
    }

    /// Rounds a probability to the input dtype, as it enters the PV tensor-core GEMM.
    @inline(__always) private func roundP(_ x: A) -> A {
        problem.dtype == .fp64 || problem.dtype == .fp32 ? x : A(problem.dtype.precision.roundProbability(Double(x)))
    }

    /// Replaces row r of s (bc wide) by exp(s − m) with the row max m of s; returns (m, rowsum).
    private mutating func exponentiate(row r: Int, bc: Int, max given: A? = nil) -> (max: A, sum: A) {
        var m = given ?? -A.infinity
        if given == nil { for c in 0..<bc { m = Swift.max(m, buffers[Buffer.s.rawValue][r * bc + c]) } }
        var l: A = 0
        for c in 0..<bc {
            let i = r * bc + c
            let p = m == -A.infinity ? 0 : A.exp(buffers[Buffer.s.rawValue][i] - m)
            l += p
            buffers[Buffer.s.rawValue][i] = roundP(p)
        }
        return (m, l)
    }

    private mutating func onlineSoftmax() {
        let (br, bc) = shapes[Buffer.s.rawValue], d = problem.d
        for r in 0..<br {
            var tileMax = -A.infinity
            for c in 0..<bc { tileMax = Swift.max(tileMax, buffers[Buffer.s.rawValue][r * bc + c]) }
            let old = buffers[Buffer.m.rawValue][r], new = Swift.max(old, tileMax)
            let (_, sum) = exponentiate(row: r, bc: bc, max: new)
            let alpha = old == -A.infinity ? 0 : A.exp(old - new)
            buffers[Buffer.l.rawValue][r] = alpha * buffers[Buffer.l.rawValue][r] + sum
            for c in 0..<d { buffers[Buffer.acc.rawValue][r * d + c] *= alpha }
            buffers[Buffer.m.rawValue][r] = new
        }
    }

    private mutating func fa1Update() {
        let (br, bc) = shapes[Buffer.s.rawValue], d = problem.d
        var tile = [(max: A, sum: A)]()
        for r in 0..<br { tile.append(exponentiate(row: r, bc: bc)) }
        gemmPV(into: .acc, beta: 0)
        for r in 0..<br {
            let (mt, lt) = tile[r]
            let m = buffers[Buffer.m.rawValue][r], l = buffers[Buffer.l.rawValue][r]
            let mNew = Swift.max(m, mt)
            guard mNew > -A.infinity else { continue }  // nothing live in this row yet
            let a = m == -A.infinity ? 0 : A.exp(m - mNew), b = mt == -A.infinity ? 0 : A.exp(mt - mNew)
            let lNew = a * l + b * lt
            for c in 0..<d {
                let i = r * d + c
                buffers[Buffer.o.rawValue][i] = (l * a * buffers[Buffer.o.rawValue][i] + b * buffers[Buffer.acc.rawValue][i]) / lNew
            }
            buffers[Buffer.m.rawValue][r] = mNew
            buffers[Buffer.l.rawValue][r] = lNew
        }
    }

    /// Folds a chunk of row r of S (in `row`) into the running max and sum; causal-masked entries
    /// (column > r) do not count.
    private mutating func rowStatistics(r: Int, cols: Range<Int>, first: Bool) {
        if first { rowMax = -A.infinity; rowSum = 0 }
        let live = cols.clamped(to: problem.visibleColumns(row: r))
        var m = rowMax
        for c in live { m = Swift.max(m, buffers[Buffer.row.rawValue][c - cols.lowerBound]) }
        guard m > -A.infinity else { return }
        var sum: A = 0
        for c in live { sum += A.exp(buffers[Buffer.row.rawValue][c - cols.lowerBound] - m) }
        rowSum = (rowMax == -A.infinity ? 0 : rowSum * A.exp(rowMax - m)) + sum
        rowMax = m
    }

    /// P = exp(S − m)/ℓ over a chunk of row r, zero where causal-masked.
    private mutating func normalize(r: Int, cols: Range<Int>) {
        for c in cols {
            let i = c - cols.lowerBound
            let masked = !problem.visibleColumns(row: r).contains(c)
            buffers[Buffer.row.rawValue][i] = masked || rowSum == 0 ? 0 : A.exp(buffers[Buffer.row.rawValue][i] - rowMax) / rowSum
        }
    }
}
