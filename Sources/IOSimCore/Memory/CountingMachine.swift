/// Runs a schedule without data: enforces the SRAM capacity and residency, and counts every
/// transfer per tensor and direction. Work per operation is a few integer additions, never per
/// element. Loops the schedule marks uniform (full tiles) run their first iteration and replay its
/// counts for the others, so a long row of identical tile pairs costs one pair; a test checks
/// that replaying gives the same counts as running every iteration.
public struct CountingMachine: TileMachine {
    public let problem: AttentionProblem
    public let capacity: Int
    public private(set) var counts = TrafficCounts()
    /// Load operations actually executed (replayed iterations excluded): what a run costs.
    public private(set) var executedLoads = 0
    private var resident = 0
    /// Resident buffers, by ``Operand/slot``, and how many there are.
    private var isResident = [Bool](repeating: false, count: Operand.slots)
    private var residentCount = 0
    /// Buffers filled from HBM: they live in shared memory. Allocated buffers (S/P blocks,
    /// accumulators, statistics) live in the warps' registers, so their compute operands are not
    /// SRAM traffic (docs/counting-rules.md §8 lists what is: Q, K, V operand reads per warp, FA1's
    /// combine, loads and stores).
    private var isShared = [Bool](repeating: false, count: Operand.slots)
    private var sharedCount = 0
    /// Elements, bytes and rows of each resident buffer, by slot.
    private var elements = [Int](repeating: 0, count: Operand.slots)
    private var bytes = [Int](repeating: 0, count: Operand.slots)
    private var rowCount = [Int](repeating: 0, count: Operand.slots)
    private var warps = WarpPartition.single

    /// Whether uniform loops replay their first iteration's counts (tests turn it off to check
    /// that replaying changes nothing).
    public var replays: Bool
    /// The kernel transfers are charged to (an index into `counts.kernels`).
    private var current: Int?
    /// The name of the kernel a schedule that declares none runs as.
    public var defaultKernel: String

    public init(problem: AttentionProblem, capacity: Int, replays: Bool = true, defaultKernel: String = "kernel") {
        self.problem = problem
        self.capacity = capacity
        self.replays = replays
        self.defaultKernel = defaultKernel
    }

    public mutating func kernel(_ name: String, ctas: Int) {
        if let i = counts.kernels.firstIndex(where: { $0.name == name }) {
            current = i
        } else {
            counts.kernels.append(KernelCounts(name: name, ctas: ctas))
            current = counts.kernels.count - 1
        }
    }

    /// Adds a transfer of tensor t to the totals and to the current kernel.
    @inline(__always) private mutating func charge(_ t: Tensor, _ x: Transfer) throws(SimulationError) {
        if current == nil { kernel(defaultKernel, ctas: 0) }
        counts.byTensor[t.rawValue] = try .checkedSum(counts.byTensor[t.rawValue], x)
        counts.kernels[current!].byTensor[t.rawValue] = try .checkedSum(counts.kernels[current!].byTensor[t.rawValue], x)
    }

    public mutating func uniform(_ range: Range<Int>, _ body: (inout Self, Int) throws(SimulationError) -> Void) throws(SimulationError) {
        guard replays, range.count > 1 else {
            for j in range { try body(&self, j) }
            return
        }
        let before = counts, held = (resident, residentCount, sharedCount)
        try body(&self, range.lowerBound)
        guard resident == held.0, residentCount == held.1, sharedCount == held.2 else {
            throw .scheduleBug("a uniform loop body must free what it allocates")
        }
        let k = range.count - 1
        // Each replayed iteration adds what the first one added (checked: batch·heads and long
        // rows multiply here).
        func replay(_ a: Transfer, _ b: Transfer) throws(SimulationError) -> Transfer {
            let step = Transfer(
                reads: a.reads - b.reads, writes: a.writes - b.writes,
                readBytes: a.readBytes - b.readBytes, writeBytes: a.writeBytes - b.writeBytes)
            return try .checkedSum(a, .checkedProduct(step, k))
        }
        for t in 0..<counts.byTensor.count { counts.byTensor[t] = try replay(counts.byTensor[t], before.byTensor[t]) }
        for i in counts.kernels.indices {
            let old = i < before.kernels.count ? before.kernels[i].byTensor : Array(repeating: Transfer(), count: Tensor.allCases.count)
            for t in 0..<old.count { counts.kernels[i].byTensor[t] = try replay(counts.kernels[i].byTensor[t], old[t]) }
        }
        counts.sram = try replay(counts.sram, before.sram)
        _ = try counts.checkedHBM()
    }

    public mutating func partition(_ p: WarpPartition) { warps = p }

