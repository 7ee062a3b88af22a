import Foundation
import Testing

/// `--pass` (docs/counting-rules.md §8a) on the command line: which schedules run, what the outputs say, and the
/// usage errors.
@Suite struct PassOption {
    func json(_ args: [String]) throws -> [String: Any] {
        let r = CLI.run(args + ["--format", "json"])
        #expect(r.status == 0, "\(r.err)")
        return try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
    }

    @Test func backwardRunsStandardFa1Fa2AndSaysSoInTheProblem() throws {
        let obj = try json(["--N", "1000", "--M", "200KB", "--pass", "backward"])
        let results = obj["results"] as! [[String: Any]]
        #expect(results.map { $0["schedule"] as! String } == ["standard", "fa1", "fa2"])
        #expect((obj["problem"] as! [String: Any])["pass"] as? String == "backward")
        let fa2 = results[2]
        let kernels = (fa2["kernels"] as! [[String: Any]]).map { $0["name"] as! String }
        #expect(kernels == ["preprocess", "main", "convert"])
    }

    @Test func trainingReportsBothPassesTilesAndAddsTheBounds() throws {
        let f = try json(["--N", "1000", "--M", "200KB", "--schedule", "fa2"])
        let b = try json(["--N", "1000", "--M", "200KB", "--schedule", "fa2", "--pass", "backward"])
        let t = try json(["--N", "1000", "--M", "200KB", "--schedule", "fa2", "--pass", "training"])
        func first(_ o: [String: Any]) -> [String: Any] { (o["results"] as! [[String: Any]])[0] }
        func reads(_ o: [String: Any]) -> Int { (first(o)["hbm"] as! [String: Any])["reads"] as! Int }
        func bound(_ o: [String: Any]) -> Double { (first(o)["bound"] as! [String: Any])["elements"] as! Double }
        #expect(reads(t) == reads(f) + reads(b))
        #expect(abs(bound(t) - bound(f) - bound(b)) <= 1e-9 * bound(t))
        let backward = try #require(first(t)["backward"] as? [String: Any])
        #expect(backward["Br"] as? Int == first(b)["Br"] as? Int && backward["Bc"] as? Int == first(b)["Bc"] as? Int)
        #expect(first(t)["Br"] as? Int == first(f)["Br"] as? Int)
    }

    @Test func theTableNamesThePassAndTheBackwardBound() throws {
        let r = CLI.run(["--N", "2048", "--M", "100KB", "--pass", "backward", "--causal"])
        #expect(r.status == 0)
        #expect(r.out.contains("pass=backward"))
        // Causal: the mask-aware backward bound, with what the mask leaves live.
        #expect(r.out.contains("(Q_live·(3d + 1) + Nq·d)·heads + 2·(K_live + Nk)·kv_heads·d"))
        #expect(r.out.contains("mask: V = \(2048 * 2049 / 2) visible pairs, Q_live = 2048 rows, K_live = 2048 keys per head"))
        #expect(CLI.run(["--N", "2048", "--M", "100KB", "--pass", "backward"]).out.contains("(4·Nq·d + Nq)·heads + 4·Nk·d·kv_heads"))
        #expect(!r.out.contains("fa3") && !r.out.contains("small-m"))
    }

    @Test(arguments: [
        ["--pass", "backward", "--schedule", "fa3"], ["--pass", "training", "--schedule", "small-m"],
        ["--pass", "backward", "--schedule", "split-kv"], ["sweep", "--pass", "backward", "--schedule", "fa2,fa3"],
        ["verify", "--pass", "backward", "--schedule", "fa3"],
    ])
    func aNamedScheduleWithoutABackwardIsAUsageError(args: [String]) throws {
        let r = CLI.run(args)
        #expect(ExitCodes.oneLine(r, status: 64), "\(args): \(r.status) \(r.err)")
        #expect(r.err.contains("has no backward schedule") && r.err.contains("standard, fa1, fa2"), "\(r.err)")
    }

    @Test func anUnknownPassIsAUsageError() throws {
        let r = CLI.run(["--pass", "sideways"])
        #expect(ExitCodes.oneLine(r, status: 64), "\(r.err)")
    }

    @Test func decodeUnderBackwardKeepsOnlyFa2() throws {
        let obj = try json(["--N", "16", "--Nk", "4096", "--M", "200KB", "--schedule", "decode", "--pass", "backward"])
        #expect((obj["results"] as! [[String: Any]]).map { $0["schedule"] as! String } == ["fa2"])
    }

    @Test func dataModeChecksTheGradientsAndFailsNothingOnACorrectSchedule() throws {
        let r = CLI.run(["--N", "100", "--d", "32", "--M", "64KiB", "--pass", "backward", "--mode", "data", "--causal"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("dQ max|err|") && r.out.contains("dV max|err|"))
    }

    @Test(arguments: [["--N", "1", "--lengths", "100,200", "--mode", "data"], ["verify", "--N", "1", "--lengths", "100,200"]])
    func dataModeRefusesABatchOfLengths(args: [String]) throws {
        let r = CLI.run(args)
        #expect(ExitCodes.oneLine(r, status: 64), "\(args): \(r.status) \(r.err)")
        #expect(r.err.contains("--lengths"))
    }
}
