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
          iosim --N 16K --d 128 --M 228KiB --causal --tiles optimal --format csv
        """
    )

    @OptionGroup var options: ProblemOptions
    @Option(help: "table, json or csv.") var format: String = "table"
    @Option(help: "count (no data) or data (values move too; checked against the reference).") var mode: String = "count"
    @Flag(inversion: .prefixedNo, help: "In data mode, check O and LSE against the reference (--no-check only runs the schedule, for timing).")
    var check = true

    func run() throws {
        let p = try options.problem()
        let capacity = try options.capacity()
        let kinds = try options.schedules()
        let request = try options.tileRequest()
        guard ["table", "json", "csv"].contains(format) else { throw UsageError("unknown --format '\(format)'; use table, json or csv") }
        guard ["count", "data"].contains(mode) else { throw UsageError("unknown --mode '\(mode)'; use count or data") }
        // Data mode's memory refusal comes before any counting.
        if mode == "data" { for kind in kinds { try DataMode.checkMemory(kind, p) } }
        let hardware = try options.hardwareModel()
        var results = try kinds.map { Estimates.attach(Simulator.simulate($0, p, capacity: capacity, tiles: request), p, hardware) }
        var extras = [[(String, JSON)]](repeating: [], count: results.count)
        if mode == "data" {
            for (i, r) in results.enumerated() where r.feasible {
                guard check else {
                    results[i].counts = try Check.runUnchecked(r, p, capacity: capacity, seed: 0)
                    continue
                }
                let report = try Check.run(r, p, capacity: capacity, seed: 0)
                extras[i] = [("equivalence", Check.json(report))]
                results[i].counts = report.counts
            }
        }
        switch format {
        case "json":
            print(JSON.object([("problem", Render.problem(p, capacity: capacity)),
                               ("results", .array(zip(results, extras).map { Render.result($0, extra: $1) }))]).text)
        case "csv":
            print(Render.csvHeader)
            for r in results { print(Render.csvRow(r, p, capacity: capacity)) }
        default:
            print(Render.table(results, p, capacity: capacity, mText: try options.mSpec(), hardware: hardware))
        }
        if results.allSatisfy({ !$0.feasible }) {
            throw UsageError("no schedule can run: " + (results.first?.reason ?? "infeasible"))
        }
    }
}
