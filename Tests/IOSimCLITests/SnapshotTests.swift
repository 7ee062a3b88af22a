import Foundation
import Testing

/// Golden files pin what users see: every subcommand's help, the main table, JSON and CSV, and
/// the JSON of a grid of problems. A missing or different snapshot fails with the first differing
/// lines; `RECORD_SNAPSHOTS=1` re-records a changed one and fails all the same, so that a recording
/// run can never pass as a check (review `git diff`, then run again without it).
@Suite struct Snapshots {
    static let folder = Repo.root.appendingPathComponent("Tests/IOSimCLITests/Snapshots")
    static let recording = ProcessInfo.processInfo.environment["RECORD_SNAPSHOTS"] == "1"

    static func check(_ name: String, _ actual: String) throws {
        let file = folder.appendingPathComponent(name)
        let expected = try? String(contentsOf: file, encoding: .utf8)
        if recording {
            guard expected != actual else { return }
            try Data(actual.utf8).write(to: file)
            Issue.record("snapshot \(name) re-recorded; review git diff and run again without RECORD_SNAPSHOTS")
            return
        }
        guard let expected else {
            Issue.record("snapshot \(name) is missing; record it with RECORD_SNAPSHOTS=1")
            return
        }
        if actual != expected {
            Issue.record("snapshot \(name) differs (re-record with RECORD_SNAPSHOTS=1 if intended):\n\(Self.lineDiff(expected, actual))")
        }
    }

    /// The first differing lines of two texts, `-` expected and `+` actual, at most `limit` pairs.
    static func lineDiff(_ expected: String, _ actual: String, limit: Int = 8) -> String {
        let (e, a) = (
            expected.split(separator: "\n", omittingEmptySubsequences: false), actual.split(separator: "\n", omittingEmptySubsequences: false)
        )
        var out: [String] = []
        for i in 0..<max(e.count, a.count) where out.count < 2 * limit {
            let x = i < e.count ? String(e[i]) : "(end)", y = i < a.count ? String(a[i]) : "(end)"
            if x != y { out += ["line \(i + 1):", "- " + x, "+ " + y] }
        }
        return out.joined(separator: "\n")
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
        let r = CLI.run(args)
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
            let r = CLI.run(args + ["--format", "json"])
            lines.append(args.joined(separator: " ") + "\t" + r.out.trimmingCharacters(in: .newlines))
        }
        // Whole lines, the per-kernel counts included.
        try Self.check("grid.tsv", lines.joined(separator: "\n") + "\n")
    }
}
