import ArgumentParser
import Foundation
import IOSim

/// `iosim sweep`: simulate over ranges of N and M; one row per (N, M, schedule).
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Simulate over ranges of N and M (doubling: --N 1K...64K, --M 16KiB...1MiB, or lists a,b,c).",
        discussion: "Rows go to standard output (CSV or JSON); progress goes to standard error when it runs over a second."
    )

    @OptionGroup var options: ProblemOptions
    @Option(help: "How to print the rows.") var format: RowFormat = .csv
    @Option(help: "forward, backward (standard, fa1, fa2) or training (forward then backward, counts added).")
    var pass: Pass = .forward
    @Flag(help: "CSV: a row per kernel after each schedule's row (columns kernel and ctas). JSON always lists the kernels.")
    var kernels = false

    /// The values of N (`--N`: a doubling range or a list).
    func lengths() throws -> [Int] { try Units.counts(options.n, name: "N") }

    /// The values of M (`--M`: a doubling range or a list).
    func capacities() throws -> [Int] { try Units.sizes(try options.mSpec()) }

    func run() throws {
        // Every point resolved before any row is printed, so that a bad one is a usage error alone.
        let ms = try capacities()
        let setups = try lengths().map { n in try options.resolve(pass: pass, n: n, capacity: { ms[0] }) }
        let total = setups.count * ms.count
        let start = Date()
        var done = 0, rows: [JSON] = []
        if format == .csv { Console.print(Render.csvHeader(kernels: kernels, checked: false)) }
        for setup in setups {
            let p = setup.problem
            for m in ms {
                for kind in setup.kinds {
                    let r = Estimates.attach(Simulator.simulate(kind, p, capacity: m, tiles: setup.request, pass: pass), p, setup.hardware)
                    if format == .csv {
                        for row in Render.csvRows(r, p, capacity: m, kernels: kernels) { Console.print(row) }
                    } else {
                        rows.append(.object([("problem", Render.problem(p, capacity: m, pass: pass)), ("result", Render.result(r))]))
                    }
                }
                done += 1
                if Date().timeIntervalSince(start) > 1 { Progress.show(done, of: total) }
            }
        }
        if Date().timeIntervalSince(start) > 1 { Progress.finish() }
        if format == .json { Console.print(JSON.array(rows).text) }
    }
}

/// A one-line progress bar on standard error.
enum Progress {
    static func show(_ done: Int, of total: Int) {
        let width = 30, filled = width * done / max(1, total)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        Console.error("\r[\(bar)] \(done)/\(total)")
    }

    static func finish() { Console.error("\n") }

    /// A progress callback for a data-mode run: silent for its first two seconds, then a line on
    /// stderr rewritten at most every half second; the line ends when the run reaches 100%.
    static func timed(_ label: String) -> (Double) -> Void {
        let start = Date()
        nonisolated(unsafe) var last = start, shown = false
        return { fraction in
            let now = Date()
            if fraction >= 1 {
                if shown { Console.error("\r\(label): 100% of its HBM reads\n") }
                return
            }
            guard now.timeIntervalSince(start) > 2, now.timeIntervalSince(last) > 0.5 else { return }
            (last, shown) = (now, true)
            Console.error("\r\(label): \(Int(fraction * 100))% of its HBM reads")
        }
    }
}
