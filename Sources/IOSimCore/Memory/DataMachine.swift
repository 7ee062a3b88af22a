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
    var widths: [Tensor: Int] = [:]
    var buffers = [[A]](repeating: [], count: Operand.slots)
    var shapes = [(rows: Int, cols: Int)](repeating: (0, 0), count: Operand.slots)
    let scale: A
    /// Running max and sum of standard attention's streamed softmax row (registers).
    var rowMax = -A.infinity, rowSum: A = 0
    /// The row's D = Σ P ∘ dP in standard backward's streamed kernel 3 (registers).
    var rowDelta: A = 0
    /// Called now and then with the fraction of the expected HBM reads done (a data-mode run can
    /// take minutes; the CLI turns this into a progress line).
    public var progress: ((Double) -> Void)?
    /// Split-KV's splits: `Opart` and `LSEpart` hold this many rows per query row.
    public var partitions = 1
    /// The HBM reads the run will make (its closed form), for `progress`.
    public var expectedReads = 0
    private var loadsSinceReport = 0
    /// Under a paged layout, each KV instance's block table: logical block → physical block of
    /// that instance's region (a shuffled order, so that a schedule that ignored the table
    /// would read the wrong keys). Empty for a contiguous cache.
    public private(set) var blockTable: [[Int]] = []

    /// `q`, `k`, `v` in the layouts of ``AttentionShape`` (values already in the problem dtype).
    public init(problem: AttentionProblem, capacity: Int, q: [Double], k: [Double], v: [Double], scale: Double? = nil) {
        counter = CountingMachine(problem: problem, capacity: capacity)
        self.scale = A(scale ?? 1 / Double.sqrt(Double(problem.d)))
        hbm[.Q] = q.map { A($0) }; widths[.Q] = problem.d
        hbm[.K] = k.map { A($0) }; widths[.K] = problem.d
        hbm[.V] = v.map { A($0) }; widths[.V] = problem.d
        if let b = problem.pagedBlockSize { page(blockSize: b) }
    }

    /// Moves K and V into a paged cache: each KV instance owns ⌈Nk/b⌉ blocks of b slots, placed
    /// in a pseudo-random order (a fixed SplitMix64 shuffle per instance), the unused slots of
    /// the last block zero. ``blockTable`` records where each logical block went.
    private mutating func page(blockSize b: Int) {
        let p = problem, blocks = (p.nk + b - 1) / b, slots = blocks * b, instances = p.batch * p.kvHeads
        var state = UInt64(0x9E37_79B9_7F4A_7C15)
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        blockTable = (0..<instances).map { _ in
            var order = Array(0..<blocks)
            // Fisher–Yates.
            for i in stride(from: blocks - 1, to: 0, by: -1) { order.swapAt(i, Int(next() % UInt64(i + 1))) }
            return order
        }
        for t in [Tensor.K, .V] {
            guard let logical = hbm[t] else { continue }
            var physical = [A](repeating: 0, count: instances * slots * p.d)
            for inst in 0..<instances {
                for r in 0..<p.nk {
                    let src = (inst * p.nk + r) * p.d, dst = pagedRow(instance: inst, row: r, blockSize: b) * p.d
                    for c in 0..<p.d { physical[dst + c] = logical[src + c] }
                }
            }
            hbm[t] = physical
        }
    }

    /// Where logical row `row` of KV instance `instance` sits in the paged cache.
    @inline(__always) private func pagedRow(instance: Int, row: Int, blockSize b: Int) -> Int {
        let blocks = (problem.nk + b - 1) / b
        return (instance * blocks + blockTable[instance][row / b]) * b + row % b
    }

    public var counts: TrafficCounts { counter.counts }

    /// Puts an input of a later pass in HBM (dO for the backward), in the layout of
    /// ``AttentionShape`` and already in its storage format.
    public mutating func place(_ t: Tensor, _ values: [Double]) {
        hbm[t] = values.map { A($0) }
    }

    /// Starts counting afresh under SRAM `capacity` with HBM as it is: the backward pass runs
    /// after its forward on the same HBM, and only its own transfers are counted.
    public mutating func restartCounting(capacity: Int) {
        counter = CountingMachine(problem: problem, capacity: capacity)
    }

    /// Rows and width of tensor t per instance.
    private func layout(_ t: Tensor) -> (rows: Int, width: Int, instances: Int) {
        let p = problem
        switch t {
        case .K, .V, .dK, .dV: return (p.nk, p.d, p.batch * p.kvHeads)
        case .S, .P, .dP, .dS: return (p.n, p.nk, p.instances)
        case .m, .l, .LSE, .D: return (p.n, 1, p.instances)
        case .Opart: return (p.n * partitions, p.d, p.instances)
        case .LSEpart: return (p.n * partitions, 1, p.instances)
        default: return (p.n, p.d, p.instances)
        }
    }

    /// The row's index in the tensor's HBM layout: K and V by instance, query-side tensors in the
    /// user's [batch, heads, Nq] order (packed GQA rows go back to their head).
    @inline(__always) private func flatRow(_ t: Tensor, instance: Int, row: Int, rowsPerInstance n: Int) -> Int {
        // Split partials are the schedule's own scratch, laid out by instance as it writes them.
        t == .K || t == .V || t == .dK || t == .dV || t == .Opart || t == .LSEpart
            ? instance * n + row : problem.queryRow(instance: instance, row: row)
    }

    public mutating func partition(_ p: WarpPartition) { counter.partition(p) }

    public mutating func kernel(_ name: String, ctas: Int) { counter.kernel(name, ctas: ctas) }

    /// Adds the buffer into HBM (rounded to the format after the add, as an fp32 atomic is).
    public mutating func reduce(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        from b: Operand
    ) throws(SimulationError) {
        try counter.reduce(t, instance: instance, rows: rows, cols: cols, format: format, from: b)
        writeBack(t, instance: instance, rows: rows, cols: cols, format: format, from: b, adding: true)
    }

    @discardableResult
    public mutating func alloc(_ b: Operand, rows: Int, cols: Int, format: Format, scales: Int) throws(SimulationError) -> Operand {
        try counter.alloc(b, rows: rows, cols: cols, format: format, scales: scales)
        buffers[b.slot] = [A](repeating: 0, count: rows * cols)
        shapes[b.slot] = (rows, cols)
        return b
    }

    public mutating func free(_ b: Operand) {
        counter.free(b)
        buffers[b.slot] = []
    }

    public mutating func load(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        into b: Operand
    ) throws(SimulationError) {
        try counter.load(t, instance: instance, rows: rows, cols: cols, format: format, into: b)
        loadsSinceReport += 1
        if loadsSinceReport >= 512, let progress, expectedReads > 0 {
            loadsSinceReport = 0
            progress(min(1, Double(counter.counts.hbm.reads) / Double(expectedReads)))
        }
        let (n, w, _) = layout(t)
        guard let src = hbm[t] else { throw .scheduleBug("\(t) is read before anything wrote it") }
        var dst = [A](repeating: 0, count: rows.count * cols.count)
        // A paged K or V row is found through the block table.
        let paged = (t == .K || t == .V) && !blockTable.isEmpty ? problem.pagedBlockSize : nil
        for (r, row) in rows.enumerated() {
            let flat = paged.map { pagedRow(instance: instance, row: row, blockSize: $0) }
            let base = (flat ?? flatRow(t, instance: instance, row: row, rowsPerInstance: n)) * w
            for (c, col) in cols.enumerated() { dst[r * cols.count + c] = src[base + col] }
        }
        buffers[b.slot] = dst
        shapes[b.slot] = (rows.count, cols.count)
    }

    /// Table entries and the padded tail of a block are counted; the values the arithmetic
    /// uses came with ``load(_:instance:rows:cols:format:into:)``.
    public mutating func fetch(_ t: Tensor, elements: Int, format: Format) throws(SimulationError) {
        try counter.fetch(t, elements: elements, format: format)
    }

    public mutating func store(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        from b: Operand
    ) throws(SimulationError) {
        try counter.store(t, instance: instance, rows: rows, cols: cols, format: format, from: b)
        writeBack(t, instance: instance, rows: rows, cols: cols, format: format, from: b, adding: false)
    }

    public mutating func storeRow(
        _ t: Tensor, instance: Int, row: Int, cols: Range<Int>, format: Format,
        from b: Operand, bufferRow: Int
    ) throws(SimulationError) {
        try counter.storeRow(t, instance: instance, row: row, cols: cols, format: format, from: b, bufferRow: bufferRow)
        let w = shapes[b.slot].cols
        let (n, width, instances) = layout(t)
        if hbm[t] == nil { hbm[t] = [A](repeating: .nan, count: instances * n * width) }
        let precision = format.precision(problem.dtype)
        let base = flatRow(t, instance: instance, row: row, rowsPerInstance: n) * width
        for (c, col) in cols.enumerated() { hbm[t]![base + col] = A(precision.round(Double(buffers[b.slot][bufferRow * w + c]))) }
    }

    /// SRAM → HBM for store and reduce: the buffer replaces the region, or is added into it
    /// (a reduce's tensor starts at 0, a stored one at NaN so that reading an unwritten value
    /// shows), rounded to the format after the add as an fp32 atomic rounds.
    private mutating func writeBack(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format, from b: Operand, adding: Bool
    ) {
        let (n, w, instances) = layout(t)
        if hbm[t] == nil { hbm[t] = [A](repeating: adding ? 0 : .nan, count: instances * n * w) }
        let precision = format.precision(problem.dtype)
        let src = buffers[b.slot]
        for (r, row) in rows.enumerated() {
            let base = flatRow(t, instance: instance, row: row, rowsPerInstance: n) * w
            for (c, col) in cols.enumerated() {
                // Storing adds nothing (not even +0, which would turn −0 into +0).
                let x = adding ? hbm[t]![base + col] + src[r * cols.count + c] : src[r * cols.count + c]
                hbm[t]![base + col] = A(precision.round(Double(x)))
            }
        }
    }

    public mutating func compute(_ op: Operation) throws(SimulationError) {
        try counter.compute(op)
        switch op {
        case let .gemm(a, b, c, transB, scaled, accumulate):
            gemm(a, b, into: c, transB: transB, alpha: scaled ? scale : 1, accumulate: accumulate)
        case let .mask(s, rows, cols):
            let bc = shapes[s.slot].cols
            for r in 0..<shapes[s.slot].rows {
                let visible = problem.visibleKeys(row: rows.lowerBound + r)
                for c in 0..<bc where !visible.contains(cols.lowerBound + c) { buffers[s.slot][r * bc + c] = -A.infinity }
            }
        case let .fill(b, value):
            for i in buffers[b.slot].indices { buffers[b.slot][i] = A(value) }
        case let .onlineSoftmax(s, m, l, acc):
            onlineSoftmax(s, max: m, sum: l, acc: acc)
        case let .normalizeRows(acc, l, m):
            let w = shapes[acc.slot].cols
            for r in 0..<shapes[acc.slot].rows {
                let sum = buffers[l.slot][r]
                for c in 0..<w { buffers[acc.slot][r * w + c] = sum == 0 ? 0 : buffers[acc.slot][r * w + c] / sum }
                if let m { buffers[m.slot][r] = sum == 0 ? -A.infinity : buffers[m.slot][r] + A.log(sum) }
            }
        case let .fa1Update(s, v, o, m, l, scratch):
            fa1Update(s, v, o: o, max: m, sum: l, scratch: scratch)
        case .combineWarps:
            break
        case let .rowSoftmax(row, r):
            rowStatistics(row, r: r, cols: 0..<problem.nk, first: true)
            normalize(row, r: r, cols: 0..<problem.nk)
        case let .rowStatistics(row, r, cols, first):
            rowStatistics(row, r: r, cols: cols, first: first)
        case let .rowNormalize(row, r, cols):
            normalize(row, r: r, cols: cols)
        case let .expAccumulate(s, l):
            try expAccumulate(s, sum: l)
        case let .foldMax(x, m):
            for r in 0..<shapes[m.slot].rows { buffers[m.slot][r] = Swift.max(buffers[m.slot][r], buffers[x.slot][r]) }
        case let .mergeOnline(o, lse, m, l, acc):
            let w = shapes[acc.slot].cols
            for r in 0..<shapes[acc.slot].rows {
                let old = buffers[m.slot][r], part = buffers[lse.slot][r]
                guard part > -A.infinity else { continue }
                let top = Swift.max(old, part)
                let a = old == -A.infinity ? 0 : A.exp(old - top), b = A.exp(part - top)
                buffers[l.slot][r] = a * buffers[l.slot][r] + b
                for c in 0..<w { buffers[acc.slot][r * w + c] = a * buffers[acc.slot][r * w + c] + b * buffers[o.slot][r * w + c] }
                buffers[m.slot][r] = top
            }
        case let .partitionWeights(x, w, m, l):
            var top = -A.infinity
            for v in buffers[x.slot] { top = Swift.max(top, v) }
            var total: A = 0
            for s in buffers[w.slot].indices {
                let mx = buffers[x.slot][s]
                buffers[w.slot][s] = mx == -A.infinity || top == -A.infinity ? 0 : buffers[w.slot][s] * A.exp(mx - top)
                total += buffers[w.slot][s]
            }
            buffers[m.slot][0] = top
            buffers[l.slot][0] = total
        case let .mergeChunk(o, pm, pl, m, l, acc):
            let w = shapes[acc.slot].cols
            for r in 0..<shapes[acc.slot].rows {
                let old = buffers[m.slot][r], part = buffers[pm.slot][r]
                guard part > -A.infinity else { continue }
                let top = Swift.max(old, part)
                let a = old == -A.infinity ? 0 : A.exp(old - top), b = A.exp(part - top)
                buffers[l.slot][r] = a * buffers[l.slot][r] + b * buffers[pl.slot][r]
                for c in 0..<w { buffers[acc.slot][r * w + c] = a * buffers[acc.slot][r * w + c] + b * buffers[o.slot][r * w + c] }
                buffers[m.slot][r] = top
            }
        case let .accumulatePartition(o, w, index, acc):
            let weight = buffers[w.slot][index]
            for c in buffers[acc.slot].indices { buffers[acc.slot][c] += weight * buffers[o.slot][c] }
        case let .gemmTransA(a, b, c, scaled, accumulate, roundA):
            gemmTransA(a, b, into: c, alpha: scaled ? scale : 1, accumulate: accumulate, roundA: roundA)
        case let .probabilities(s, lse):
            let bc = shapes[s.slot].cols
            for r in 0..<shapes[s.slot].rows {
                let top = buffers[lse.slot][r]
                for c in 0..<bc { buffers[s.slot][r * bc + c] = top == -A.infinity ? 0 : A.exp(buffers[s.slot][r * bc + c] - top) }
            }
        case let .probabilitiesFromStatistics(s, m, l):
            let bc = shapes[s.slot].cols
            for r in 0..<shapes[s.slot].rows {
                let (top, sum) = (buffers[m.slot][r], buffers[l.slot][r])
                for c in 0..<bc {
                    let i = r * bc + c
                    buffers[s.slot][i] = sum == 0 ? 0 : A.exp(buffers[s.slot][i] - top) / sum
                }
            }
        case let .rowDot(a, b, into):
            let w = shapes[a.slot].cols
            for r in 0..<shapes[a.slot].rows {
                var sum: A = 0
                for c in 0..<w { sum += buffers[a.slot][r * w + c] * buffers[b.slot][r * w + c] }
                buffers[into.slot][r] = sum
            }
        case let .softmaxGradient(pb, dp, delta):
            let bc = shapes[pb.slot].cols
            for r in 0..<shapes[pb.slot].rows {
                let d = buffers[delta.slot][r]
                for c in 0..<bc {
                    let i = r * bc + c
                    buffers[dp.slot][i] = roundInput(buffers[pb.slot][i] * (buffers[dp.slot][i] - d))
                }
            }
        case let .rowSoftmaxGradient(pb, dp):
            rowGradientStatistics(pb, dp, first: true)
            rowGradientApply(pb, dp)
        case let .rowGradientStatistics(pb, dp, first):
            rowGradientStatistics(pb, dp, first: first)
        case let .rowGradientApply(pb, dp):
            rowGradientApply(pb, dp)
        case let .mergePartial(o, lse, m, l, acc):
            let w = shapes[acc.slot].cols
            for r in 0..<shapes[acc.slot].rows {
                let top = buffers[m.slot][r], part = buffers[lse.slot][r]
                let weight = top == -A.infinity || part == -A.infinity ? 0 : A.exp(part - top)
                buffers[l.slot][r] += weight
                for c in 0..<w { buffers[acc.slot][r * w + c] += weight * buffers[o.slot][r * w + c] }
            }
        }
    }
}
