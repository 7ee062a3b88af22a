import TestSupport
import Testing

@testable import IOSim

/// The time estimate under `--lengths` (docs/time-model.md, "Variable lengths"): one kernel launch over every sequence, so
/// the CTAs of all lengths share the SMs (longest sequence first), not one wave per length.
@Suite struct VariableLengthsTime {
    let h100: HardwareModel

    init() throws { h100 = try ModelFile.hardware(Repo.hardwareModel("h100-sxm").path) }

    func problem(_ lengths: [Int], heads: Int = 1, paged: Bool = true) throws -> AttentionProblem {
        let l = try SequenceLengths(lengths)
        var p = AttentionProblem(n: 1, nk: l.max, d: 128, batch: l.count, heads: heads)
        p.lengthGroups = l.groups
        p.kvLayout = paged ? .paged : .contiguous
        return p
    }

    func estimate(
        _ kind: ScheduleKind, _ p: AttentionProblem, _ request: TileRequest = TileRequest(br: 64, bc: 64, splits: 3, ctas: 20),
        latencies: Bool = true
    ) throws -> TimeEstimate.Breakdown {
        var hw = h100
        if !latencies { hw.latencies = nil }
        let r = Simulator.simulate(kind, p, capacity: h100.onChipPerBlock, tiles: request)
        return try #require(try TimeEstimate.estimate(r, p, hw), "\(r.reason ?? "")")
    }

    @Test(arguments: [ScheduleKind.fa2, .splitKV, .lean, .pagedV1, .pagedV2, .fa1, .standard])
    func oneLengthIsThePlainBatchsEstimate(kind: ScheduleKind) throws {
        for (count, nk) in [(1, 700), (5, 4096), (300, 2000)] {
            let paged = kind != .fa1 && kind != .standard
            let lengths = try problem(Array(repeating: nk, count: count), heads: 2, paged: paged)
            var plain = lengths
            plain.lengthGroups = nil
            let a = try estimate(kind, lengths), b = try estimate(kind, plain)
            #expect(a.seconds == b.seconds && a.ctas == b.ctas, "\(kind) \(count)×\(nk): \(a.seconds) vs \(b.seconds)")
        }
    }

    @Test(arguments: [ScheduleKind.fa2, .pagedV1, .pagedV2])
    func shortAndLongSequencesShareOneWave(kind: ScheduleKind) throws {
        // 66 sequences of 8192 and 66 of 1024 keys, one head: 132 CTAs (v2: more, all on the
        // first wave's SMs), one per SM. One launch takes the long sequences' time; two waves
        // would add the short ones'.
        let mixed = try problem(Array(repeating: 8192, count: 66) + Array(repeating: 1024, count: 66))
        let long = try problem(Array(repeating: 8192, count: 66)), short = try problem(Array(repeating: 1024, count: 66))
        let m = try estimate(kind, mixed), l = try estimate(kind, long), s = try estimate(kind, short)
        #expect(m.ctas == l.ctas + s.ctas)
        #expect(m.seconds < l.seconds + s.seconds, "\(kind): \(m.seconds) vs \(l.seconds) + \(s.seconds)")
        if kind != .pagedV2 { #expect(m.seconds == l.seconds, "\(kind): one wave, the long CTAs set it") }
    }

    @Test(arguments: [ScheduleKind.fa2, .splitKV, .lean, .pagedV1, .pagedV2])
    func theLaunchIsBetweenItsLongestLengthAndTheSumOfItsLengths(kind: ScheduleKind) throws {
        // Placement alone (no lookup term: with it, the longest length alone on few SMs waits on
        // its lookups, which the full launch's co-resident CTAs hide).
        let values = [300, 9000, 4096, 4096, 17, 2500, 9000, 128, 640]
        let all = try problem(values, heads: 32)
        let merged = try estimate(kind, all, latencies: false).seconds
        var separate = 0.0, longest = 0.0
        for g in try SequenceLengths(values).groups {
            let one = try problem(Array(repeating: g.length, count: g.count), heads: 32)
            let s = try estimate(kind, one, latencies: false).seconds
            separate += s
            longest = max(longest, s)
        }
        #expect(merged >= longest * (1 - 1e-12) && merged <= separate * (1 + 1e-12), "\(kind): \(merged) in [\(longest), \(separate)]")
        #expect(merged < separate, "\(kind): one launch overlaps the lengths")
    }

    @Test func theBackwardEstimateRefusesSeveralLengths() throws {
        let p = try problem([100, 200], paged: false)
        let r = Simulator.simulate(.fa2, p, capacity: h100.onChipPerBlock, tiles: TileRequest(br: 64, bc: 64), pass: .backward)
        #expect(throws: ModelError.self) { try TimeEstimate.passEstimate(r, p, h100) }
    }
}
