/// Tensors the simulator counts, by their JSON names (docs/counting-rules.md §3).
public enum Tensor: Int, CaseIterable, Sendable, CustomStringConvertible {
    case Q, K, V, O, S, P, m, l, LSE, scales, dO, dQ, dK, dV, D, dP, dS, Opart, LSEpart, table

    public var description: String {
        switch self {
        case .Q: "Q"
        case .K: "K"
        case .V: "V"
        case .O: "O"
        case .S: "S"
        case .P: "P"
        case .m: "m"
        case .l: "l"
        case .LSE: "LSE"
        case .scales: "scales"
        case .dO: "dO"
        case .dQ: "dQ"
        case .dK: "dK"
        case .dV: "dV"
        case .D: "D"
        case .dP: "dP"
        case .dS: "dS"
        case .Opart: "Opart"
        case .LSEpart: "LSEpart"
        case .table: "table"
        }
    }
}

/// Reads and writes of one tensor (or a total), in elements and bytes.
public struct Transfer: Hashable, Sendable {
    public var reads = 0
    public var writes = 0
    public var readBytes = 0
    public var writeBytes = 0

    public init(reads: Int = 0, writes: Int = 0, readBytes: Int = 0, writeBytes: Int = 0) {
        self.reads = reads
        self.writes = writes
        self.readBytes = readBytes
        self.writeBytes = writeBytes
    }

    public var accesses: Int { reads + writes }
    public var bytes: Int { readBytes + writeBytes }

    public static func + (a: Transfer, b: Transfer) -> Transfer {
        Transfer(
            reads: a.reads + b.reads, writes: a.writes + b.writes,
            readBytes: a.readBytes + b.readBytes, writeBytes: a.writeBytes + b.writeBytes)
    }

    public static func * (a: Transfer, k: Int) -> Transfer {
        Transfer(reads: a.reads * k, writes: a.writes * k, readBytes: a.readBytes * k, writeBytes: a.writeBytes * k)
    }

    /// `a + b`, throwing ``SimulationError/countOverflow(_:)`` instead of trapping.
    package static func checkedSum(_ a: Transfer, _ b: Transfer) throws(SimulationError) -> Transfer {
        Transfer(
            reads: try .checkedAdd(a.reads, b.reads), writes: try .checkedAdd(a.writes, b.writes),
            readBytes: try .checkedAdd(a.readBytes, b.readBytes), writeBytes: try .checkedAdd(a.writeBytes, b.writeBytes))
    }

    /// `a · k`, throwing ``SimulationError/countOverflow(_:)`` instead of trapping.
    static func checkedProduct(_ a: Transfer, _ k: Int) throws(SimulationError) -> Transfer {
        Transfer(
            reads: try .checkedMul(a.reads, k), writes: try .checkedMul(a.writes, k),
            readBytes: try .checkedMul(a.readBytes, k), writeBytes: try .checkedMul(a.writeBytes, k))
    }
}

/// One kernel launch of a schedule (docs/counting-rules.md §4): its grid size and the HBM traffic it moved, per
/// tensor. Nsight Compute measures one kernel at a time, so this is what it is compared with.
public struct KernelCounts: Hashable, Sendable {
    public var name: String
    /// CTAs in the kernel's grid (summed over batch·heads).
    public var ctas: Int
    public var byTensor: [Transfer] = Array(repeating: Transfer(), count: Tensor.allCases.count)

    public init(name: String, ctas: Int) {
        self.name = name
        self.ctas = ctas
    }

    public var hbm: Transfer { byTensor.reduce(Transfer(), +) }
}

/// Everything a schedule moved: HBM traffic per tensor, and SRAM-side operand traffic.
public struct TrafficCounts: Hashable, Sendable {
    /// HBM traffic per tensor, indexed by `Tensor.rawValue`.
    public var byTensor: [Transfer] = Array(repeating: Transfer(), count: Tensor.allCases.count)
    /// The same traffic by kernel, in launch order; the kernels' counts sum to `byTensor`.
    public var kernels: [KernelCounts] = []
    /// SRAM-side traffic (shared memory ↔ registers): reads of shared-memory operands (tiles loaded
    /// from HBM) once per warp that uses them, results written back to shared memory, FA1's
    /// cross-warp combine, plus HBM loads (SRAM writes) and stores (SRAM reads).
    public var sram = Transfer()
    /// The largest number of bytes resident at once.
    public var peakFootprint = 0

    public init() {}

    public subscript(_ t: Tensor) -> Transfer {
        get { byTensor[t.rawValue] }
        set { byTensor[t.rawValue] = newValue }
    }

    /// HBM totals over all tensors (``checkedHBM()`` has verified they fit in Int64 for every
    /// count the simulator returns).
    public var hbm: Transfer { byTensor.reduce(Transfer(), +) }

    /// HBM totals, or ``SimulationError/countOverflow(_:)`` when a total (or reads + writes) leaves Int64.
    public func checkedHBM() throws(SimulationError) -> Transfer {
        var total = Transfer()
        for t in byTensor { total = try .checkedSum(total, t) }
        _ = try Int.checkedAdd(total.reads, total.writes)
        _ = try Int.checkedAdd(total.readBytes, total.writeBytes)
        _ = try Int.checkedAdd(sram.reads, sram.writes)
        _ = try Int.checkedAdd(sram.readBytes, sram.writeBytes)
        return total
    }

    /// This run followed by `next` (a training step): traffic added per tensor, kernels listed in
    /// launch order, the larger peak footprint; ``SimulationError/countOverflow(_:)`` past Int64.
    public func adding(_ next: TrafficCounts) throws(SimulationError) -> TrafficCounts {
        var r = self
        for i in r.byTensor.indices { r.byTensor[i] = try .checkedSum(byTensor[i], next.byTensor[i]) }
        r.kernels += next.kernels
        r.sram = try .checkedSum(sram, next.sram)
        r.peakFootprint = max(peakFootprint, next.peakFootprint)
        _ = try r.checkedHBM()
        return r
    }

    /// Tensors with traffic, in `Tensor` order.
    public var movedTensors: [Tensor] { Tensor.allCases.filter { self[$0].accesses > 0 } }
}
