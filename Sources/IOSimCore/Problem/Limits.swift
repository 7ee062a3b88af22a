/// The largest problems the tool accepts (README, "Limits"). Beyond them input is refused with one
/// line before anything runs. They keep every size, footprint and loop bounded: with N ≤ 2²⁴,
/// d ≤ 2¹⁴ and 8-byte elements no footprint or per-instance tile product exceeds 2⁶³, and
/// counts, which can still grow past Int64 with batch·heads and N², are summed with checked
/// arithmetic and reported as ``SimulationError/countOverflow(_:)`` when they would.
public enum Limits {
    /// Rows of Q or of K/V per sequence (`--N`, `--Nk`): 16M = 2²⁴ (Llama 4's 10M-token context fits).
    public static let maxSequence = 1 << 24
    /// Head dimension: 16K = 2¹⁴.
    public static let maxHeadDim = 1 << 14
    /// Batch, heads and KV heads, each: 2²⁴.
    public static let maxBatchOrHeads = 1 << 24
    /// SRAM capacity `--M`: 1 PiB = 2⁵⁰ bytes (every whole number of bytes below it is exact in a Double).
    public static let maxCapacityBytes = 1 << 50
    /// Split-KV's splits (FlashAttention-2 uses at most 128).
    public static let maxSplits = 1024
    /// FA3 pipeline stages.
    public static let maxStages = 64
    /// Warps per thread block (CUDA's 1024 threads).
    public static let maxWarps = 32
    /// Counts (elements and bytes, summed over batch·heads) are Int64: 2⁶³ − 1.
    public static let maxCount = Int.max

    /// `a · b`, or `nil` when it overflows Int.
    @inline(__always) public static func product(_ a: Int, _ b: Int) -> Int? {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : r
    }
}

/// Checked count arithmetic: a sum or product that leaves Int64 throws instead of trapping.
extension Int {
    @inline(__always) package static func checkedAdd(_ a: Int, _ b: Int) throws(SimulationError) -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        if o { throw .countOverflow("a count") }
        return r
    }

    @inline(__always) package static func checkedMul(_ a: Int, _ b: Int) throws(SimulationError) -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        if o { throw .countOverflow("a count") }
        return r
    }
}

extension Limits {
    /// Transformer layers of a workload model: 2¹⁶ (the largest published models have about 128).
    public static let maxLayers = 1 << 16
}
