/// The schedules' traffic in closed form (docs/counting-rules.md §4, §5 and §7), dispatched to each schedule's own
/// `closedForm` (in its `+ClosedForm.swift` file). Each sums over the real (ragged) tile sizes
/// and only live tile pairs. The simulator never uses these to count: tests check that executed
/// counts equal them exactly, per kernel, and the `optimal` tile search ranks candidates with
/// them — so the causal sums are O(log) floor sums (LiveTiles.swift), not loops over tiles.
public enum ClosedForm {
    /// HBM traffic of `kind` with tiles `tiles` (clamped), totals over batch·heads; nil when a
    /// count would overflow Int64 (``checkedTraffic(_:_:_:capacity:)`` says so).
    public static func traffic(_ kind: ScheduleKind, _ p: AttentionProblem, _ tiles: KernelConfig, capacity: Int, pass: Pass = .forward)
        -> TrafficCounts?
    {
        try? checkedTraffic(kind, p, tiles, capacity: capacity, pass: pass)
    }

    /// HBM traffic of `kind` per kernel (the schedule's own `closedForm`), or
    /// ``SimulationError/countOverflow(_:)``.
    public static func checkedTraffic(
        _ kind: ScheduleKind, _ problem: AttentionProblem, _ tiles: KernelConfig,
        capacity: Int, pass: Pass = .forward
    ) throws(SimulationError) -> TrafficCounts {
        guard pass != .training else { throw .invalid("a training step's closed form is its two passes' (ask for each)") }
        guard let s = kind.implementation(for: pass) else { throw .invalid("\(kind.rawValue) has no \(pass) schedule") }
        let p = problem.scheduled
        var c = ClosedFormBuilder(p)
        try s.closedForm(into: &c, p, tiles.clamped(to: p), capacity: capacity)
        return try c.finish()
    }

    /// Total HBM bytes of one instance of `p` (already the scheduled view), without per-tensor
    /// or per-kernel arrays: what the `optimal` search ranks thousands of candidates by.
    package static func instanceBytes(_ s: any Schedule.Type, _ p: AttentionProblem, _ t: KernelConfig, capacity: Int) -> Int? {
        var c = ClosedFormBuilder(p, bytesOnly: true)
        guard (try? s.closedForm(into: &c, p, t.clamped(to: p), capacity: capacity)) != nil else { return nil }
        return c.totalBytes
    }
}

/// What a schedule's closed form writes with: per-instance transfers charged to the kernel named
/// last, multiplied by batch·heads at the end, every product checked.
public struct ClosedFormBuilder {
    let p: AttentionProblem
    private var c = TrafficCounts()
    /// Only `totalBytes` is kept (per instance): the tile search's fast path.
    private let bytesOnly: Bool
    private(set) var totalBytes = 0

    init(_ p: AttentionProblem, bytesOnly: Bool = false) {
        self.p = p
        self.bytesOnly = bytesOnly
    }

    func mul(_ a: Int, _ b: Int) throws(SimulationError) -> Int { try .checkedMul(a, b) }

    /// A builder of the same mode for problem `p` (a schedule whose sums already cover every
    /// instance passes one instance, so that nothing is multiplied again).
    func rebased(to p: AttentionProblem) -> ClosedFormBuilder { ClosedFormBuilder(p, bytesOnly: bytesOnly) }

    /// Starts kernel `name` with `ctas` CTAs in all (a grid not proportional to batch·heads).
    mutating func combinedKernel(_ name: String, ctas: Int) {
        if !bytesOnly { c.kernels.append(KernelCounts(name: name, ctas: ctas)) }
    }

    /// Starts kernel `name` with `ctas` CTAs per instance.
    mutating func kernel(_ name: String, ctas: Int) {
        if !bytesOnly { c.kernels.append(KernelCounts(name: name, ctas: ctas * p.instances)) }
    }

    mutating func add(_ tensor: Tensor, reads: Int = 0, writes: Int = 0, _ format: Format) throws(SimulationError) {
        let b = format.bytes(p.dtype)
        if bytesOnly {
            totalBytes = try .checkedAdd(totalBytes, .checkedAdd(mul(reads, b), mul(writes, b)))
            return
        }
        let x = Transfer(reads: reads, writes: writes, readBytes: try mul(reads, b), writeBytes: try mul(writes, b))
        c[tensor] = try .checkedSum(c[tensor], x)
        let k = c.kernels.count - 1
        c.kernels[k].byTensor[tensor.rawValue] = try .checkedSum(c.kernels[k].byTensor[tensor.rawValue], x)
    }

    /// In fp8, one fp32 scale per loaded Q, K or V tile.
    mutating func scales(_ tileLoads: Int) throws(SimulationError) {
        if p.dtype == .fp8 { try add(.scales, reads: tileLoads, .fp32) }
    }

    /// The totals over batch·heads.
    func finish() throws(SimulationError) -> TrafficCounts {
        var c = c
        guard p.instances > 1 else {
            _ = try c.checkedHBM()
            return c
        }
        for i in c.byTensor.indices { c.byTensor[i] = try .checkedProduct(c.byTensor[i], p.instances) }
        for k in c.kernels.indices {
            for i in c.kernels[k].byTensor.indices {
                c.kernels[k].byTensor[i] = try .checkedProduct(c.kernels[k].byTensor[i], p.instances)
            }
        }
        _ = try c.checkedHBM()
        return c
    }
}

/// Σ_{i=0}^{n−1} ⌊(a·i + b)/m⌋ for n, a, b ≥ 0, m > 0, in O(log m) steps (the Euclid-like
/// reduction: take out ⌊a/m⌋ and ⌊b/m⌋, then swap the roles of a and m).
package func floorSum(_ n: Int, _ m: Int, _ a: Int, _ b: Int) -> Int {
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
    /// Every tensor's traffic (and every kernel's) times k.
    package static func * (c: TrafficCounts, k: Int) -> TrafficCounts {
        var r = c
        r.byTensor = c.byTensor.map { $0 * k }
        for i in r.kernels.indices { r.kernels[i].byTensor = r.kernels[i].byTensor.map { $0 * k } }
        return r
    }
}
