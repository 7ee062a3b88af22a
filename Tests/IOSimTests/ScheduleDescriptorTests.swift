import Testing

@testable import IOSim

/// What each schedule declares in its own files, and what is derived from it (issue 26).
@Suite struct ScheduleDescriptors {
    @Test func knobsAndCacheReadingComeFromTheSchedulesThemselves() {
        #expect(ScheduleKind.taking(.splits) == [.splitKV])
        #expect(ScheduleKind.taking(.ctas) == [.lean])
        #expect(ScheduleKind.reading(.paged) == [.pagedV1, .pagedV2])
        #expect(ScheduleKind.reading(.prefixChunks) == [.chunkAttn])
    }

    @Test func launchTraitsAreOneValuePerSchedule() {
        #expect(FA3Schedule.launch == LaunchTraits(overlapsPhases: true, warpgroupMMA: true, tableLookups: .prefetched))
        #expect(StandardSchedule.launch.model == .bulk && FA1Schedule.launch.model == .perHead && FA2Schedule.launch == LaunchTraits())
        #expect(PagedV1Schedule.launch.tableLookups == .perWarpBlock)
        #expect(!FA2BackwardSchedule.launch.timeModel && FA2BackwardSchedule.pass == .backward)
    }

    @Test func everyBackwardScheduleWithAModelDeclaresItsOwn() throws {
        let hw = try ModelFile.hardware("h100-sxm")
        let p = AttentionProblem(n: 1024, d: 64, heads: 4)
        for kind in [ScheduleKind.fa2, .fa1, .standard] {
            let r = Simulator.simulate(kind, p, capacity: hw.onChipPerBlock, tiles: TileRequest(br: 64, bc: 64), pass: .backward)
            let t = try TimeEstimate.backwardEstimate(r, p, hw)
            #expect((t?.seconds ?? 0) > 0, "\(kind)")
        }
        let decode = Simulator.simulate(.splitKV, AttentionProblem(n: 1, nk: 1024, d: 64), capacity: hw.onChipPerBlock)
        #expect(throws: ModelError.self) { try TimeEstimate.backwardEstimate(decode, AttentionProblem(n: 1, nk: 1024, d: 64), hw) }
    }
}
