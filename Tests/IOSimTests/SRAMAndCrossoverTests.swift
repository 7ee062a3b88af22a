import Testing

@testable import IOSim

@Suite struct SRAMSideTraffic {
    func sram(_ kind: ScheduleKind, _ p: AttentionProblem, _ br: Int, _ bc: Int, warps: Int) throws -> Transfer {
        let r = Simulator.simulate(kind, p, capacity: 1 << 22, tiles: TileRequest(br: br, bc: bc, warps: warps))
        return try #require(r.counts, "\(r.reason ?? "")").sram
    }

    @Test(arguments: [2, 4, 8])
    func fa2ReadsAndWritesLessSRAMThanFa1ForTwoOrMoreWarps(warps: Int) throws {
        for (n, d, br, bc, causal) in [(4096, 64, 128, 128, false), (1000, 128, 64, 64, true), (777, 80, 96, 48, false)] {
            let p = AttentionProblem(n: n, d: d, dtype: .fp16, causal: causal)
            let fa1 = try sram(.fa1, p, br, bc, warps: warps), fa2 = try sram(.fa2, p, br, bc, warps: warps)
            #expect(fa2.reads < fa1.reads && fa2.writes < fa1.writes, "N=\(n) d=\(d) w=\(warps)")
        }
    }

    @Test func perWarpOperandReadsFollowTheDocumentedFormulas() throws {
        // Full tiles, non-causal: Tr·Tc pairs. fa2 (split-Q): Kⱼ and Vⱼ read once per warp.
        // fa1 (split-K): Qᵢ read once per warp, and each warp's partial O, m, ℓ written and read back.
        let (n, d, br, bc, w) = (1024, 64, 128, 64, 4)
        let p = AttentionProblem(n: n, d: d, dtype: .bf16)
        let pairs = (n / br) * (n / bc)
        let fa2 = try sram(.fa2, p, br, bc, warps: w), fa2One = try sram(.fa2, p, br, bc, warps: 1)
        #expect(fa2.reads - fa2One.reads == pairs * (w - 1) * 2 * bc * d)
        #expect(fa2.writes == fa2One.writes)
        let fa1 = try sram(.fa1, p, br, bc, warps: w), fa1One = try sram(.fa1, p, br, bc, warps: 1)
        #expect(fa1.reads - fa1One.reads == pairs * ((w - 1) * br * d + w * (br * d + 2 * br)))
        #expect(fa1.writes - fa1One.writes == pairs * w * (br * d + 2 * br))
    }

    @Test func fa3WarpgroupsReadKAndVTwicePerPairWhateverTheWarps() throws {
        let p = AttentionProblem(n: 2048, d: 128, dtype: .fp16)
        let fa3 = try sram(.fa3, p, 128, 128, warps: 8), fa2 = try sram(.fa2, p, 128, 128, warps: 2)
        #expect(fa3 == fa2)
    }
}

@Suite struct SmallMCrossover {
    /// HBM accesses (elements) of a schedule with its least-traffic tiles.
    func best(_ kind: ScheduleKind, _ p: AttentionProblem, _ m: Int) throws -> Int {
        let r = Simulator.simulate(kind, p, capacity: m, tiles: TileRequest(policy: .optimal))
        return try #require(r.counts, "\(kind) at M=\(m): \(r.reason ?? "")").hbm.accesses
    }

    @Test(arguments: [64, 128])
    func smallMBeatsFa2WellBelowDSquaredAndLosesWellAboveIt(d: Int) throws {
        let p = AttentionProblem(n: 4096, d: d, dtype: .fp16)
        let dSquaredBytes = d * d * p.dtype.size
        for m in [dSquaredBytes / 8, dSquaredBytes / 4] {
            #expect(try best(.smallM, p, m) < best(.fa2, p, m), "M = \(m) B < d²")
        }
        for m in [4 * dSquaredBytes, 16 * dSquaredBytes, 64 * dSquaredBytes] {
            #expect(try best(.smallM, p, m) > best(.fa2, p, m), "M = \(m) B > d²")
        }
    }

    @Test func smallMTrafficScalesAsNSquaredDOverRootM() throws {
        // Quadrupling M halves N²d/√M: small-m's traffic must fall by close to 2 (not 4, as fa2's would).
        let p = AttentionProblem(n: 4096, d: 128, dtype: .fp16)
        let a = Double(try best(.smallM, p, 2048)), b = Double(try best(.smallM, p, 8192))
        #expect(a / b > 1.6 && a / b < 2.5, "\(a / b)")
    }
}
