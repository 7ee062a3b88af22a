import Testing

@testable import IOSim

struct GridCase: CustomTestStringConvertible, Sendable {
    var n: Int, d: Int, tiles: KernelConfig, causal: Bool
    var testDescription: String { "N=\(n) d=\(d) tiles=\(tiles) causal=\(causal)" }
}

/// The grid of the simulator-core issue: ragged N, odd d, tiles that do and do not divide N.
let grid: [GridCase] = [1, 7, 127, 1000, 1023, 4097].flatMap { n in
    [16, 59, 64, 80, 128].flatMap { d in
        [KernelConfig(br: 16, bc: 16), KernelConfig(br: 64, bc: 32), KernelConfig(br: 48, bc: 80), KernelConfig(br: 128, bc: 128)].flatMap { t in
            [false, true].map { GridCase(n: n, d: d, tiles: t, causal: $0) }
        }
    }
}

@Suite struct ExecutedCountsEqualClosedForms {
    static let capacity = 1 << 22

    @Test(arguments: grid)
    func everyScheduleCountsEqualClosedFormForRaggedTiles(c: GridCase) throws {
        // fp8 on part of the grid, so the per-tile scales are checked too.
        let dtype: DType = c.d == 80 || c.d == 59 ? .fp8 : .fp16
        let p = AttentionProblem(n: c.n, d: c.d, dtype: dtype, causal: c.causal)
        for kind in ScheduleKind.allCases where kind.models(p) {
            let r = Simulator.simulate(kind, p, capacity: Self.capacity, tiles: TileRequest(br: c.tiles.br, bc: c.tiles.bc))
            let counts = try #require(r.counts, "\(kind): \(r.reason ?? "")")
            let expected = try #require(ClosedForm.traffic(kind, p, c.tiles, capacity: Self.capacity))
            #expect(counts.byTensor == expected.byTensor, "\(kind)")
            #expect(counts.kernels == expected.kernels, "\(kind) per kernel")
        }
    }

    @Test func nonCausalTotalsMatchTheDesignFormulas() throws {
        // docs/counting-rules.md §4 in elements, §2 for the (fp16) bytes; N = 1000 with ragged 128×96 tiles.
        let (n, d) = (1000, 64)
        let p = AttentionProblem(n: n, d: d, dtype: .fp16)
        let t = KernelConfig(br: 128, bc: 96)
        let (tr, tc) = (t.tr(p), t.tc(p))
        func run(_ k: ScheduleKind) throws -> Transfer {
            try #require(Simulator.simulate(k, p, capacity: Self.capacity, tiles: TileRequest(br: 128, bc: 96)).counts).hbm
        }
        let fa2 = try run(.fa2)
        #expect(fa2.reads == n * d + 2 * n * d * tr && fa2.writes == n * d + n)
        #expect(fa2.readBytes == 2 * (n * d + 2 * n * d * tr) && fa2.writeBytes == 2 * n * d + 4 * n)
        let fa1 = try run(.fa1)
        #expect(fa1.reads == 2 * n * d + tc * (2 * n * d + 2 * n) && fa1.writes == (tc + 1) * (n * d + 2 * n))
        #expect(fa1.readBytes == 2 * (2 * n * d + tc * n * d) + 4 * tc * (n * d + 2 * n))
        #expect(fa1.writeBytes == 4 * tc * n * d + 2 * n * d + 8 * n * (tc + 1))
        let std = try run(.standard)
        #expect(std.reads == n * d + 2 * tr * n * d + 2 * n * n && std.writes == 2 * n * n + n * d)
    }

    @Test func standardReadsSTwiceWhenARowDoesNotFit() throws {
        // fp32, N = 600: a row of S is 2400 bytes; M = 2399 cannot hold it, M = 2400 can.
        let p = AttentionProblem(n: 600, d: 8, dtype: .fp32)
        for (m, sReads) in [(2400, 600 * 600), (2399, 2 * 600 * 600)] {
            let r = Simulator.simulate(.standard, p, capacity: m, tiles: TileRequest(br: 8, bc: 8))
            let c = try #require(r.counts, "\(r.reason ?? "")")
            #expect(c[.S].reads == sReads)
            #expect(c.byTensor == ClosedForm.traffic(.standard, p, KernelConfig(br: 8, bc: 8), capacity: m)!.byTensor)
        }
    }

