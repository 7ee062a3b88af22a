import AttentionReference
import TestSupport
import Testing

@testable import IOSim

@Suite struct FP8Quantization {
    @Test func scalesArePowersOfTwoThatKeepTheBlockWithinE4M3() {
        for amax in [1e-3, 0.7, 1, 448, 449, 3e4] {
            let s = FP8Quantizer.scale(amax: amax)
            #expect(s.significandBitPattern == 0 && amax / s <= 448 && amax / s > 224, "\(amax)")
        }
    }

    @Test func blockScalesFollowEachBlocksOwnRange() {
        // Two 2-row blocks of d = 2: one small, one with an outlier. Per block, the small block keeps
        // its precision; per tensor, it is quantized on the outlier's scale.
        let x = [0.011, 0.013, 0.017, 0.019, 900, 1, 2, 3]
        let block = FP8Quantizer.quantize(x, rows: 4, d: 2, scaling: .perBlock, blockRows: 2)
        let tensor = FP8Quantizer.quantize(x, rows: 4, d: 2, scaling: .perTensor, blockRows: 2)
        let err = { (y: [Double]) in zip(y.prefix(4), x.prefix(4)).map { abs($0 - $1) / $1 }.max()! }
        #expect(err(block) <= 1.0 / 16 && err(tensor) > err(block))
    }

    @Test(arguments: [16, 64, 128])
    func hadamardTransformLeavesQKTransposeUnchanged(d: Int) throws {
        let q = FP8Experiment.inputs(count: 5 * d, seed: 1), k = FP8Experiment.inputs(count: 7 * d, seed: 2)
        let (qh, kh) = (try FP8Quantizer.hadamard(q, d: d, seed: 9), try FP8Quantizer.hadamard(k, d: d, seed: 9))
        for i in 0..<5 {
            for j in 0..<7 {
                let a = (0..<d).reduce(0.0) { $0 + q[i * d + $1] * k[j * d + $1] }
                let b = (0..<d).reduce(0.0) { $0 + qh[i * d + $1] * kh[j * d + $1] }
                #expect(abs(a - b) <= 1e-12 * max(1, abs(a)))
            }
        }
        #expect(throws: SimulationError.self) { try FP8Quantizer.hadamard(q, d: 80, seed: 9) }
    }

    @Test(arguments: ScheduleKind.allCases)
    func fp8SchedulesWithBlockScalesPassTheToleranceRule(kind: ScheduleKind) throws {
        let p = AttentionProblem(n: 150, d: 64, heads: 2, dtype: .fp8, causal: kind == .fa2)
        let shape = AttentionShape(heads: 2, nq: 150, d: 64)
        let tiles = KernelConfig(br: 64, bc: 32)
        let x = AttentionInputs(shape, seed: 11)
        let (q, k, v) = DataMode.fp8Inputs(p, tiles: tiles, q: x.q, k: x.k, v: x.v, scaling: .perBlock)
        let out = try DataMode.run(kind, p, capacity: 1 << 22, tiles: tiles, q: q, k: k, v: v)
        let report = try Equivalence.checkForward(
            candidate: out.result, q: q, k: k, v: v, shape: shape,
            mask: p.causal ? .causal(.topLeft) : .none, precision: .fp8e4m3,
            roundInputs: false)
        #expect(report.passed, "\(report)")
    }

    @Test func blockScalesWithHadamardCutTheOutlierErrorOfPerTensorFP8() throws {
        // FlashAttention-3 §4.3 reports 2.6×; this emulation measures about 1.7× (see the closing
        // note of the FA3 issue for why); the test asserts a clear gain and that block scales alone
        // never do worse than one scale per tensor.
        let r = try FP8Experiment.run(n: 512, d: 128, tiles: KernelConfig(br: 128, bc: 128), seed: 0)
        #expect(r.perTensor / r.blockHadamard > 1.4, "\(r)")
        #expect(r.block <= r.perTensor * 1.001, "\(r)")
    }
}
