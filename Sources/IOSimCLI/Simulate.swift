import ArgumentParser
import IOSim

/// `iosim simulate` (the default): count every schedule's HBM traffic for one problem.
struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Count each schedule's HBM↔SRAM traffic and compare it with the I/O lower bound.",
        discussion: """
            Examples:
              iosim --N 4096 --M 100KB
              iosim --N 4096 --d 64 --heads 8 --schedule fa2 --Br 128 --Bc 128 --format json
              iosim --N 16K --d 128 --M 228KiB --causal --tiles auto --format csv
              iosim --N 4096 --M 100KB --schedule standard,small-m --kernels
              iosim --N 300 --Nk 500 --d 64 --M 64KiB --window 64 --mode data
            JSON lists every result's kernels (name, CTAs, HBM counts) in launch order;
            --kernels adds them to the table (an indented line per kernel) and to CSV
            (a row per kernel after its schedule's row, with the columns kernel and ctas).
            With --mode data (and the reference check) the table has a check column and
            a line per schedule with its errors, CSV has the columns check_passed,
            max_abs_error, allowed, lse_max_abs_error, lse_allowed, JSON has
            "equivalence"; the run exits 1 when a check fails.
            --pass backward counts dQ, dK, dV (standard, fa1, fa2; docs/counting-rules.md
            §8a); its data mode runs the schedule's forward, then its backward, and checks
            O, LSE and the gradients (rtol 3). --pass training adds the two passes.
            """
    )

    @OptionGroup var options: ProblemOptions
    @Option(help: "forward, backward (dQ, dK, dV: standard, fa1, fa2) or training (forward then backward, counts added).")
    var pass: Pass = .forward
    @Option(help: "How to print the results.") var format: OutputFormat = .table
    @Option(help: "count (no data) or data (values move too, on seeded normal inputs as verify's default; checked against the reference).")
    var mode: SimulationMode = .count
    @Flag(inversion: .prefixedNo, help: "In data mode, check O and LSE against the reference (--no-check only runs the schedule, for timing).")
    var check = true
    @Flag(help: "Per-kernel counts in the table (a line per kernel: name, CTAs, reads, writes, bytes) and in CSV (a row per kernel).")
    var kernels = false

    /// Checks the flags that need no problem; the problem's own are checked once, in ``run()``
    /// (``ProblemOptions/resolve(pass:n:capacity:)``), before anything runs.
    func validate() throws {
        // Data mode runs one problem; a batch of lengths would run every sequence at one length.
        if mode == .data, options.lengths != nil {
            throw ValidationError("--mode data runs one problem, not a batch of --lengths; check one length at a time with --Nk")
        }
    }

    func run() throws {
        let setup = try options.resolve(pass: pass)
        let (p, capacity, kinds, request, hardware) = (setup.problem, setup.capacity, setup.kinds, setup.request, setup.hardware)
        // Data mode's memory refusal comes before any counting.
        if mode == .data { try Wording.running { for kind in kinds { try DataMode.checkMemory(kind, p, pass: pass) } } }
        var results = kinds.map { Estimates.attach(Simulator.simulate($0, p, capacity: capacity, tiles: request, pass: pass), p, hardware) }
        var checks = [Verification.Report?](repeating: nil, count: results.count)
        if mode == .data {
            for (i, r) in results.enumerated() where r.feasible {
                guard check else {
                    results[i].counts = try Verification.runUncheckedShowingProgress(r, p, capacity: capacity, seed: 0)
                    continue
                }
                let report = try Wording.running { try Verification.runShowingProgress(r, p, capacity: capacity, seed: 0) }
                checks[i] = report
                results[i].counts = report.counts
            }
        }
        let checked = checks.contains { $0 != nil }
        let sharing = PrefixSharing.ratios(results, p, capacity: capacity, request: request, hardware: hardware)
        switch format {
        case .json:
            let rendered = zip(results, checks).map { r, c in
                let ratios = r.kind == .chunkAttn ? sharing.map(PrefixSharing.json) ?? [] : []
                return Render.result(r, extra: (c.map { [("equivalence", Verification.json($0))] } ?? []) + Render.perSequence(r, p) + ratios)
            }
            Console.print(JSON.object([("problem", Render.problem(p, capacity: capacity, pass: pass)), ("results", .array(rendered))]).text)
        case .csv:
            Console.print(Render.csvHeader(kernels: kernels, checked: checked))
            for (r, c) in zip(results, checks) {
                for row in Render.csvRows(r, p, capacity: capacity, kernels: kernels, checked: checked, check: c) { Console.print(row) }
            }
        case .table:
            Console.print(
                Render.table(
                    results, p, capacity: capacity, mText: try options.mSpec(), hardware: hardware,
                    checks: checked ? checks : nil, kernels: kernels))
            if let sharing { Console.print(PrefixSharing.line(sharing, p)) }
            if let hardware { Console.print(options.settingLines(hardware), terminator: "") }
        }
        if results.allSatisfy({ !$0.feasible }) {
            throw RunFailure("no schedule can run: " + (results.first?.reason ?? "infeasible"))
        }
        let failed = zip(results, checks).compactMap { r, c in c.map { $0.passed ? nil : r.kind.rawValue } ?? nil }
        if !failed.isEmpty { throw RunFailure("data mode: the reference check failed for \(failed.joined(separator: ", "))") }
    }
}
