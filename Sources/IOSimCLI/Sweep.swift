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

    /// Every point is checked here, so that a bad one is a usage error before any row is printed.
    func validate() throws {
        for n in try lengths() { _ = try options.problem(n: n) }
        _ = try capacities()
        _ = try options.schedule.kinds(for: pass)
    }

    func run() throws {
        let ns = try lengths(), ms = try capacities()
        let kinds = try options.schedule.kinds(for: pass)
        let hardware = try options.hardwareModel()
        let total = ns.count * ms.count
        let start = Date()
        var done = 0, rows: [JSON] = []
        if format == .csv { print(Render.csvHeader(kernels: kernels, checked: false)) }
        for n in ns {
            let p = try options.problem(n: n)
            let request = try options.tileRequest(for: p)
            for m in ms {
                for kind in kinds {
                    let r = Estimates.attach(Simulator.simulate(kind, p, capacity: m, tiles: request, pass: pass), p, hardware)
                    if format == .csv {
                        for row in Render.csvRows(r, p, capacity: m, kernels: kernels) { print(row) }
                    } else {
                        rows.append(.object([("problem", Render.problem(p, capacity: m, pass: pass)), ("result", Render.result(r))]))
                    }
                }
                done += 1
                if Date().timeIntervalSince(start) > 1 { Progress.show(done, of: total) }
            }
        }
        if Date().timeIntervalSince(start) > 1 { Progress.finish() }
        if format == .json { print(JSON.array(rows).text) }
    }
}

/// A one-line progress bar on standard error.
enum Progress {
    static func show(_ done: Int, of total: Int) {
        let width = 30, filled = width * done / max(1, total)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }

    static func finish() { FileHandle.standardError.write(Data("\n".utf8)) }

    /// A progress callback for a data-mode run: silent for its first two seconds, then a line on
    /// stderr rewritten at most every half second; the line ends when the run reaches 100%.
    static func timed(_ label: String) -> (Double) -> Void {
        let start = Date()
        nonisolated(unsafe) var last = start, shown = false
        return { fraction in
            let now = Date()
            if fraction >= 1 {
                if shown { FileHandle.standardError.write(Data("\r\(label): 100% of its HBM reads\n".utf8)) }
                return
            }
            guard now.timeIntervalSince(start) > 2, now.timeIntervalSince(last) > 0.5 else { return }
            (last, shown) = (now, true)
            FileHandle.standardError.write(Data("\r\(label): \(Int(fraction * 100))% of its HBM reads".utf8))
        }
    }
}
