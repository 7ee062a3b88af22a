import AttentionReference
import RealModule

/// The arithmetic behind ``DataMachine/compute(_:)``: GEMMs, the softmax variants and the row
/// statistics, on the machine's SRAM buffers.
extension DataMachine {
    /// Saha–Ye's exponentiation: no row max is subtracted (their algorithm has none), so a score
    /// above log(max) of the arithmetic or of the dtype P is stored in overflows; that is reported
    /// rather than turned into Inf. Masked entries are −∞ already and become 0.
    mutating func expAccumulate(_ s: Operand, sum l: Operand) throws(SimulationError) {
        let (br, bc) = shapes[s.slot]
        let limit = problem.dtype.outputPrecision.greatestFinite
        for r in 0..<br {
            var sum: A = 0
            for c in 0..<bc {
                let x = buffers[s.slot][r * bc + c], p = A.exp(x)
                guard Double(p) <= limit else {
                    throw .invalid(
                        "small-m overflowed: exp(\(x)) exceeds \(problem.dtype.outputPrecision)'s range (Saha–Ye's algorithm subtracts no row max); scale the inputs down or use fa2"
                    )
                }
                buffers[s.slot][r * bc + c] = p
                sum += p
            }
            buffers[l.slot][r] += sum
        }
    }

    /// c = α·a·b or α·a·bᵀ (+ c), with BLAS; shapes from the buffers.
    mutating func gemm(_ a: Operand, _ b: Operand, into c: Operand, transB: Bool, alpha: A, accumulate: Bool) {
        let (m, k) = shapes[a.slot], n = transB ? shapes[b.slot].rows : shapes[b.slot].cols
        let (x, y) = (buffers[a.slot], buffers[b.slot])
        var out = take(c)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                out.withUnsafeMutableBufferPointer { o in
                    A.gemm(
                        transB: transB, m: m, n: n, k: k, alpha: alpha, a: x.baseAddress!, lda: k,
                        b: y.baseAddress!, ldb: transB ? k : n, beta: accumulate ? 1 : 0, c: o.baseAddress!, ldc: n)
                }
            }
        }
        buffers[c.slot] = out
    }

    /// c = α·aᵀ·b (+ c); with `roundA`, a rounded to the input dtype first.
    mutating func gemmTransA(_ a: Operand, _ b: Operand, into c: Operand, alpha: A, accumulate: Bool, roundA: Bool) {
        let (k, m) = shapes[a.slot], n = shapes[b.slot].cols
        // Tiles are small: transposing a copy keeps one BLAS entry point (A·B or A·Bᵀ).
        var at = [A](repeating: 0, count: m * k)
        for r in 0..<k {
            for col in 0..<m {
                let x = buffers[a.slot][r * m + col]
                at[col * k + r] = roundA ? roundP(x) : x
            }
        }
        let y = buffers[b.slot]
        var out = take(c)
        at.withUnsafeBufferPointer { x in
            y.withUnsafeBufferPointer { y in
                out.withUnsafeMutableBufferPointer { o in
                    A.gemm(
                        transB: false, m: m, n: n, k: k, alpha: alpha, a: x.baseAddress!, lda: k,
                        b: y.baseAddress!, ldb: n, beta: accumulate ? 1 : 0, c: o.baseAddress!, ldc: n)
                }
            }
        }
        buffers[c.slot] = out
    }

    /// Rounds a value to the input dtype, as dS enters the backward's tensor-core GEMMs.
    @inline(__always) func roundInput(_ x: A) -> A {
        problem.dtype == .fp64 || problem.dtype == .fp32 ? x : A(problem.dtype.precision.round(Double(x)))
    }

    /// Standard backward, pass 1 over a chunk of one row: D += Σ P ∘ dP.
    mutating func rowGradientStatistics(_ pb: Operand, _ dp: Operand, first: Bool) {
        if first { rowDelta = 0 }
        for i in buffers[pb.slot].indices { rowDelta += buffers[pb.slot][i] * buffers[dp.slot][i] }
    }

    /// Standard backward, pass 2 over a chunk of one row: dS = P ∘ (dP − D).
    mutating func rowGradientApply(_ pb: Operand, _ dp: Operand) {
        for i in buffers[pb.slot].indices { buffers[dp.slot][i] = buffers[pb.slot][i] * (buffers[dp.slot][i] - rowDelta) }
    }

    /// Moves a buffer's storage out, so it can be written while others are read.
    mutating func take(_ b: Operand) -> [A] {
        let x = buffers[b.slot]
        buffers[b.slot] = []
        return x
    }

    /// Rounds a probability to the input dtype, as it enters the PV tensor-core GEMM.
    @inline(__always) func roundP(_ x: A) -> A {
        problem.dtype == .fp64 || problem.dtype == .fp32 ? x : A(problem.dtype.precision.roundProbability(Double(x)))
    }

    /// Replaces row r of s (bc wide) by exp(s − m) with the row max m of s; returns (m, rowsum).
    mutating func exponentiate(_ s: Operand, row r: Int, max given: A? = nil) -> (max: A, sum: A) {
        let bc = shapes[s.slot].cols
        var m = given ?? -A.infinity
        if given == nil { for c in 0..<bc { m = Swift.max(m, buffers[s.slot][r * bc + c]) } }
        var l: A = 0
        for c in 0..<bc {
            let i = r * bc + c
            let p = m == -A.infinity ? 0 : A.exp(buffers[s.slot][i] - m)
            l += p
            buffers[s.slot][i] = roundP(p)
        }
        return (m, l)
    }

    mutating func onlineSoftmax(_ s: Operand, max m: Operand, sum l: Operand, acc: Operand) {
        let (br, bc) = shapes[s.slot], d = shapes[acc.slot].cols
        for r in 0..<br {
            var tileMax = -A.infinity
            for c in 0..<bc { tileMax = Swift.max(tileMax, buffers[s.slot][r * bc + c]) }
            let old = buffers[m.slot][r], new = Swift.max(old, tileMax)
            let (_, sum) = exponentiate(s, row: r, max: new)
            let alpha = old == -A.infinity ? 0 : A.exp(old - new)
            buffers[l.slot][r] = alpha * buffers[l.slot][r] + sum
            for c in 0..<d { buffers[acc.slot][r * d + c] *= alpha }
            buffers[m.slot][r] = new
        }
    }

    mutating func fa1Update(_ s: Operand, _ v: Operand, o: Operand, max mb: Operand, sum lb: Operand, scratch: Operand) {
        let br = shapes[s.slot].rows, d = shapes[o.slot].cols
        var tile = [(max: A, sum: A)]()
        for r in 0..<br { tile.append(exponentiate(s, row: r)) }
        gemm(s, v, into: scratch, transB: false, alpha: 1, accumulate: false)
        for r in 0..<br {
            let (mt, lt) = tile[r]
            let m = buffers[mb.slot][r], l = buffers[lb.slot][r]
            let mNew = Swift.max(m, mt)
            guard mNew > -A.infinity else { continue }  // nothing live in this row yet
            let a = m == -A.infinity ? 0 : A.exp(m - mNew), b = mt == -A.infinity ? 0 : A.exp(mt - mNew)
            let lNew = a * l + b * lt
            for c in 0..<d {
                let i = r * d + c
                buffers[o.slot][i] = (l * a * buffers[o.slot][i] + b * buffers[scratch.slot][i]) / lNew
            }
            buffers[mb.slot][r] = mNew
            buffers[lb.slot][r] = lNew
        }
    }

    /// Folds a chunk of row r of S (in `row`) into the running max and sum; causal-masked entries
    /// (column > r) do not count.
    mutating func rowStatistics(_ row: Operand, r: Int, cols: Range<Int>, first: Bool) {
        if first { rowMax = -A.infinity; rowSum = 0 }
        let visible = problem.visibleKeys(row: r)
        let live = cols.filter { visible.contains($0) }
        var m = rowMax
        for c in live { m = Swift.max(m, buffers[row.slot][c - cols.lowerBound]) }
        guard m > -A.infinity else { return }
        var sum: A = 0
        for c in live { sum += A.exp(buffers[row.slot][c - cols.lowerBound] - m) }
        rowSum = (rowMax == -A.infinity ? 0 : rowSum * A.exp(rowMax - m)) + sum
        rowMax = m
    }

    /// P = exp(S − m)/ℓ over a chunk of row r, zero where causal-masked.
    mutating func normalize(_ row: Operand, r: Int, cols: Range<Int>) {
        let visible = problem.visibleKeys(row: r)
        for c in cols {
            let i = c - cols.lowerBound
            let masked = !visible.contains(c)
            buffers[row.slot][i] = masked || rowSum == 0 ? 0 : A.exp(buffers[row.slot][i] - rowMax) / rowSum
        }
    }
}
