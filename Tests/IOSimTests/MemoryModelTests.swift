import Testing

@testable import IOSim

@Suite struct MemoryModel {
    @Test func loadingPastCapacityThrowsNamingFootprintAndM() {
        var m = CountingMachine(problem: AttentionProblem(n: 64, d: 64), capacity: 10_000)
        #expect(throws: SimulationError.capacityExceeded(footprint: 10240, capacity: 10_000, buffer: "q")) {
            try m.load(.Q, instance: 0, rows: 0..<80, cols: 0..<64, format: .input, into: .q)
        }
        #expect(
            SimulationError.capacityExceeded(footprint: 16384, capacity: 10_000, buffer: "q").description
                .contains("16384 bytes"))
    }

    @Test func computeOnANonResidentBufferIsAScheduleError() throws {
        var m = CountingMachine(problem: AttentionProblem(n: 64, d: 64), capacity: 1 << 20)
        try m.load(.Q, instance: 0, rows: 0..<64, cols: 0..<64, format: .input, into: .q)
        #expect(throws: SimulationError.self) { try m.scores(.q, .k, into: .s, rows: 0..<64, cols: 0..<64, masked: false) }
        #expect(throws: SimulationError.self) { try m.store(.O, instance: 0, rows: 0..<1, cols: 0..<1, format: .output, from: .acc) }
        #expect(throws: SimulationError.self) { try m.alloc(.q, rows: 1, cols: 1, format: .fp32) }
    }

    @Test func freeingReturnsCapacityAndCountsAreByTensorAndDirection() throws {
        var m = CountingMachine(problem: AttentionProblem(n: 64, d: 64, dtype: .bf16), capacity: 8192)
        for _ in 0..<3 {
            try m.load(.K, instance: 0, rows: 0..<64, cols: 0..<64, format: .input, into: .k)
            try m.store(.O, instance: 0, rows: 0..<32, cols: 0..<64, format: .fp32, from: .k)
            m.free(.k)
        }
        #expect(m.counts[.K] == Transfer(reads: 3 * 4096, readBytes: 3 * 8192))
        #expect(m.counts[.O] == Transfer(writes: 3 * 2048, writeBytes: 3 * 8192))
        #expect(m.counts.peakFootprint == 8192)
        #expect(m.counts.movedTensors == [.K, .O])
    }

    @Test(arguments: ScheduleKind.allCases)
    func peakFootprintEqualsTheDocumentedFormula(kind: ScheduleKind) throws {
        for (n, d, br, bc, dtype) in [(1000, 64, 128, 64, DType.fp16), (77, 80, 128, 128, .fp8), (4097, 59, 48, 80, .fp16)] {
            let p = AttentionProblem(n: n, d: d, dtype: dtype)
            let t = KernelConfig(br: br, bc: bc)
            let r = Simulator.simulate(kind, p, capacity: 1 << 22, tiles: TileRequest(br: br, bc: bc))
            let formula = kind.implementation!.footprint(t, p, capacity: 1 << 22)
            var machine = CountingMachine(problem: p, capacity: 1 << 22)
            try Simulator.run(kind.implementation!, on: &machine, tiles: t.clamped(to: p))
            // Standard's softmax kernel holds one row of S beside the GEMM kernels' formula.
            let expected = kind == .standard ? max(formula, Format.output.bytes(dtype) * n) : formula
            #expect(machine.counts.peakFootprint == expected)
            // What the result reports is what the machine held (not the formula again).
            #expect(r.footprint == (kind == .standard ? formula : machine.counts.peakFootprint))
        }
    }

    /// The documented footprints (docs/tiles.md, "Footprints") worked by hand for Br = 128,
    /// Bc = 64, d = 64, fp16: fa2 2·(128·64 + 2·64·64) + 4·(128·64 + 128·64 + 2·128) = 99328;
    /// fa1 adds 4·128·64 = 32768; fa3 with 2 stages adds 2·64·64·2 = 16384.
    @Test func footprintsAreTheDocumentedNumbers() {
        let p = AttentionProblem(n: 1000, d: 64)
        func footprint(_ kind: ScheduleKind) -> Int? {
            Simulator.simulate(kind, p, capacity: 1 << 22, tiles: TileRequest(br: 128, bc: 64)).footprint
        }
        #expect(footprint(.fa2) == 99328)
        #expect(footprint(.fa1) == 132_096)
        #expect(footprint(.fa3) == 115_712)
    }
}
