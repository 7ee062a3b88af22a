import AttentionReference
import Testing

@testable import IOSim

struct BackwardDataCase: CustomTestStringConvertible, Sendable {
    var kind: ScheduleKind, dtype: DType, n: Int, nk: Int, d: Int, tiles: KernelConfig, mask: AttentionMask
    var testDescription: String { "\(kind.rawValue) \(dtype) Nq=\(n) Nk=\(nk) d=\(d) \(tiles) \(mask)" }
}

let backwardDataCases: [BackwardDataCase] = ScheduleKind.backward.flatMap { kind in
    [DType.fp64, .fp32, .fp16, .bf16].flatMap { dtype in
        [
            (97, 97, 59, KernelConfig(br: 32, bc: 48), AttentionMask.none),
            (97, 97, 59, KernelConfig(br: 32, bc: 48), .causal(.bottomRight)),
            (130, 70, 64, KernelConfig(br: 64, bc: 32), .causal(.bottomRight)),
            (70, 130, 32, KernelConfig(br: 16, bc: 48), .causal(.topLeft)),
            (150, 150, 16, KernelConfig(br: 32, bc: 32), .slidingWindow(left: 40, right: 0, alignment: .bottomRight)),
            (1, 33, 16, KernelConfig(br: 16, bc: 16), .none),
        ].map { BackwardDataCase(kind: kind, dtype: dtype, n: $0.0, nk: $0.1, d: $0.2, tiles: $0.3, mask: $0.4) }
    }
}

