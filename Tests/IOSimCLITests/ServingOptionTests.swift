import Foundation
import Testing

/// The serving flags (DESIGN §13): one line and exit 64 for bad input; the paged layout shows in
/// the output; `--schedule paged` applies vLLM's v1/v2 rule.
@Suite struct ServingOptions {
    @Test(arguments: [
        ["--kv-layout", "paged", "--Bc", "40"], ["--kv-layout", "paged", "--block-size", "0"],
        ["--schedule", "paged-v1", "--Bc", "24"], ["--block-size", "-4"], ["--kv-layout", "striped"],
    ])
    func badServingInputIsOneLineAndExit64(args: [String]) throws {
        let r = try Repo.run(args)
        #expect(ExitCodes.oneLine(r, status: 64), "\(args): \(r.status) \(r.err)")
    }

    @Test func pagedLayoutIsEchoedAndCountsTheTable() throws {
        let r = try Repo.run(["--N", "1", "--Nk", "1000", "--schedule", "fa2", "--kv-layout", "paged", "--format", "json"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("\"kv_layout\":\"paged\"") || r.out.contains("\"kv_layout\": \"paged\""), "\(r.out)")
        #expect(r.out.contains("\"table\""))
    }

    @Test func schedulePagedRunsVllmsChoice() throws {
        let short = try Repo.run(["--N", "1", "--Nk", "500", "--heads", "8", "--schedule", "paged"])
        #expect(short.status == 0 && short.out.contains("paged-v1") && !short.out.contains("paged-v2"), "\(short.out)\(short.err)")
        let long = try Repo.run(["--N", "1", "--Nk", "20000", "--heads", "8", "--schedule", "paged"])
        #expect(long.status == 0 && long.out.contains("paged-v2") && !long.out.contains("paged-v1"), "\(long.out)\(long.err)")
    }
}
