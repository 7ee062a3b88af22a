import AttentionReference
import TestSupport
import Testing

@testable import IOSim

struct DataCase: CustomTestStringConvertible, Sendable {
    var kind: ScheduleKind, dtype: DType, n: Int, d: Int, tiles: KernelConfig, causal: Bool
    var testDescription: String { "\(kind.rawValue) \(dtype) N=\(n) d=\(d) \(tiles) causal=\(causal)" }
}

let dataCases: [DataCase] = ScheduleKind.allCases.flatMap { kind in
    // chunk-attn has no mask (ChunkAttnTests checks its data mode with shared prefixes).
    [DType.fp64, .fp32, .fp16, .bf16].flatMap { dtype in
        [
            (97, 59, KernelConfig(br: 32, bc: 48), false), (97, 59, KernelConfig(br: 32, bc: 48), true),
            (130, 64, KernelConfig(br: 64, bc: 64), true), (1, 16, KernelConfig(br: 16, bc: 16), false),
        ].filter { kind != .chunkAttn || !$0.3 }.map {
            DataCase(kind: kind, dtype: dtype, n: $0.0, d: $0.1, tiles: $0.2, causal: $0.3)
        }
    }
}

@Suite struct DataModeEquivalence {
    @Test(arguments: dataCases)
    func scheduleOutputPassesTheToleranceRuleAgainstTheReference(c: DataCase) throws {
        let p = AttentionProblem(n: c.n, d: c.d, batch: 1, heads: 2, dtype: c.dtype, causal: c.causal)
        let shape = AttentionShape(batch: 1, heads: 2, nq: c.n, d: c.d)
        let prec = c.dtype.precision
        let (q, k, v) = AttentionInputs(shape, seed: 1).qkv
        let out = try DataMode.run(
            c.kind, p, capacity: 1 << 22, tiles: c.tiles,
            q: prec.round(q), k: prec.round(k), v: prec.round(v))
        let report = try Equivalence.checkForward(
            candidate: out.result, q: q, k: k, v: v, shape: shape,
            mask: c.causal ? .causal(.topLeft) : .none, precision: prec)
        #expect(report.passed, "\(report)")
        // vLLM's paged kernels and ChunkAttention's write no LSE.
        if ![.standard, .smallM, .pagedV1, .pagedV2, .chunkAttn].contains(c.kind) { #expect(report.lse != nil) }
        // Data mode counts exactly what count mode counts.
        let counted = Simulator.simulate(c.kind, p, capacity: 1 << 22, tiles: TileRequest(br: c.tiles.br, bc: c.tiles.bc))
        #expect(out.counts.byTensor == counted.counts?.byTensor)
    }

    @Test func fp64SchedulesAgreeWithTheReferenceToAbout1e13() throws {
        let p = AttentionProblem(n: 200, d: 64, dtype: .fp64, causal: true)
        let shape = AttentionShape(nq: 200, d: 64)
        let (q, k, v) = AttentionInputs(shape, seed: 4).qkv
        let ref = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape, mask: .causal(.topLeft))
        for kind in ScheduleKind.allCases where kind.models(p) {
            let out = try DataMode.run(kind, p, capacity: 1 << 22, tiles: KernelConfig(br: 48, bc: 32), q: q, k: k, v: v)
            let err = zip(out.result.o, ref.o).map { abs($0 - $1) }.max()!
            #expect(err < 1e-13, "\(kind): \(err)")
        }
    }

    @Test func aBrokenScheduleIsCaught() throws {
        // Perturbing one output element beyond the allowance makes the equivalence check fail.
        let p = AttentionProblem(n: 50, d: 16, dtype: .fp16)
        let shape = AttentionShape(nq: 50, d: 16)
        let (q, k, v) = AttentionInputs(shape, seed: 7).qkv
        let r = Precision.fp16
        var out = try DataMode.run(.fa2, p, capacity: 1 << 20, tiles: KernelConfig(br: 16, bc: 16), q: r.round(q), k: r.round(k), v: r.round(v))
        let ok = try Equivalence.checkForward(candidate: out.result, q: q, k: k, v: v, shape: shape, precision: .fp16)
        out.result.o[123] += 3 * ok.output.allowed
        let bad = try Equivalence.checkForward(candidate: out.result, q: q, k: k, v: v, shape: shape, precision: .fp16)
        #expect(ok.passed && !bad.passed)
    }
}

/// Core v2: data mode under every structured mask, Nq ≠ Nk and GQA packing, against the reference
/// with the same mask.
@Suite struct MaskedDataModeEquivalence {
    static let masks: [AttentionMask] = [
        .causal(.topLeft), .causal(.bottomRight),
        .slidingWindow(left: 40, right: 0, alignment: .bottomRight),
        .slidingWindow(left: 17, right: 0, alignment: .topLeft),
        .slidingWindow(left: 9, right: 14, alignment: .bottomRight),
        .slidingWindow(left: Limits.maxSequence - 1, right: 6, alignment: .topLeft),
    ]

    @Test(arguments: [(97, 150), (150, 61), (1, 300)])
    func everyScheduleMatchesTheReferenceUnderMasksAndPacking(n: Int, nk: Int) throws {
        // bf16 on the packed runs, fp32 on the others: both roundings are covered at half the cost.
        for mask in Self.masks {
            for pack in [false, true] {
                for dtype in [pack ? DType.bf16 : .fp32] {
                    let p = AttentionProblem(n: n, nk: nk, d: 32, batch: 1, heads: 4, kvHeads: 2, dtype: dtype, mask: mask, packGQA: pack)
                    let shape = AttentionShape(batch: 1, heads: 4, kvHeads: 2, nq: n, nk: nk, d: 32)
                    let prec = dtype.precision
                    let (q, k, v) = AttentionInputs(shape, seed: 7).qkv
                    for kind in ScheduleKind.allCases where kind.models(p) {
                        let t = KernelConfig(br: 32, bc: 48)
                        let out = try DataMode.run(kind, p, capacity: 1 << 22, tiles: t, q: prec.round(q), k: prec.round(k), v: prec.round(v))
                        let report = try Equivalence.checkForward(
                            candidate: out.result, q: q, k: k, v: v, shape: shape,
                            mask: mask, precision: prec)
                        #expect(report.passed, "\(kind) \(mask) pack=\(pack) \(dtype): \(report)")
                        let counted = Simulator.simulate(kind, p, capacity: 1 << 22, tiles: TileRequest(br: t.br, bc: t.bc))
                        #expect(out.counts.byTensor == counted.counts?.byTensor)
                    }
                }
            }
        }
    }
}