    @inline(__always) @discardableResult
    public mutating func alloc(_ buffer: Operand, rows: Int, cols: Int, format: Format, scales: Int) throws(SimulationError) -> Operand {
        guard buffer.index < Operand.maxIndex else { throw .scheduleBug("\(buffer): more than \(Operand.maxIndex) buffers of one role") }
        let slot = buffer.slot
        if isResident[slot] { throw .scheduleBug("\(buffer) allocated twice") }
        let n = rows * cols, b = n * format.bytes(problem.dtype) + 4 * scales
        if resident + b > capacity { throw .capacityExceeded(footprint: resident + b, capacity: capacity, buffer: "\(buffer)") }
        resident += b
        if resident > counts.peakFootprint { counts.peakFootprint = resident }
        isResident[slot] = true
        residentCount += 1
        elements[slot] = n
        bytes[slot] = b
        rowCount[slot] = rows
        return buffer
    }

    @inline(__always)
    public mutating func free(_ buffer: Operand) {
        let slot = buffer.slot
        guard isResident[slot] else { return }
        resident -= bytes[slot]
        isResident[slot] = false
        residentCount -= 1
        if isShared[slot] { isShared[slot] = false; sharedCount -= 1 }
    }

    @inline(__always)
    public mutating func load(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        into buffer: Operand
    ) throws(SimulationError) {
        // An fp8 Q, K or V tile brings its fp32 scale along (docs/counting-rules.md §2).
        let scaled = problem.dtype == .fp8 && format == .input ? 1 : 0
        executedLoads += 1
        try alloc(buffer, rows: rows.count, cols: cols.count, format: format, scales: scaled)
        isShared[buffer.slot] = true
        sharedCount += 1
        let n = rows.count * cols.count, b = n * format.bytes(problem.dtype)
        try charge(t, Transfer(reads: n, readBytes: b))
        if scaled > 0 { try charge(.scales, Transfer(reads: scaled, readBytes: 4 * scaled)) }
        counts.sram = try .checkedSum(counts.sram, Transfer(writes: n + scaled, writeBytes: b + 4 * scaled))
    }

    @inline(__always)
    public mutating func fetch(_ t: Tensor, elements n: Int, format: Format) throws(SimulationError) {
        let b = try Int.checkedMul(n, format.bytes(problem.dtype))
        try charge(t, Transfer(reads: n, readBytes: b))
        counts.sram = try .checkedSum(counts.sram, Transfer(writes: n, writeBytes: b))
    }

    @inline(__always)
    public mutating func store(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        from buffer: Operand
    ) throws(SimulationError) {
        guard isResident[buffer.slot] else { throw .scheduleBug("store from \(buffer), which is not resident") }
        let n = rows.count * cols.count, b = n * format.bytes(problem.dtype)
        try charge(t, Transfer(writes: n, writeBytes: b))
        counts.sram = try .checkedSum(counts.sram, Transfer(reads: n, readBytes: b))
    }

    @inline(__always)
    public mutating func storeRow(
        _ t: Tensor, instance: Int, row: Int, cols: Range<Int>, format: Format,
        from buffer: Operand, bufferRow: Int
    ) throws(SimulationError) {
        guard bufferRow < rowCount[buffer.slot] else { throw .scheduleBug("row \(bufferRow) of \(buffer), which has \(rowCount[buffer.slot])") }
        try store(t, instance: instance, rows: row..<row + 1, cols: cols, format: format, from: buffer)
    }

    /// A memory-side atomic add (docs/counting-rules.md §1): an HBM write of the region, never a read.
    @inline(__always)
    public mutating func reduce(
        _ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
        from buffer: Operand
    ) throws(SimulationError) {
        try store(t, instance: instance, rows: rows, cols: cols, format: format, from: buffer)
    }

    @inline(__always)
    public mutating func compute(_ op: Operation) throws(SimulationError) {
        let (reads, writes) = op.operands
        for i in 0..<reads.count where !isResident[reads[i].slot] { throw .scheduleBug("\(op) reads \(reads[i]), which is not resident") }
        for i in 0..<writes.count where !isResident[writes[i].slot] { throw .scheduleBug("\(op) writes \(writes[i]), which is not resident") }
        // FA1's combine moves every warp's partials through SRAM; with one warp there is none.
        var times = 1, everything = false
        if case .combineWarps = op {
            guard case let .splitK(w) = warps, min(w, rowCount[Operand.k.slot]) > 1 else { return }
            times = min(w, rowCount[Operand.k.slot])
            everything = true
        }
        for i in 0..<reads.count where everything || isShared[reads[i].slot] {
            let b = reads[i],
                k =
                    times
                    * op.readers(
                        of: b, warps, rows: { rowCount[$0.slot] }, cols: { rowCount[$0.slot] == 0 ? 0 : elements[$0.slot] / rowCount[$0.slot] })
            counts.sram = try .checkedSum(counts.sram, Transfer(reads: k * elements[b.slot], readBytes: k * bytes[b.slot]))
        }
        for i in 0..<writes.count where everything || isShared[writes[i].slot] {
            let b = writes[i]
            counts.sram = try .checkedSum(counts.sram, Transfer(writes: times * elements[b.slot], writeBytes: times * bytes[b.slot]))
        }
    }
}
