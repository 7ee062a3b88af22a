import Foundation
import IOSim
import Testing

@testable import IOSimCLI

/// Per-kernel counts in every output format (JSON always; table and CSV with `--kernels`).
@Suite struct KernelOutput {
    static func json(_ args: [String]) throws -> [[String: Any]] {
        let r = CLI.run(args + ["--format", "json"])
        #expect(r.status == 0, "\(args): \(r.err)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        return try #require(obj["results"] as? [[String: Any]])
    }

    static let fields = ["reads", "writes", "read_bytes", "write_bytes"]

    @Test(arguments: [
        ["--N", "4096", "--M", "100KB"],
        ["--N", "1000", "--Nk", "1300", "--d", "80", "--causal", "--heads", "8", "--kv-heads", "2", "--M", "64KiB"],
        ["--N", "1023", "--heads", "4", "--kv-heads", "2", "--pack-gqa", "--window", "100", "--dtype", "fp8", "--M", "48KiB"],
        ["--N", "777", "--d", "128", "--M", "16KiB", "--batch", "3", "--tiles", "auto"],
    ])
    func jsonKernelsSumToTheTotals(args: [String]) throws {
        let results = try Self.json(args)
        #expect(results.count == ScheduleKind.prefill.count)
        for r in results where r["feasible"] as? Bool == true {
            let name = r["schedule"] as? String ?? "?"
            let hbm = try #require(r["hbm"] as? [String: Any])
            let kernels = try #require(r["kernels"] as? [[String: Any]], "\(name) has no kernels")
            #expect(!kernels.isEmpty)
            let kernelHBM = try kernels.map { try #require($0["hbm"] as? [String: Any]) }
            for field in Self.fields {
                let sum = kernelHBM.reduce(0) { $0 + ($1[field] as? Int ?? -1) }
                #expect(sum == hbm[field] as? Int, "\(name) \(field)")
            }
            // Per tensor too: each kernel's by_tensor has the hbm's form.
            let byTensor = try #require(hbm["by_tensor"] as? [String: [String: Int]])
            for (tensor, totals) in byTensor {
                for field in Self.fields {
                    let sum = kernelHBM.reduce(0) { total, k in
                        total + ((k["by_tensor"] as? [String: [String: Int]])?[tensor]?[field] ?? 0)
                    }
                    #expect(sum == totals[field], "\(name) \(tensor) \(field)")
                }
            }
            for k in kernels { #expect((k["ctas"] as? Int ?? 0) > 0 && k["name"] is String) }
        }
    }

    @Test func eachScheduleListsItsKernelsInLaunchOrder() throws {
        let results = try Self.json(["--N", "1000", "--d", "64", "--heads", "2", "--M", "100KB", "--Br", "64", "--Bc", "64"])
        func kernels(_ schedule: String) throws -> [(String, Int)] {
            let r = try #require(results.first { $0["schedule"] as? String == schedule })
            return try #require(r["kernels"] as? [[String: Any]]).map { ($0["name"] as! String, $0["ctas"] as! Int) }
        }
        // CTAs over batch·heads: a row tile per head (Tr = ⌈1000/64⌉ = 16), softmax a row per head.
        #expect(try kernels("fa2").map(\.0) == ["fa2"] && kernels("fa2").map(\.1) == [32])
        #expect(try kernels("standard").map(\.0) == ["scores", "softmax", "pv"])
        #expect(try kernels("standard").map(\.1) == [32, 2000, 32])
        #expect(try kernels("small-m").map(\.0) == ["exp-scores", "pv"])
        #expect(try kernels("fa1").map(\.0) == ["fa1"] && kernels("fa1").map(\.1) == [2])
        #expect(try kernels("fa3").map(\.0) == ["fa3"])
    }

    @Test func anInfeasibleResultHasNoKernels() throws {
        // fa3's 32 stages of 64-row K/V tiles do not fit in 64 KiB; fa2's one stage does.
        let results = try Self.json(["--N", "1000", "--M", "64KiB", "--schedule", "fa2,fa3", "--Br", "64", "--Bc", "64", "--stages", "32"])
        let infeasible = try #require(results.first { $0["feasible"] as? Bool == false })
        #expect(infeasible["kernels"] == nil && infeasible["reason"] != nil)
    }

    @Test func tableShowsAnIndentedLinePerKernelWithKernels() throws {
        let args = ["--N", "4096", "--M", "100KB", "--schedule", "standard,fa2,small-m"]
        let plain = CLI.run(args), detailed = CLI.run(args + ["--kernels"])
        #expect(plain.status == 0 && detailed.status == 0, "\(detailed.err)")
        #expect(!plain.out.contains("CTAs"))
        let lines = detailed.out.split(separator: "\n").map(String.init)
        let start = try #require(lines.firstIndex { $0.hasPrefix("standard ") })
        let names = lines[start...].prefix(8).map { $0.split(separator: " ").first.map(String.init) ?? "" }
        #expect(names == ["standard", "scores", "softmax", "pv", "fa2", "fa2", "small-m", "exp-scores"], "\(names)")
        for i in [1, 2, 3, 5, 7] {
            let line = lines[start + i]
            #expect(line.hasPrefix("  ") && line.contains(" CTA") && line.hasSuffix("M"), "\(line)")
        }
        #expect(lines[start + 1].contains("  32 CTAs") || lines[start + 1].contains(" CTAs"))
        #expect(detailed.out.contains("a schedule's kernels sum to its row"))
    }

    @Test func csvWithKernelsHasARowPerKernelThatSumsToItsSchedule() throws {
        let args = ["--N", "1000", "--d", "80", "--causal", "--M", "64KiB", "--heads", "2", "--format", "csv"]
        let plain = CLI.run(args), detailed = CLI.run(args + ["--kernels"])
        #expect(plain.out.split(separator: "\n").first.map(String.init) == Render.csvHeader, "unchanged without the flag")
        let rows = detailed.out.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        #expect(header.joined(separator: ",") == Render.csvHeader + ",kernel,ctas")
        let col = { (name: String) in header.firstIndex(of: name)! }
        var i = 1, schedules = 0
        while i < rows.count {
            let row = rows[i]
            #expect(row.count == header.count)
            #expect(row[col("kernel")].isEmpty && row[col("ctas")].isEmpty, "a schedule's row: \(row)")
            var j = i + 1, sums = [0, 0, 0, 0]
            while j < rows.count, !rows[j][col("kernel")].isEmpty {
                let k = rows[j]
                #expect(k[0] == row[0] && k[col("Br")] == row[col("Br")] && k[col("ratio")].isEmpty && k[col("sram_reads")].isEmpty)
                for (n, name) in ["hbm_reads", "hbm_writes", "hbm_read_bytes", "hbm_write_bytes"].enumerated() {
                    sums[n] += Int(k[col(name)]) ?? -1
                }
                j += 1
            }
            if row[1] == "true" {
                #expect(j > i + 1, "\(row[0]) has kernel rows")
                #expect(sums == ["hbm_reads", "hbm_writes", "hbm_read_bytes", "hbm_write_bytes"].map { Int(row[col($0)])! }, "\(row[0])")
            }
            schedules += 1
            i = j
        }
        #expect(schedules == ScheduleKind.prefill.count)
        let standard = rows.filter { $0[0] == "standard" }.map { $0[col("kernel")] }
        #expect(standard == ["", "scores", "softmax", "pv"])
    }

    @Test func sweepCSVTakesKernelsToo() throws {
        let r = CLI.run(["sweep", "--N", "1K,2K", "--M", "100KB", "--schedule", "standard", "--kernels"])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n")
        #expect(lines.first.map(String.init) == Render.csvHeader + ",kernel,ctas")
        #expect(lines.count == 1 + 2 * 4)
    }
}

/// The table's bound line and regime come from the results (the library's `Bound`), and the
/// footnote states the bound as implemented.
@Suite struct TableBound {
    @Test func theTableReadsTheResultsRegime() throws {
        let p = AttentionProblem(n: 256, d: 64)
        var r = Simulator.simulate(.fa2, p, capacity: 100_000)
        #expect(r.bound.regime == .large)
        r.bound.regime = .small  // a result that says otherwise wins over M and d
        let table = Render.table([r], p, capacity: 100_000, mText: "100KB")
        #expect(table.contains("(M < d², d² = 4096)") && table.contains("heads·Nq·Nk·d/√M"), "\(table)")
    }

    @Test(arguments: [
        (["--N", "4096", "--M", "100KB"], "M ≥ d²", "heads·Nq·Nk·d²/M"),
        (["--N", "4096", "--d", "128", "--M", "16KiB"], "M < d²", "heads·Nq·Nk·d/√M"),
    ])
    func footnoteStatesTheGQAAwareBound(args: [String], regime: String, quadratic: String) throws {
        let r = CLI.run(args)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("(\(regime), d² = "))
        #expect(r.out.contains("bound = batch·max((2·Nq·heads + 2·Nk·kv_heads)·d, \(quadratic)) elements"), "\(r.out)")
        #expect(r.out.contains("(regime \(regime))"))
    }

    /// With GQA the bound counts K/V once per KV head: the table's bound column is the library's.
    @Test func gqaBoundColumnIsTheLibrarys() throws {
        let r = CLI.run([
            "--N", "16", "--Nk", "4096", "--d", "128", "--batch", "8", "--heads", "32", "--kv-heads", "8",
            "--schedule", "fa2", "--format", "csv",
        ])
        let rows = r.out.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let bound = Bound(AttentionProblem(n: 16, nk: 4096, d: 128, batch: 8, heads: 32, kvHeads: 8), capacityBytes: 100_000)
        #expect(rows[1][rows[0].firstIndex(of: "bound_elements")!] == "\(bound.elements)")
        #expect(bound.elements == Double(8 * (2 * 16 * 32 + 2 * 4096 * 8) * 128))
    }
}

/// `--tiles optimal` is the default; `--tiles auto` keeps the numbers it always gave.
@Suite struct TilesDefault {
    @Test func theDefaultIsOptimal() throws {
        let plain = CLI.run(["--N", "4096", "--M", "100KB"])
        let optimal = CLI.run(["--N", "4096", "--M", "100KB", "--tiles", "optimal"])
        #expect(plain.status == 0 && plain.out == optimal.out)
        let p = AttentionProblem(n: 64)
        #expect(try Simulate.parse([]).options.tileRequest(for: p).policy == .optimal)
        #expect(try Verify.parse([]).options.tileRequest(for: p).policy == .optimal)
        #expect(try Sweep.parse([]).options.tileRequest(for: p).policy == .optimal)
    }

