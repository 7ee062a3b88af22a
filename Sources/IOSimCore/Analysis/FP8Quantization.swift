import AttentionReference
import RealModule

/// How fp8 (e4m3) inputs get their scales. A value is stored as e4m3(x / s) with one fp32 scale s
/// per block, and the kernel computes with s·e4m3(x / s).
public enum FP8Scaling: String, Sendable, CaseIterable {
    /// One scale for the whole tensor (the usual fp8 baseline).
    case perTensor = "per-tensor"
    /// One scale per tile the schedule loads (Br rows of Q, Bc rows of K or V): FlashAttention-3's
    /// block quantization, and what iosim counts as the `scales` tensor.
    case perBlock = "block"
}

/// fp8 quantization of attention inputs, and FlashAttention-3's incoherent processing.
///
/// Scales are powers of two, 2^⌈log₂(amax/448)⌉, rather than amax/448: the dequantized values are
/// then exact in fp32 and bf16, so the tolerance rule's baseline sees exactly the numbers the
/// schedule sees. It costs at most one binade of e4m3's range.
///
/// Incoherent processing (Shah et al. 2024, §3.3) multiplies Q and K by the same random orthogonal
/// matrix M = D·H/√d (D a random ±1 diagonal, H the Walsh–Hadamard matrix): QKᵀ is unchanged, and
/// outlier features are spread over all d columns before quantization. iosim models it as fused:
/// the transform is applied where Q and K are produced (FA3 fuses it with the rotary embedding,
/// a memory-bound pass that already reads and writes Q and K), so it adds no HBM traffic to the
/// attention kernel and the schedules' counts do not change.
public enum FP8Quantizer {
    /// The power-of-two scale that brings `amax` within e4m3's range.
    public static func scale(amax: Double) -> Double {
        guard amax > 0, amax.isFinite else { return 1 }
        return Double.exp2(Double.log2(amax / 448).rounded(.up))
    }

    /// Quantizes `x` laid out as [instances][rows][d]: per tensor, or in blocks of `blockRows` rows
    /// of each instance. Returns the dequantized values s·e4m3(x/s).
    public static func quantize(_ x: [Double], rows: Int, d: Int, scaling: FP8Scaling, blockRows: Int) -> [Double] {
        let e4m3 = Precision.fp8e4m3
        func apply(_ range: Range<Int>, _ out: inout [Double]) {
            let s = scale(amax: x[range].reduce(0) { max($0, abs($1)) })
            for i in range { out[i] = e4m3.round(x[i] / s) * s }
        }
        var out = x
        switch scaling {
        case .perTensor:
            apply(x.indices, &out)
        case .perBlock:
            let instances = x.count / max(1, rows * d)
            for inst in 0..<instances {
                for start in stride(from: 0, to: rows, by: blockRows) {
                    let lo = (inst * rows + start) * d, hi = (inst * rows + min(start + blockRows, rows)) * d
                    apply(lo..<hi, &out)
                }
            }
        }
        return out
    }

    /// Each row of `x` (length d, a power of two) times D·H/√d, with D's signs drawn from `seed`.
    public static func hadamard(_ x: [Double], d: Int, seed: UInt64) throws(SimulationError) -> [Double] {
        guard d > 0, d & (d - 1) == 0 else { throw .invalid("the Hadamard transform needs d a power of two, got \(d)") }
        var state = seed | 1
        let signs: [Double] = (0..<d).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 63 == 0 ? 1 : -1
        }
        var out = x
        let norm = 1 / Double(d).squareRoot()
        for base in stride(from: 0, to: x.count, by: d) {
            for c in 0..<d { out[base + c] *= signs[c] }
            var h = 1
            while h < d {  // in-place fast Walsh–Hadamard transform
                for i in stride(from: 0, to: d, by: 2 * h) {
                    for j in i..<i + h {
                        let a = out[base + j], b = out[base + j + h]
                        out[base + j] = a + b
                        out[base + j + h] = a - b
                    }
                }
                h *= 2
            }
            for c in 0..<d { out[base + c] *= norm }
        }
        return out
    }
}
