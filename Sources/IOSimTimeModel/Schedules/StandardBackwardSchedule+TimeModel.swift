import IOSimCore
import IOSimFormats

/// Standard attention's backward time: five bulk kernels, 8·N·Nk·d GEMM FLOPs at the tensor rate,
/// dS's elementwise work on every SM's fp32 units, every counted byte at the bandwidth
/// (``TimeEstimate/backwardEstimate(_:_:_:)``).
extension StandardBackwardSchedule: BackwardTimeModeled {
    public static func backwardTime(_ c: BackwardTimeContext) throws(ModelError) -> TimeEstimate.Breakdown? {
        let p = c.p
        let scores = Double(p.n) * Double(p.nk) * Double(p.instances)
        let gemms = 8 * scores * Double(p.d) / c.peak
        // dS = P ∘ (dP − D): a multiply-add and a product per score, on every SM's fp32 units.
        let elementwise = 2 * scores / (c.rate.fp32 * Double(c.hw.sms))
        let bytes = c.bulkSeconds(["dv", "dp", "ds", "dq", "dk"])
        return TimeEstimate.Breakdown(seconds: gemms + elementwise + bytes, ctas: 0, waves: 0, hbmBytes: Double(c.counts.hbm.bytes))
    }
}
