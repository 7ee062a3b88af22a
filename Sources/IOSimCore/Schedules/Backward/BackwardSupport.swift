/// What the backward schedules (docs/counting-rules.md §8a) share: the problems they model, and their footprint.
enum BackwardSupport {
    /// The backward schedules model fp16, bf16, fp32 and fp64 (no FlashAttention release has an fp8
    /// backward). fa2 models GQA as FlashAttention-3's backward runs it (dK, dV accumulated per KV
    /// head in fp32 with atomics, then converted); standard and fa1 model kv_heads = heads only,
    /// and no schedule a packed (`--pack-gqa`) backward.
    static func check(_ p: AttentionProblem, _ kind: ScheduleKind) throws(SimulationError) {
        guard p.dtype != .fp8 else {
            throw .infeasible("\(kind.rawValue) has no fp8 backward (FlashAttention-3's fp8 kernels are forward only)")
        }
        guard p.packFactor == 1 else { throw .infeasible("\(kind.rawValue)'s backward has no --pack-gqa form") }
        guard p.heads == p.kvHeads || kind == .fa2 else {
            throw .infeasible(
                "\(kind.rawValue)'s backward needs kv_heads = heads (only fa2 models a GQA backward)")
        }
    }

    /// Values a backward data-mode run holds per instance besides the forward's: dO, dQ (its fp32
    /// accumulator and its final values), dK, dV and D.
    static func gradientValues(_ p: AttentionProblem) -> Double { 4 * Double(p.n) * Double(p.d) + 2 * Double(p.nk) * Double(p.d) }

    /// FA2's backward main kernel (docs/tiles.md, "Footprints"): Kⱼ, Vⱼ, Qᵢ, dOᵢ in the dtype; the dKⱼ, dVⱼ
    /// accumulators, the dQᵢ partial, LSEᵢ, Dᵢ and the S/P and dP/dS blocks in fp32:
    /// s·(2·Bc·d + 2·Br·d) + 4·(2·Bc·d + Br·d + 2·Br + 2·Br·Bc).
    static func fa2Footprint(_ t: KernelConfig, _ p: AttentionProblem) -> Int {
        let (s, so, br, bc, d) = (p.dtype.size, Format.output.bytes(p.dtype), t.br, t.bc, p.d)
        return s * (2 * bc * d + br * d) + so * br * d + 4 * (2 * bc * d + br * d + 2 * br + 2 * br * bc)
    }
}