    @Test func causalSumsMatchTheDesignFormulas() throws {
        let (n, d) = (1023, 80)
        let p = AttentionProblem(n: n, d: d, dtype: .bf16, causal: true)
        let t = KernelConfig(br: 64, bc: 48)
        var fa1Reads = 2 * n * d, fa1Writes = n * d + 2 * n, fa2Reads = n * d
        for j in 0..<t.tc(p) {
            for i in 0..<t.tr(p) where j * t.bc <= t.rows(i, p).upperBound - 1 {
                fa1Reads += (2 * d + 2) * t.rows(i, p).count
                fa1Writes += (d + 2) * t.rows(i, p).count
            }
        }
        for i in 0..<t.tr(p) {
            for j in 0..<t.tc(p) where j * t.bc <= t.rows(i, p).upperBound - 1 {
                fa2Reads += 2 * d * t.cols(j, p).count
            }
        }
        let fa1 = try #require(Simulator.simulate(.fa1, p, capacity: Self.capacity, tiles: TileRequest(br: 64, bc: 48)).counts).hbm
        let fa2 = try #require(Simulator.simulate(.fa2, p, capacity: Self.capacity, tiles: TileRequest(br: 64, bc: 48)).counts).hbm
        #expect(fa1.reads == fa1Reads && fa1.writes == fa1Writes)
        #expect(fa2.reads == fa2Reads && fa2.writes == n * d + n)
        let std = Simulator.simulate(.standard, p, capacity: Self.capacity, tiles: TileRequest(br: 64, bc: 48)).counts
        let stdOpen = Simulator.simulate(
            .standard, AttentionProblem(n: n, d: d, dtype: .bf16), capacity: Self.capacity,
            tiles: TileRequest(br: 64, bc: 48)
        ).counts
        #expect(std == stdOpen, "standard does not depend on --causal")
    }

    @Test func fa3MovesExactlyWhatFa2MovesForTheSameTiles() throws {
        for dtype in [DType.fp16, .fp8] {
            for causal in [false, true] {
                let p = AttentionProblem(n: 3000, d: 128, heads: 2, dtype: dtype, causal: causal)
                let req = TileRequest(br: 128, bc: 128, stages: 3)
                let fa2 = try #require(Simulator.simulate(.fa2, p, capacity: 1 << 20, tiles: req).counts)
                let fa3 = try #require(Simulator.simulate(.fa3, p, capacity: 1 << 20, tiles: req).counts)
                #expect(fa2.byTensor == fa3.byTensor)
                #expect(fa3.peakFootprint == fa2.peakFootprint + 2 * 2 * 128 * 128 * dtype.size + (dtype == .fp8 ? 16 : 0))
            }
        }
    }

    @Test func fp8LoadsOneFp32ScalePerQKVTile() throws {
        let p = AttentionProblem(n: 1000, d: 64, dtype: .fp8)
        let t = KernelConfig(br: 128, bc: 96)
        let c = try #require(Simulator.simulate(.fa2, p, capacity: 1 << 20, tiles: TileRequest(br: 128, bc: 96)).counts)
        #expect(c[.scales] == Transfer(reads: t.tr(p) * (1 + 2 * t.tc(p)), readBytes: 4 * t.tr(p) * (1 + 2 * t.tc(p))))
        #expect(c[.Q].readBytes == 1000 * 64 && c[.O].writeBytes == 2 * 1000 * 64, "e4m3 inputs, bf16 output")
    }

    @Test func smallMNonCausalTotalsMatchItsFormula() throws {
        let (n, d) = (1000, 80)
        let p = AttentionProblem(n: n, d: d, dtype: .fp16)
        let t = KernelConfig(br: 48, bc: 48)
        let (tr, tc, td) = (t.tr(p), t.tc(p), (d + 47) / 48)
        let c = try #require(Simulator.simulate(.smallM, p, capacity: 1 << 20, tiles: TileRequest(br: 48, bc: 48)).counts).hbm
        #expect(c.reads == tc * n * d + 2 * tr * n * d + td * n * n + n)
        #expect(c.writes == n * n + n + n * d)
    }

    @Test func batchHeadsAndGQAMultiplyPerHeadCounts() throws {
        let one = AttentionProblem(n: 300, d: 32)
        let many = AttentionProblem(n: 300, d: 32, batch: 2, heads: 4, kvHeads: 2)
        for kind in ScheduleKind.allCases where kind.models(many) {
            let a = try #require(Simulator.simulate(kind, one, capacity: 1 << 20, tiles: TileRequest(br: 64, bc: 64)).counts)
            let b = try #require(Simulator.simulate(kind, many, capacity: 1 << 20, tiles: TileRequest(br: 64, bc: 64)).counts)
            #expect(b.byTensor == a.byTensor.map { $0 * 8 }, "\(kind): K/V loaded once per query head")
        }
    }
}

@Suite struct UniformLoopReplay {
    @Test(arguments: grid.filter { $0.n >= 127 && $0.d != 16 })
    func replayingUniformTilesGivesTheCountsOfRunningEveryPair(c: GridCase) throws {
        let p = AttentionProblem(n: c.n, d: c.d, batch: 1, heads: 2, dtype: .bf16, causal: c.causal)
        for kind in ScheduleKind.allCases where kind.models(p) {
            var fast = CountingMachine(problem: p, capacity: 1 << 22, replays: true)
            var slow = CountingMachine(problem: p, capacity: 1 << 22, replays: false)
            try Simulator.run(kind.implementation!, on: &fast, tiles: c.tiles.clamped(to: p))
            try Simulator.run(kind.implementation!, on: &slow, tiles: c.tiles.clamped(to: p))
            #expect(fast.counts == slow.counts, "\(kind)")
        }
    }
}
