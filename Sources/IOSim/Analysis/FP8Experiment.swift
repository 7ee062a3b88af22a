import AttentionReference
import IOSimChecking
import IOSimCore
import IOSimFormats
import IOSimTimeModel
import RealModule

/// FlashAttention-3's fp8 accuracy experiment (Shah et al. 2024, §4.3): inputs with outlier
/// features, Q, K, V ~ N(0, 1) + Bernoulli(0.001)·N(0, 10²); the RMSE of O against the fp64
/// reference on the unquantized inputs, for fp8 with per-tensor scales, with block scales, and with
/// block scales after the Hadamard transform of Q and K. The paper reports 2.4e-2 for its
/// per-tensor baseline and 9.1e-3 with both techniques (2.6× lower).
public enum FP8Experiment {
    public struct Outcome: Sendable {
        public var perTensor: Double
        public var block: Double
        public var blockHadamard: Double
    }

    /// Inputs with outliers, seeded (Box–Muller on a 64-bit LCG).
    public static func inputs(count: Int, seed: UInt64, outlierRate: Double = 0.001, outlierStd: Double = 10) -> [Double] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return (Double(state >> 11) + 0.5) / Double(1 << 53)
        }
        func normal() -> Double { (-2 * Double.log(uniform())).squareRoot() * Double.cos(2 * .pi * uniform()) }
        return (0..<count).map { _ in normal() + (uniform() < outlierRate ? outlierStd * normal() : 0) }
    }

    /// Runs fa3 in data mode (fp8, tiles `tiles`) on the three quantizations of the same inputs;
    /// `progress` gets the fraction of the three runs' HBM reads done (each a third).
    public static func run(
        n: Int, d: Int, heads: Int = 1, tiles: KernelConfig, seed: UInt64, progress: ((Double) -> Void)? = nil
    ) throws -> Outcome {
        let p = AttentionProblem(n: n, d: d, heads: heads, dtype: .fp8)
        let count = heads * n * d
        let (q, k, v) = (inputs(count: count, seed: seed), inputs(count: count, seed: seed + 1), inputs(count: count, seed: seed + 2))
        let shape = AttentionShape(heads: heads, nq: n, d: d)
        let ref = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape)
        var done = 0.0
        func rmse(_ scaling: FP8Scaling, hadamard: Bool) throws -> Double {
            defer { done += 1 }
            let base = done
            let (qh, kh) =
                hadamard ? (try FP8Quantizer.hadamard(q, d: d, seed: seed ^ 0xABCD), try FP8Quantizer.hadamard(k, d: d, seed: seed ^ 0xABCD)) : (q, k)
            let (qq, kq, vq) = DataMode.fp8Inputs(p, tiles: tiles, q: qh, k: kh, v: v, scaling: scaling)
            let out = try DataMode.run(
                .fa3, p, capacity: 1 << 24, tiles: tiles, q: qq, k: kq, v: vq,
                progress: progress.map { report in { f in report(min(1, (base + f) / 3)) } })
            let sq = zip(out.result.o, ref.o).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            return (sq / Double(ref.o.count)).squareRoot()
        }
        return Outcome(
            perTensor: try rmse(.perTensor, hadamard: false), block: try rmse(.perBlock, hadamard: false),
            blockHadamard: try rmse(.perBlock, hadamard: true))
    }
}
