import Foundation
import IOSim
import Testing

@testable import AttentionReference
@testable import IOSimCLI

/// `verify --format json` (issue 17 item 5): the problem, M, pass, seed and tiles echoed, and each
/// tensor's worst element located as `iosim check` locates it.
@Suite struct VerifyJSON {
    static func comparison(worst: Int) -> Comparison {
        Comparison(maxAbsError: 1, worstIndex: worst, baselineError: 0.5, rtol: 3, atol: 0.25, allowed: 1.75)
    }

    @Test func worstElementsAreLocatedByBatchHeadRowAndColumn() throws {
        // batch 2, 4 query heads over 2 KV heads, Nq = 5, Nk = 7, d = 3.
        let p = AttentionProblem(n: 5, nk: 7, d: 3, batch: 2, heads: 4, kvHeads: 2)
        let o = ((1 * 4 + 2) * 5 + 3) * 3 + 1, lse = (1 * 4 + 3) * 5 + 4, dk = ((1 * 2 + 1) * 7 + 6) * 3 + 2
        let report = Verification.Report(
            schedule: .fa2,
            equivalence: EquivalenceReport(precision: .fp16, output: Self.comparison(worst: o), lse: Self.comparison(worst: lse)),
            counts: TrafficCounts(),
            gradients: BackwardEquivalenceReport(
                precision: .fp16, dq: Self.comparison(worst: o), dk: Self.comparison(worst: dk), dv: Self.comparison(worst: 0)))
        let text = Verify.tensors(report, p).text
        let tensors = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[String: Any]]
        func at(_ name: String) -> [String: Int] { tensors.first { $0["name"] as? String == name }!["where"] as! [String: Int] }
        #expect(tensors.map { $0["name"] as! String } == ["O", "LSE", "dQ", "dK", "dV"])
        #expect(at("O") == ["batch": 1, "head": 2, "row": 3, "column": 1])
        #expect(at("LSE") == ["batch": 1, "head": 3, "row": 4])
        #expect(at("dQ") == at("O"))
        #expect(at("dK") == ["batch": 1, "head": 1, "row": 6, "column": 2])
        #expect(at("dV") == ["batch": 0, "head": 0, "row": 0, "column": 0])
        #expect(tensors.allSatisfy { ($0["rtol"] as? Double) == 3 && ($0["passed"] as? Bool) == true })
    }

    @Test func theCommandEchoesTheRunAndReportsEveryTensor() throws {
        let r = CLI.run([
            "verify", "--N", "70", "--d", "16", "--M", "64KiB", "--pass", "training", "--causal", "--format", "json",
            "--schedule", "fa2,standard", "--seed", "7",
        ])
        #expect(r.status == 0, "\(r.err)")
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let problem = obj["problem"] as! [String: Any]
        #expect(problem["M_bytes"] as? Int == 65536 && problem["pass"] as? String == "training")
        #expect(obj["seed"] as? String == "7" && obj["inputs"] as? String == "normal" && obj["passed"] as? Bool == true)
        let results = obj["results"] as! [[String: Any]]
        #expect(results.map { $0["schedule"] as! String } == ["standard", "fa2"])
        let fa2 = try #require(results.last)
        #expect(fa2["Br"] != nil && fa2["backward"] != nil)
        let names = (fa2["tensors"] as! [[String: Any]]).map { $0["name"] as! String }
        #expect(names == ["O", "LSE", "dQ", "dK", "dV"])
        // Standard writes no LSE: it is not checked.
        #expect(((results[0]["tensors"] as! [[String: Any]]).map { $0["name"] as! String }) == ["O", "dQ", "dK", "dV"])
    }

    @Test func anUncheckedScheduleIsListedWithItsReasonAndFailsTheRun() throws {
        let r = CLI.run(["verify", "--N", "64", "--d", "64", "--M", "300", "--format", "json", "--schedule", "fa3"])
        #expect(r.status == 1)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let result = (obj["results"] as! [[String: Any]])[0]
        #expect(result["checked"] as? Bool == false && (result["reason"] as? String)?.isEmpty == false)
    }
}
