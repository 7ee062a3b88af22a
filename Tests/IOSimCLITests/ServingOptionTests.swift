import Foundation
import Testing

/// The serving flags (docs/cli.md §2): one line and exit 64 for bad input; the paged layout shows in
/// the output; `--schedule paged` applies vLLM's v1/v2 rule.
@Suite struct ServingOptions {
    @Test(arguments: [
        ["--kv-layout", "paged", "--Bc", "40"], ["--kv-layout", "paged", "--block-size", "0"],
        ["--schedule", "paged-v1", "--Bc", "24"], ["--block-size", "-4"], ["--kv-layout", "striped"],
    ])
    func badServingInputIsOneLineAndExit64(args: [String]) throws {
        let r = CLI.run(args)
        #expect(ExitCodes.oneLine(r, status: 64), "\(args): \(r.status) \(r.err)")
    }

    @Test func pagedLayoutIsEchoedAndCountsTheTable() throws {
        let r = CLI.run(["--N", "1", "--Nk", "1000", "--schedule", "fa2", "--kv-layout", "paged", "--format", "json"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("\"kv_layout\":\"paged\"") || r.out.contains("\"kv_layout\": \"paged\""), "\(r.out)")
        #expect(r.out.contains("\"table\""))
    }

    @Test func stagesOneSaysTheEstimateIsUnpipelinedAndRaisesIt() throws {
        // FlexAttention's decode shape (docs/time-model.md): 64 CTAs of 2 warps, 64-token tiles.
        let shape = [
            "--N", "1", "--Nk", "4096", "--batch", "8", "--heads", "32", "--kv-heads", "8", "--d", "128", "--pack-gqa",
            "--warps", "2", "--Br", "16", "--Bc", "64", "--schedule", "fa2",
        ]
        func time(_ extra: [String]) throws -> (Double, String) {
            let r = CLI.run(shape + extra + ["--format", "json"])
            #expect(r.status == 0, "\(r.err)")
            let o = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
            let first = (o?["results"] as? [[String: Any]])?.first
            return (first?["time_estimate_s"] as? Double ?? 0, CLI.run(shape + extra).out)
        }
        let (one, table) = try time(["--stages", "1", "--hardware", "h100-sxm"])
        let (two, plain) = try time(["--hardware", "h100-sxm"])
        #expect(one > two && two > 0, "\(one) s vs \(two) s")
        #expect(table.contains("time, --stages 1: unpipelined"))
        #expect(!plain.contains("--stages 1"))
        // A file without the measured round trips: the line is not printed, the estimate is the same.
        let (l4one, l4table) = try time(["--stages", "1", "--hardware", "l4"])
        let (l4two, _) = try time(["--hardware", "l4"])
        #expect(l4one == l4two && !l4table.contains("--stages 1: unpipelined"))
    }

    @Test func schedulePagedRunsVllmsChoice() throws {
        let short = CLI.run(["--N", "1", "--Nk", "500", "--heads", "8", "--schedule", "paged"])
        #expect(short.status == 0 && short.out.contains("paged-v1") && !short.out.contains("paged-v2"), "\(short.out)\(short.err)")
        let long = CLI.run(["--N", "1", "--Nk", "20000", "--heads", "8", "--schedule", "paged"])
        #expect(long.status == 0 && long.out.contains("paged-v2") && !long.out.contains("paged-v1"), "\(long.out)\(long.err)")
    }
}