    /// The main table as it was when `auto` was the default.
    @Test func explicitAutoGivesTheOldNumbers() throws {
        let r = CLI.run(["--N", "4096", "--M", "100KB", "--tiles", "auto"])
        #expect(r.status == 0)
        let rows = r.out.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            .filter { ScheduleKind.allCases.map(\.rawValue).contains($0.first ?? "") }
        #expect(
            rows == [
                ["standard", "128×128", "98304", "B", "50.59M", "33.82M", "84.41M", "101.19M", "67.63M", "168.82M", "1.37M", "61.42"],
                ["fa1", "64×112", "98816", "B", "20.23M", "10.27M", "30.50M", "60.46M", "40.57M", "101.02M", "1.37M", "22.19"],
                ["fa2", "96×96", "99072", "B", "22.81M", "266.24K", "23.07M", "45.61M", "540.67K", "46.15M", "1.37M", "16.79"],
                ["fa3", "80×80", "97920", "B", "27.53M", "266.24K", "27.79M", "55.05M", "540.67K", "55.59M", "1.37M", "20.22"],
                ["small-m", "128×128", "98816", "B", "41.95M", "17.04M", "58.99M", "83.90M", "34.10M", "118.00M", "1.37M", "42.92"],
            ])
    }

    /// `--tiles`'s help states the optimal search space in the README's words.
    @Test func tilesHelpStatesTheREADMEsSearchSpace() throws {
        let readme = try String(contentsOf: Repo.root.appendingPathComponent("README.md"), encoding: .utf8)
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        let start = try #require(readme.range(of: "Its search space: "))
        let end = try #require(readme[start.upperBound...].range(of: "found at 4d²."))
        let space = String(readme[start.upperBound..<end.upperBound])
        #expect(space == TilePolicy.optimalSearchSpace)
        for command in ["simulate", "sweep", "verify"] {
            let help = CLI.run([command, "--help"]).out
                .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            #expect(help.contains(space), "\(command) --help")
            #expect(help.contains("(default: kernel with --hardware, else optimal"), "\(command) --help")
        }
    }
}