/// Data mode of the backward schedules (docs/counting-rules.md §8a): each runs its forward, then its backward
/// through the simulated SRAM, and its dQ, dK, dV pass the tolerance rule (rtol 3) against the
/// reference gradients, ragged and masked; fp64 agrees with the reference to 1e-12 relative.
@Suite struct BackwardDataModeEquivalence {
    @Test(arguments: backwardDataCases)
    func backwardGradientsPassTheToleranceRuleAgainstTheReference(c: BackwardDataCase) throws {
        let p = AttentionProblem(n: c.n, nk: c.nk, d: c.d, batch: 2, heads: 1, dtype: c.dtype, mask: c.mask)
        let t = TileRequest(br: c.tiles.br, bc: c.tiles.bc)
        // Training (the same runs, counted together) once per schedule and dtype: it is slow in fp64.
        let training = c.n == 97 && c.mask == .causal(.bottomRight)
        for pass in [Pass.backward] + (training ? [.training] : []) {
            let r = Simulator.simulate(c.kind, p, capacity: 1 << 22, tiles: t, pass: pass)
            let report = try Verification.run(r, p, capacity: 1 << 22, seed: 3)
            let g = try #require(report.gradients)
            #expect(report.passed, "\(pass): \(report.equivalence)\n\(g)")
            // Data mode counts exactly what count mode counts, in both passes.
            #expect(
                report.counts
                    == r.counts.map {
                        var c = $0; c.peakFootprint = report.counts.peakFootprint; return c
                    })
            #expect(report.counts.byTensor == r.counts?.byTensor, "\(pass)")
        }
    }

    @Test func fp64GradientsAgreeWithTheReferenceTo1e12Relative() throws {
        let shape = AttentionShape(batch: 1, heads: 2, nq: 130, nk: 90, d: 48)
        let p = AttentionProblem(n: 130, nk: 90, d: 48, heads: 2, dtype: .fp64, causal: true)
        let (q, k, v) = Verification.inputs(p, seed: 9)
        let dO = Verification.upstreamGradient(p, seed: 9)
        let ref = try ReferenceGradients.backward(q: q, k: k, v: v, dO: dO, shape: shape, mask: p.mask)
        for kind in ScheduleKind.backward {
            let out = try DataMode.runBackward(
                kind, p, capacity: 1 << 22, pass: .backward, forwardTiles: KernelConfig(br: 32, bc: 48), tiles: KernelConfig(br: 32, bc: 48),
                q: q, k: k, v: v, dO: dO)
            let g = try #require(out.gradients)
            for (name, got, want) in [("dQ", g.dq, ref.dq), ("dK", g.dk, ref.dk), ("dV", g.dv, ref.dv)] {
                let scale = want.map(abs).max()!
                let err = zip(got, want).map { abs($0 - $1) }.max()!
                #expect(err <= 1e-12 * scale, "\(kind) \(name): \(err) at scale \(scale)")
            }
        }
    }

    @Test(arguments: [DType.fp64, .fp16])
    func fa2GQABackwardSumsTheGroupsGradientsWithinTheRule(dtype: DType) throws {
        for mask in [AttentionMask.none, .causal(.bottomRight)] {
            let p = AttentionProblem(n: 90, nk: 70, d: 32, batch: 2, heads: 4, kvHeads: 2, dtype: dtype, mask: mask)
            let r = Simulator.simulate(.fa2, p, capacity: 1 << 22, tiles: TileRequest(br: 32, bc: 48), pass: .backward)
            let report = try Verification.run(r, p, capacity: 1 << 22, seed: 11)
            let g = try #require(report.gradients)
            #expect(report.passed, "\(mask): \(g)")
            #expect(report.counts.byTensor == r.counts?.byTensor)
        }
    }

    @Test func rowsThatSeeNoKeyGetZeroGradients() throws {
        // Bottom-right causal with Nq > Nk: the first Nq − Nk rows see nothing.
        let p = AttentionProblem(n: 80, nk: 30, d: 16, dtype: .fp64, causal: true)
        let (q, k, v) = Verification.inputs(p, seed: 2)
        for kind in ScheduleKind.backward {
            let out = try DataMode.runBackward(
                kind, p, capacity: 1 << 22, pass: .backward, forwardTiles: KernelConfig(br: 16, bc: 16), tiles: KernelConfig(br: 16, bc: 16),
                q: q, k: k, v: v, dO: Verification.upstreamGradient(p, seed: 2))
            let dq = try #require(out.gradients?.dq)
            #expect(dq[0..<(50 * 16)].allSatisfy { $0 == 0 }, "\(kind)")
            #expect(dq[(50 * 16)...].contains { $0 != 0 }, "\(kind)")
        }
    }

    @Test func aWrongGradientIsCaught() throws {
        let p = AttentionProblem(n: 64, d: 16, dtype: .fp16)
        let shape = AttentionShape(nq: 64, d: 16)
        let (q, k, v) = Verification.inputs(p, seed: 5)
        let dO = Precision.fp16.round(Verification.upstreamGradient(p, seed: 5))
        let r = Precision.fp16
        var out = try DataMode.runBackward(
            .fa2, p, capacity: 1 << 22, pass: .backward, forwardTiles: KernelConfig(br: 16, bc: 16), tiles: KernelConfig(br: 16, bc: 16),
            q: r.round(q), k: r.round(k), v: r.round(v), dO: dO)
        out.gradients!.dk[17] += 0.05
        let report = try Equivalence.checkBackward(candidate: out.gradients!, q: q, k: k, v: v, dO: dO, shape: shape, precision: .fp16)
        #expect(!report.dk.passed)
        #expect(report.dq.passed && report.dv.passed)
    }

    @Test func dataModeRefusesABatchOfLengthsInBothPasses() throws {
        var p = AttentionProblem(n: 1, nk: 64, d: 16, batch: 3)
        p.lengthGroups = [.init(length: 32, count: 2), .init(length: 64, count: 1)]
        let (q, k, v) = Verification.inputs(p, seed: 1)
        let t = KernelConfig(br: 16, bc: 16)
        #expect(throws: SimulationError.self) { try DataMode.run(.fa2, p, capacity: 1 << 20, tiles: t, q: q, k: k, v: v) }
        #expect(throws: SimulationError.self) {
            try DataMode.runBackward(
                .fa2, p, capacity: 1 << 20, pass: .backward, forwardTiles: t, tiles: t, q: q, k: k, v: v,
                dO: Verification.upstreamGradient(p, seed: 1))
        }
    }
}
