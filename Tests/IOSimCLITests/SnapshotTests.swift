import Foundation
import Testing

/// Golden files pin what users see: every subcommand's help, the main table, JSON and CSV, and
/// the JSON of a grid of problems. A missing or different snapshot fails; `RECORD_SNAPSHOTS=1`
/// re-records (review the diff before committing it).
@Suite struct Snapshots {
    static let folder = Repo.root.appendingPathComponent("Tests/IOSimCLITests/Snapshots")
    static let recording = ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1"

    static func check(_ name: String, _ actual: String) throws {
        let file = folder.appendingPathComponent(name)
        if recording {
            try Data(actual.utf8).write(to: file)
            return
        }
        guard let expected = try? String(contentsOf: file, encoding: .utf8) else {
            Issue.record("snapshot \(name) is missing; record it with RECORD_SNAPSHOTS=1")
            return
        }
        #expect(actual == expected, "snapshot \(name) differs; re-record with RECORD_SNAPSHOTS=1 if the change is intended")
    }

    static let outputs: [(name: String, args: [String])] = [
        ("help-iosim.txt", ["--help"]),
        ("help-simulate.txt", ["simulate", "--help"]),
        ("help-sweep.txt", ["sweep", "--help"]),
        ("help-verify.txt", ["verify", "--help"]),
        ("help-attention.txt", ["attention", "--help"]),
        ("help-fp8-error.txt", ["fp8-error", "--help"]),
        ("help-report.txt", ["report", "--help"]),
        ("main-table.txt", ["--N", "4096", "--M", "100KB"]),
        (
            "fa2-heads.json",
            [
                "--N", "4096", "--d", "64", "--heads", "8", "--schedule", "fa2", "--Br", "128", "--Bc", "128",
                "--M", "228KiB", "--format", "json",
            ]
        ),
        ("causal-optimal.csv", ["--N", "16K", "--d", "128", "--M", "228KiB", "--causal", "--tiles", "optimal", "--format", "csv"]),
    ]

    @Test(arguments: outputs.map(\.name))
    func outputMatchesItsGolden(name: String) throws {
        let args = Self.outputs.first { $0.name == name }!.args
        let r = try Repo.run(args)
        #expect(r.status == 0, "\(r.err)")
        try Self.check(name, r.out)
    }

    @Test func readmeMainTableIsTheGolden() throws {
        let readme = try String(contentsOf: Repo.root.appendingPathComponent("README.md"), encoding: .utf8)
        let golden = try String(contentsOf: Self.folder.appendingPathComponent("main-table.txt"), encoding: .utf8)
        // The first fenced block after the main job's heading.
        let section = try #require(readme.range(of: "## The main job's table"))
        let rest = readme[section.upperBound...]
        let open = try #require(rest.range(of: "```\n"))
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        let block = String(rest[open.upperBound..<close.lowerBound])
        #expect(golden.hasPrefix(block), "README's table differs from Snapshots/main-table.txt")
    }

    /// About fifty problems across schedules, masks, dtypes, GQA, ragged N and tile policies.
    static let grid: [[String]] = {
        var g: [[String]] = []
        for n in ["1", "127", "1000", "4097"] {
            for (d, m) in [("64", "100KB"), ("59", "16KiB"), ("128", "228KiB")] {
                g.append(["--N", n, "--d", d, "--M", m, "--tiles", "auto"])
                g.append(["--N", n, "--d", d, "--M", m, "--causal", "--tiles", "optimal"])
            }
        }
        for dtype in ["fp8", "bf16", "fp32", "fp64"] {
            g.append(["--N", "1000", "--dtype", dtype, "--M", "64KiB", "--tiles", "auto"])
            g.append(["--N", "1000", "--dtype", dtype, "--M", "64KiB", "--causal", "--tiles", "paper"])
        }
        for extra in [
            ["--heads", "8", "--kv-heads", "2"], ["--batch", "3", "--heads", "4"], ["--Nk", "3000"],
            ["--Nk", "300", "--causal"], ["--Br", "48", "--Bc", "80"], ["--Br", "100"], ["--stages", "3"],
            ["--warps", "8"], ["--M", "2KiB"], ["--M", "1MiB", "--tiles", "optimal"],
        ] {
            g.append(["--N", "1023", "--tiles", "auto"] + extra)
        }
        for s in ["standard", "fa1", "fa2", "fa3", "small-m"] {
            g.append(["--N", "777", "--d", "80", "--schedule", s, "--M", "48KiB", "--causal", "--tiles", "optimal"])
        }
        return g
    }()

    @Test func gridOfProblemsKeepsItsJSON() throws {
        var lines: [String] = []
        for args in Self.grid {
            let r = try Repo.run(args + ["--format", "json"])
            lines.append(args.joined(separator: " ") + "\t" + r.out.trimmingCharacters(in: .newlines))
        }
        let actual = lines.joined(separator: "\n") + "\n"
        let file = Self.folder.appendingPathComponent("grid.tsv")
        if Self.recording { try Data(actual.utf8).write(to: file); return }
        let expected = try #require(try? String(contentsOf: file, encoding: .utf8), "grid.tsv missing; RECORD_SNAPSHOTS=1")
        let (a, e) = (actual.split(separator: "\n"), expected.split(separator: "\n"))
        #expect(a.count == e.count)
        for (x, y) in zip(a, e) {
            // The per-kernel lists (core v2) are additions: compare everything else.
            #expect(try Self.withoutKernels(x) == Self.withoutKernels(y), "\(x.prefix(80))")
        }
    }

    static func withoutKernels(_ line: Substring) throws -> NSDictionary {
        let parts = line.split(separator: "\t", maxSplits: 1)
        guard parts.count == 2 else { return ["args": String(parts.first ?? "")] }
        let json = try JSONSerialization.jsonObject(with: Data(parts[1].utf8)) as? [String: Any] ?? [:]
        var copy = json
        if let results = json["results"] as? [[String: Any]] {
            copy["results"] = results.map { r -> [String: Any] in
                var r = r; r["kernels"] = nil; return r
            }
        }
        copy["args"] = String(parts[0])
        return copy as NSDictionary
    }
}
