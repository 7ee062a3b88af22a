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
        var failed: [String] = []
        for kind in try options.schedules() {
            let r = Simulator.simulate(kind, p, capacity: capacity, tiles: try options.tileRequest())
            guard r.feasible else { print("\(kind.rawValue): skipped (\(r.reason ?? "infeasible"))"); continue }
            let report = try Check.run(r, p, capacity: capacity, seed: seed)
            print("\(kind.rawValue) (tiles \(r.tiles!)): \(report.equivalence)")
            if !report.equivalence.passed { failed.append(kind.rawValue) }
        }
        if !failed.isEmpty { throw UsageError("equivalence check failed for \(failed.joined(separator: ", "))") }
    }
}
