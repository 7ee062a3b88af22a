import IOSim
import Testing

/// The report's sweeps are a library API: the points come back in order, and the CLI only writes them.
@Suite struct ReportSweepsPoints {
    @Test func trafficVsMCoversEveryScheduleAtEachM() {
        let points = ReportSweeps.trafficVsM(small: true)
        let kinds = ScheduleKind.prefill
        #expect(points.count == 5 * kinds.count)
        #expect(points.map(\.capacity) == [2048, 8192, 32768, 131_072, 524_288].flatMap { Array(repeating: $0, count: kinds.count) })
        #expect(points.map(\.result.kind) == Array(Array(repeating: kinds, count: 5).joined()))
        for point in points {
            #expect(point.problem == AttentionProblem(n: 4096, d: 64))
            // Each schedule with its optimal tiles: never more traffic than auto's.
            let auto = Simulator.simulate(point.result.kind, point.problem, capacity: point.capacity)
            if let best = point.result.counts, let other = auto.counts {
                #expect(best.hbm.bytes <= other.hbm.bytes, "\(point.result.kind) at M = \(point.capacity)")
            }
        }
        #expect(ReportSweeps.trafficVsM(small: false).count == 19 * kinds.count)
    }

    @Test func trafficVsNIsAtM100KB() {
        let points = ReportSweeps.trafficVsN(small: true)
        #expect(points.count == 3 * ScheduleKind.prefill.count)
        #expect(Set(points.map(\.problem.n)) == [1024, 4096, 16384])
        #expect(points.allSatisfy { $0.capacity == 100_000 && $0.result.feasible })
    }

    @Test func backwardSweepsRunTheBackwardSchedulesAndPairEachWithItsForward() {
        let m = ReportSweeps.backwardVsM(small: true)
        #expect(m.count == 4 * ScheduleKind.backward.count)
        #expect(m.allSatisfy { $0.result.pass == .backward && $0.result.feasible })
        let n = ReportSweeps.backwardVsN(small: true)
        #expect(n.count == 3 * ScheduleKind.backward.count * 2)
        for (f, b) in zip(n.filter { $0.result.pass == .forward }, n.filter { $0.result.pass == .backward }) {
            #expect(f.problem == b.problem && f.result.kind == b.result.kind && f.capacity == b.capacity)
            // The backward moves more than its forward (it reads Q, K, V, O, dO and writes three gradients).
            #expect((b.result.counts?.hbm.bytes ?? 0) > (f.result.counts?.hbm.bytes ?? .max), "\(f.result.kind) N=\(f.problem.n)")
        }
    }

    @Test func sramVsWarpsKeepsTheTilesAndVariesTheWarps() throws {
        let points = ReportSweeps.sramVsWarps()
        #expect(points.map(\.result.kind) == Array(Array(repeating: [ScheduleKind.fa1, .fa2], count: 5).joined()))
        var warps: [Int] = []
        for point in points {
            let t = try #require(point.result.tiles)
            #expect(t.br == 64 && t.bc == 64)
            warps.append(t.warps)
        }
        #expect(warps == [1, 1, 2, 2, 4, 4, 8, 8, 16, 16])
        // More warps splitting Q re-read K and V tiles more often (fa2's SRAM-side reads grow).
        let fa2 = points.filter { $0.result.kind == .fa2 }.map { $0.result.counts!.sram.reads }
        #expect(zip(fa2, fa2.dropFirst()).allSatisfy { $0 < $1 }, "\(fa2)")
    }
}
