import ArgumentParser
import Foundation
import IOSim

/// `iosim verify`: data mode on seeded random inputs, compared with the reference.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run schedules in data mode on seeded random inputs and check them against the exact reference.",
        discussion: """
        Passes when max|out − ref| ≤ 2·max|base − ref| + 2 ulps, base being plain attention in the same
        precision (DESIGN §7). Exits non-zero when any schedule fails.
        With --dtype fp64 and no --N, N is 1024 (the extended-precision check is O(N²d) in 80-bit).
        Example: iosim verify --N 300 --d 64 --M 64KiB --dtype fp16 --causal
        """
    )

    @OptionGroup var options: ProblemOptions
    @Option(help: "Seed of the random inputs.") var seed: UInt64 = 0

    func run() throws {
        var p = try options.problem()
        // The fp64 check runs an extended-precision (80-bit) reference, which is slow at N = 4096;
        // an fp64 run that did not set N uses 1024 and says so.
        if options.n == "4096", options.nk == nil, p.dtype == .fp64 {
            p.n = 1024; p.nk = 1024
            FileHandle.standardError.write(Data("iosim: fp64 verify uses N = 1024 unless --N is given (the extended-precision check is slow)\n".utf8))
        }
        let capacity = try options.capacity()
        let kinds = try options.schedules()
        // Refused before any simulation: a problem too large for data mode.
        for kind in kinds { try DataMode.checkMemory(kind, p) }
        // A schedule named explicitly must be checked; with `all`, at least one must be.
        let named = !options.schedule.lowercased().split(separator: ",").contains("all")
        var failed: [String] = [], checked = 0
        for kind in kinds {
            let r = Simulator.simulate(kind, p, capacity: capacity, tiles: try options.tileRequest())
            guard r.feasible else {
                print("\(kind.rawValue): not checked (\(r.reason ?? "infeasible"))")
                if named { failed.append("\(kind.rawValue) (not checked)") }
                continue
            }
            let report = try Check.run(r, p, capacity: capacity, seed: seed)
            checked += 1
            print("\(kind.rawValue) (tiles \(r.tiles!)): \(report.equivalence)")
            if !report.equivalence.passed { failed.append(kind.rawValue) }
        }
        if checked == 0 { throw UsageError("nothing was checked: no schedule can run under M = \(capacity) bytes") }
        if !failed.isEmpty { throw UsageError("verify failed for \(failed.joined(separator: ", "))") }
    }
}
