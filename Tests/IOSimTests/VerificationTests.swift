import AttentionReference
import Foundation
import IOSim
import Testing

/// The seeded inputs of data-mode verification: what each distribution is, and that the default
/// exercises the online softmax.
@Suite struct VerificationInputs {
    static let p = AttentionProblem(n: 512, d: 64)

    /// Largest |O| of the exact attention of the inputs.
    static func maxAbsO(_ inputs: InputDistribution) throws -> Double {
        let (q, k, v) = Verification.inputs(p, seed: 0, distribution: inputs)
        let shape = AttentionShape(batch: 1, heads: 1, kvHeads: 1, nq: p.n, nk: p.nk, d: p.d)
        return try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape).o.map(abs).max()!
    }

    /// Standard deviation of the scores q·k/√d over the first rows.
    static func scoreStd(_ inputs: InputDistribution) -> Double {
        let (q, k, _) = Verification.inputs(p, seed: 0, distribution: inputs)
        var s: [Double] = []
        for i in 0..<16 {
            for j in 0..<p.nk {
                s.append((0..<p.d).reduce(0) { $0 + q[i * p.d + $1] * k[j * p.d + $1] } / Double(p.d).squareRoot())
            }
        }
        let mean = s.reduce(0, +) / Double(s.count)
        return (s.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(s.count)).squareRoot()
    }

    @Test func defaultNormalInputsSpreadTheScoresOverSeveralUnits() throws {
        let normal = Self.scoreStd(.normal), uniform = Self.scoreStd(.uniform)
        #expect(abs(normal - InputDistribution.normalScoreStd) < 0.15, "score std \(normal)")
        #expect(abs(uniform - 1.0 / 3) < 0.05, "score std \(uniform)")
        #expect(try Self.maxAbsO(.uniform) < 0.15, "uniform inputs give an almost flat softmax")
        #expect(try Self.maxAbsO(.normal) > 0.5, "normal inputs give a peaked softmax")
    }

    @Test func uniformInputsAreTheGeneratorVerifyAlwaysHad() {
        var state: UInt64 = 7 &+ 0x9E37_79B9_7F4A_7C15
        let old = (0..<10).map { _ -> Double in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
        #expect(Array(Verification.inputs(Self.p, seed: 7, distribution: .uniform).q.prefix(10)) == old)
    }

    @Test(arguments: InputDistribution.allCases)
    func theSameSeedGivesTheSameInputs(inputs: InputDistribution) {
        let a = Verification.inputs(Self.p, seed: 3, distribution: inputs)
        let b = Verification.inputs(Self.p, seed: 3, distribution: inputs)
        let c = Verification.inputs(Self.p, seed: 4, distribution: inputs)
        #expect(a.q == b.q && a.k == b.k && a.v == b.v)
        #expect(a.q != c.q)
    }

    @Test func outlierInputsHaveRareLargeEntries() {
        let q = Verification.inputs(Self.p, seed: 0, distribution: .outliers).q
        let large = q.filter { abs($0) > 6 }.count
        #expect(large > 0 && large < q.count / 500, "\(large) of \(q.count)")
    }

    @Test func inputsHaveTheUsersLayoutWithGQA() {
        let p = AttentionProblem(n: 5, nk: 7, d: 4, batch: 2, heads: 4, kvHeads: 2)
        let (q, k, v) = Verification.inputs(p, seed: 0)
        #expect(q.count == 2 * 4 * 5 * 4 && k.count == 2 * 2 * 7 * 4 && v.count == k.count)
    }
}

/// The library's verification runs a schedule in data mode and checks it against the reference;
/// the command line only calls it.
@Suite struct VerificationRuns {
    @Test(arguments: [DType.fp16, .fp32, .fp8])
    func aScheduleThatComputesAttentionPasses(dtype: DType) throws {
        let p = AttentionProblem(n: 100, nk: 130, d: 32, heads: 2, dtype: dtype, causal: true)
        for kind in [ScheduleKind.fa2, .fa1] {
            let r = Simulator.simulate(kind, p, capacity: 32_768, tiles: TileRequest(br: 32, bc: 48))
            let report = try Verification.run(r, p, capacity: 32_768, seed: 5)
            #expect(report.equivalence.passed, "\(kind) \(dtype): \(report.equivalence)")
            #expect(report.counts == r.counts, "data mode counts what count mode counts")
            #expect(report.schedule == kind)
        }
    }

    @Test func uncheckedRunsCountWhatCountModeCounts() throws {
        let p = AttentionProblem(n: 77, d: 16, batch: 2, heads: 4, kvHeads: 2, packGQA: true)
        let r = Simulator.simulate(.fa2, p, capacity: 16_384)
        #expect(try Verification.runUnchecked(r, p, capacity: 16_384, seed: 0, inputs: .uniform) == r.counts)
    }

    @Test func anInfeasibleResultIsAStructuredError() {
        let p = AttentionProblem(n: 64, d: 64)
        let r = Simulator.simulate(.fa2, p, capacity: 10)
        #expect(!r.feasible)
        do {
            _ = try Verification.run(r, p, capacity: 10, seed: 0)
            Issue.record("ran an infeasible result")
        } catch let error as SimulationError {
            guard case .infeasible = error else { Issue.record("\(error)"); return }
        } catch { Issue.record("\(error)") }
    }

    /// Data mode refuses a problem larger than the machine's memory with a structured error that
    /// names no flag (the command line words it).
    @Test func tooLargeAProblemIsRefusedBeforeAllocating() throws {
        let p = AttentionProblem(n: 1 << 16, d: 64, batch: 512, heads: 512)
        do {
            try DataMode.checkMemory(.fa2, p)
            Issue.record("accepted a problem of \(DataMode.memoryEstimate(.fa2, p)) bytes")
        } catch let error {
            guard case let .dataModeMemory(schedule, needed, available) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(schedule == .fa2 && needed == DataMode.memoryEstimate(.fa2, p))
            #expect(Double(available) < needed && available > 0)
            #expect(!error.description.contains("--"), "\(error.description)")
        }
        let r = Simulator.simulate(.fa2, p, capacity: 100_000)
        #expect(throws: SimulationError.self) { _ = try Verification.run(r, p, capacity: 100_000, seed: 0) }
    }
}
