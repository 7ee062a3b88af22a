import AttentionReference
import Testing

@testable import IOSim

/// chunk-attn in data mode (the tolerance rule of docs/numerics.md): O through both phases, partials rounded
/// to the dtype in the simulated HBM, on inputs whose first P K/V rows are the same in every
/// sequence.
@Suite struct ChunkAttnDataMode {
    static func problem(_ dtype: DType, nq: Int = 1, nk: Int = 150, prefix: Int = 100, chunk: Int = 32) -> AttentionProblem {
        var p = AttentionProblem(n: nq, nk: nk, d: 40, batch: 3, heads: 2, dtype: dtype)
        (p.sharedPrefix, p.chunk) = (prefix, chunk)
        return p
    }

    @Test(arguments: [DType.fp64, .fp32, .fp16, .bf16])
    func bothPhasesPassTheReferenceOnASharedPrefix(dtype: DType) throws {
        for (nq, nk, prefix, chunk) in [(1, 150, 100, 32), (3, 150, 128, 32), (1, 96, 96, 16), (2, 70, 20, 32)] {
            let p = Self.problem(dtype, nq: nq, nk: nk, prefix: prefix, chunk: chunk)
            let r = Simulator.simulate(.chunkAttn, p, capacity: 1 << 22, tiles: TileRequest(br: 2, bc: chunk))
            let report = try Verification.run(r, p, capacity: 1 << 22, seed: 3)
            #expect(report.passed, "\(dtype) Nq=\(nq) Nk=\(nk) P=\(prefix) c=\(chunk): \(report.equivalence)")
            #expect(report.counts.byTensor == r.counts?.byTensor, "data mode counts what count mode counts")
        }
    }

    @Test func theInputsShareTheirPrefixAndOnlyIt() {
        let p = Self.problem(.fp32)
        let (_, k, v) = Verification.inputs(p, seed: 3)
        let perSequence = p.kvHeads * p.nk * p.d
        for b in 1..<p.batch {
            for h in 0..<p.kvHeads {
                let a = h * p.nk * p.d, x = b * perSequence + a
                #expect(k[x..<x + p.sharedPrefix * p.d] == k[a..<a + p.sharedPrefix * p.d])
                #expect(v[x..<x + p.sharedPrefix * p.d] == v[a..<a + p.sharedPrefix * p.d])
                #expect(k[x + p.sharedPrefix * p.d] != k[a + p.sharedPrefix * p.d], "row P is the sequence's own")
            }
        }
        var none = p
        none.sharedPrefix = 0
        #expect(Verification.drawn(p, seed: 3, distribution: .normal).k == Verification.inputs(none, seed: 3).k)
    }

    /// The sequence-first kernel alone, on partials placed in HBM: O of every instance.
    static func sequenceFirst(_ p: AttentionProblem, _ t: KernelConfig, q: [Double], k: [Double], v: [Double], opart: [Double], lsepart: [Double])
        throws
        -> [Double]
    {
        var m = DataMachine<Float>(problem: p, capacity: 1 << 22, q: q, k: k, v: v)
        m.partitions = ChunkAttnSchedule.partialSlots(p, t)
        m.place(.Opart, opart)
        m.place(.LSEpart, lsepart)
        for inst in 0..<p.instances { try ChunkAttnSchedule.sequenceFirst(&m, t, instance: inst, length: p.nk) }
        return (m.hbm[.O] ?? []).map(Double.init)
    }

    @Test func aPerturbedPartialIsCaught() throws {
        let p = Self.problem(.fp16)
        let t = KernelConfig(br: 1, bc: p.chunk)
        let shape = AttentionShape(batch: p.batch, heads: p.heads, nq: p.n, nk: p.nk, d: p.d)
        let prec = p.dtype.precision
        let (q0, k0, v0) = Verification.inputs(p, seed: 5)
        let (q, k, v) = (prec.round(q0), prec.round(k0), prec.round(v0))
        var full = DataMachine<Float>(problem: p, capacity: 1 << 22, q: q, k: k, v: v)
        full.partitions = ChunkAttnSchedule.partialSlots(p, t)
        try ChunkAttnSchedule.run(&full, tiles: t)
        let opart = (full.hbm[.Opart] ?? []).map(Double.init), lsepart = (full.hbm[.LSEpart] ?? []).map(Double.init)
        func check(_ o: [Double]) throws -> Bool {
            try Equivalence.checkForward(
                candidate: AttentionResult(o: o, lse: []), q: q, k: k, v: v, shape: shape, mask: .none, precision: prec
            ).passed
        }
        // The partials as written give O again (the control), and the full run's O passes.
        let again = try Self.sequenceFirst(p, t, q: q, k: k, v: v, opart: opart, lsepart: lsepart)
        #expect(again == (full.hbm[.O] ?? []).map(Double.init))
        #expect(try check(again))
        // One partial row of one shared chunk, off by 5%: the check fails.
        var bad = opart
        for c in 0..<p.d { bad[c] *= 1.05 }
        #expect(try !check(Self.sequenceFirst(p, t, q: q, k: k, v: v, opart: bad, lsepart: lsepart)))
        // So does a sum off by 5%.
        var badSum = lsepart
        badSum[ChunkAttnSchedule.slots(0, 0..<1, p).sum.lowerBound] *= 1.05
        #expect(try !check(Self.sequenceFirst(p, t, q: q, k: k, v: v, opart: opart, lsepart: badSum)))
    }
}
