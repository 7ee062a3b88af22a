import AttentionReference
import Foundation
import IOSim
import Testing

@testable import IOSimCLI

/// Data mode's verdict and errors show in every format, not only in JSON.
@Suite struct DataModeOutput {
    static let args = ["--N", "300", "--d", "64", "--M", "64KiB", "--schedule", "fa2,small-m", "--mode", "data"]

    @Test func tableHasACheckColumnAndAnErrorLinePerSchedule() throws {
        let r = CLI.run(Self.args)
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("schedule") })
        #expect(header.hasSuffix("  check"))
        #expect(lines.filter { ($0.hasPrefix("fa2 ") || $0.hasPrefix("small-m ")) && $0.hasSuffix(" pass") }.count == 2)
        #expect(lines.contains { $0.hasPrefix("  fa2:") && $0.contains("O max|err|") && $0.contains("LSE max|err|") })
        #expect(lines.contains { $0.hasPrefix("  small-m:") && $0.contains("O max|err|") })
    }

    @Test func csvHasCheckColumns() throws {
        let r = CLI.run(Self.args + ["--format", "csv"])
        #expect(r.status == 0, "\(r.err)")
        let rows = r.out.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        #expect(Array(header.suffix(5)) == ["check_passed", "max_abs_error", "allowed", "lse_max_abs_error", "lse_allowed"])
        for row in rows.dropFirst() {
            #expect(row.count == header.count)
            let cell = { (name: String) in row[header.firstIndex(of: name)!] }
            #expect(cell("check_passed") == "true", "\(row)")
            #expect(try #require(Double(cell("max_abs_error"))) <= (try #require(Double(cell("allowed")))))
        }
    }

    @Test func countModeOutputHasNoCheckColumns() throws {
        let r = CLI.run(["--N", "300", "--schedule", "fa2", "--format", "csv"])
        #expect(!r.out.contains("check_passed"))
        #expect(!(CLI.run(["--N", "300", "--schedule", "fa2"])).out.contains("check"))
    }

    /// A check that fails (here a deliberately wrong candidate) reads FAIL in the table and false in CSV.
    @Test func aFailedCheckReadsFailInTableAndCSV() throws {
        let p = AttentionProblem(n: 40, d: 8)
        let r = Simulator.simulate(.fa2, p, capacity: 16_384)
        let (q, k, v) = Verification.inputs(p, seed: 1)
        let shape = AttentionShape(batch: 1, heads: 1, kvHeads: 1, nq: 40, nk: 40, d: 8)
        var wrong = try ReferenceAttention.forward(q: q, k: k, v: v, shape: shape)
        wrong.o[3] += 0.5
        let eq = try Equivalence.checkForward(candidate: wrong, q: q, k: k, v: v, shape: shape, mask: .none, precision: .fp16)
        #expect(!eq.passed)
        let report = Verification.Report(schedule: .fa2, equivalence: eq, counts: try #require(r.counts))
        let table = Render.table([r], p, capacity: 16_384, mText: "16KiB", checks: [report])
        #expect(table.contains("  FAIL") && table.contains("fa2: FAIL") && table.contains(" > "), "\(table)")
        let header = Render.csvHeader(kernels: false, checked: true).split(separator: ",").map(String.init)
        let checked = Render.csvRows(r, p, capacity: 16_384, checked: true, check: report)[0].split(separator: ",", omittingEmptySubsequences: false)
        let unchecked = Render.csvRows(r, p, capacity: 16_384, checked: true)[0].split(separator: ",", omittingEmptySubsequences: false)
        let passed = try #require(header.firstIndex(of: "check_passed"))
        #expect(checked.count == header.count && checked[passed] == "false")
        #expect(unchecked.count == header.count && unchecked[passed...].allSatisfy(\.isEmpty))
    }
}

/// `verify --inputs` takes every distribution (what each is: `VerificationInputs` in IOSimTests).
@Suite struct VerifyInputs {
    @Test(arguments: InputDistribution.allCases)
    func verifyTakesEveryInputChoice(inputs: InputDistribution) throws {
        let r = CLI.run(["verify", "--N", "300", "--d", "64", "--M", "64KiB", "--schedule", "fa2", "--inputs", inputs.rawValue])
        #expect(r.status == 0 && r.out.hasPrefix("inputs: \(inputs.rawValue), seed 0\n"), "\(r.out) \(r.err)")
    }
}
