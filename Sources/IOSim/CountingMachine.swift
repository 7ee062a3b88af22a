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
    private var residentMask: UInt16 = 0
    /// Buffers filled from HBM: they live in shared memory. Allocated buffers (S/P blocks,
    /// accumulators, statistics) live in the warps' registers, so their compute operands are not
    /// SRAM traffic (DESIGN §3 lists what is: Q, K, V operand reads per warp, FA1's combine,
    /// loads and stores).
    private var sharedMask: UInt16 = 0
    /// Elements and bytes of each resident buffer, by `Buffer.rawValue`.
    private var elements = [Int](repeating: 0, count: Buffer.allCases.count)
    private var bytes = [Int](repeating: 0, count: Buffer.allCases.count)
    private var rowCount = [Int](repeating: 0, count: Buffer.allCases.count)
    private var warps = WarpPartition.single

    /// Whether uniform loops replay their first iteration's counts (tests turn it off to check
    /// that replaying changes nothing).
    public var replays: Bool

    public init(problem: AttentionProblem, capacity: Int, replays: Bool = true) {
        self.problem = problem
        self.capacity = capacity
        self.replays = replays
    }

    public mutating func uniform(_ range: Range<Int>, _ body: (inout Self, Int) throws(SimulationError) -> Void) throws(SimulationError) {
        guard replays, range.count > 1 else {
            for j in range { try body(&self, j) }
            return
        }
        let before = counts, mask = residentMask, held = resident, sharedBefore = sharedMask
        try body(&self, range.lowerBound)
        guard residentMask == mask, resident == held, sharedMask == sharedBefore else {
            throw .scheduleBug("a uniform loop body must free what it allocates")
        }
        let k = range.count - 1
        // Each replayed iteration adds what the first one added (checked: batch·heads and long
        // rows multiply here).
        func replay(_ a: Transfer, _ b: Transfer) throws(SimulationError) -> Transfer {
            let step = Transfer(reads: a.reads - b.reads, writes: a.writes - b.writes,
                                readBytes: a.readBytes - b.readBytes, writeBytes: a.writeBytes - b.writeBytes)
            return try .checkedSum(a, .checkedProduct(step, k))
        }
        for t in 0..<counts.byTensor.count { counts.byTensor[t] = try replay(counts.byTensor[t], before.byTensor[t]) }
        counts.sram = try replay(counts.sram, before.sram)
        _ = try counts.checkedHBM()
    }

    public mutating func partition(_ p: WarpPartition) { warps = p }

    /// How many warps read buffer `b` in one compute step, and how many write partial results
    /// through SRAM in FA1's combine.
    @inline(__always) private func readers(_ b: Int) -> Int {
        switch warps {
        case .single: 1
        case let .splitQ(w): b == Buffer.k.rawValue || b == Buffer.v.rawValue ? min(w, rowCount[Buffer.q.rawValue]) : 1
        case let .splitK(w): b == Buffer.q.rawValue ? min(w, rowCount[Buffer.k.rawValue]) : 1
        }
    }

    @inline(__always)
    public mutating func alloc(_ buffer: Buffer, rows: Int, cols: Int, format: Format, scales: Int) throws(SimulationError) {
        if residentMask & buffer.bit != 0 { throw .scheduleBug("\(buffer) allocated twice") }
        let n = rows * cols, b = n * format.bytes(problem.dtype) + 4 * scales
        if resident + b > capacity { throw .capacityExceeded(footprint: resident + b, capacity: capacity, buffer: "\(buffer)") }
        resident += b
        if resident > counts.peakFootprint { counts.peakFootprint = resident }
        residentMask |= buffer.bit
        elements[buffer.rawValue] = n
        bytes[buffer.rawValue] = b
        rowCount[buffer.rawValue] = rows
    }

    @inline(__always)
    public mutating func free(_ buffer: Buffer) {
        guard residentMask & buffer.bit != 0 else { return }
        resident -= bytes[buffer.rawValue]
        residentMask &= ~buffer.bit
        sharedMask &= ~buffer.bit
    }

    @inline(__always)
    public mutating func load(_ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
                              into buffer: Buffer) throws(SimulationError) {
        // An fp8 Q, K or V tile brings its fp32 scale along (DESIGN §6).
        let scaled = problem.dtype == .fp8 && format == .input ? 1 : 0
        executedLoads += 1
        try alloc(buffer, rows: rows.count, cols: cols.count, format: format, scales: scaled)
        sharedMask |= buffer.bit
        let n = rows.count * cols.count, b = n * format.bytes(problem.dtype)
        counts.byTensor[t.rawValue] = try .checkedSum(counts.byTensor[t.rawValue], Transfer(reads: n, readBytes: b))
        if scaled > 0 {
            counts.byTensor[Tensor.scales.rawValue] = try .checkedSum(
                counts.byTensor[Tensor.scales.rawValue], Transfer(reads: scaled, readBytes: 4 * scaled))
        }
        counts.sram = try .checkedSum(counts.sram, Transfer(writes: n + scaled, writeBytes: b + 4 * scaled))
    }

    @inline(__always)
    public mutating func store(_ t: Tensor, instance: Int, rows: Range<Int>, cols: Range<Int>, format: Format,
                               from buffer: Buffer) throws(SimulationError) {
        guard residentMask & buffer.bit != 0 else { throw .scheduleBug("store from \(buffer), which is not resident") }
        let n = rows.count * cols.count, b = n * format.bytes(problem.dtype)
        counts.byTensor[t.rawValue] = try .checkedSum(counts.byTensor[t.rawValue], Transfer(writes: n, writeBytes: b))
        counts.sram = try .checkedSum(counts.sram, Transfer(reads: n, readBytes: b))
    }

    @inline(__always)
    public mutating func compute(_ step: ComputeStep) throws(SimulationError) {
        let (reads, writes) = step.operands
        guard (reads | writes) & residentMask == reads | writes else {
            throw .scheduleBug("\(step) touches a buffer that is not resident")
        }
        // FA1's combine moves every warp's partials through SRAM; with one warp there is none.
        var times = 1, shared = sharedMask
        if case .combineWarps = step {
            guard case let .splitK(w) = warps, min(w, rowCount[Buffer.k.rawValue]) > 1 else { return }
            times = min(w, rowCount[Buffer.k.rawValue])
            shared = ~0
        }
        var r = reads & shared, w = writes & shared
        while r != 0 {
            let i = r.trailingZeroBitCount, k = times * readers(i)
            counts.sram = try .checkedSum(counts.sram, Transfer(reads: k * elements[i], readBytes: k * bytes[i]))
            r &= r - 1
        }
        while w != 0 {
            let i = w.trailingZeroBitCount
            counts.sram = try .checkedSum(counts.sram, Transfer(writes: times * elements[i], writeBytes: times * bytes[i]))
            w &= w - 1
        }
    }
}
