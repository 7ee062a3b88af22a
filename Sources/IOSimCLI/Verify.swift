import ArgumentParser
import Foundation
import IOSim

/// `iosim verify`: data mode on seeded random inputs, compared with the reference.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run schedules in data mode on seeded random inputs and check them against the exact reference.",
        discussion: """
            Passes when max|out − ref| ≤ 2·max|base − ref| + 2 ulps, base being plain
            attention in the same precision (docs/numerics.md). Exits 1 when a
            schedule fails, when a schedule named in --schedule cannot run under M,
            or when nothing could be checked.
            With --dtype fp64 and no --N, N is 1024 (the extended-precision check is
            O(N²d) in 80-bit).
            Inputs (--inputs; the same --seed gives the same inputs):
              normal    Q ~ N(0, 1.5²), K, V ~ N(0, 1) (the default). The scores
                        scale·q·k (scale = 1/√d) have standard deviation 1.5: a row's
                        top scores stand out by several units, the running maximum
                        moves from tile to tile and the online softmax's rescale
                        factors exp(m_old − m_new) are far from 1, so a wrong
                        rescale shows.
              uniform   Q, K, V uniform in [−1, 1] (verify's inputs before --inputs):
                        scores of standard deviation 1/3, an almost flat softmax
                        (max|O| ≈ 0.05) that a wrong rescale barely changes.
              outliers  N(0, 1) plus, for 0.1% of entries, N(0, 10²) (FlashAttention-3's
                        outlier features): large scores that stress fp8 scaling;
                        small-m (which subtracts no row max) may overflow in fp16.
            Example: iosim verify --N 300 --d 64 --M 64KiB --dtype fp16 --causal
            """
    )

    @OptionGroup var options: ProblemOptions
    @Option(help: "Seed of the random inputs.") var seed: UInt64 = 0
    @Option(help: "Distribution of the random inputs (see above).") var inputs: InputDistribution = .normal
    @Option(help: "forward, backward (the schedule's forward, then its backward; O, LSE and dQ, dK, dV checked, rtol 3) or training.")
    var pass: Pass = .forward

    func validate() throws {
        _ = try options.problem()
        _ = try options.capacity()
        _ = try options.schedule.kinds(for: pass)
    }

    func run() throws {
        var p = try options.problem()
        // The fp64 check runs an extended-precision (80-bit) reference, which is slow at N = 4096;
        // an fp64 run that did not set N uses 1024 and says so.
        if options.n == "4096", options.nk == nil, p.dtype == .fp64 {
            p.n = 1024; p.nk = 1024
            FileHandle.standardError.write(Data("iosim: fp64 verify uses N = 1024 unless --N is given (the extended-precision check is slow)\n".utf8))
        }
        let capacity = try options.capacity()
        let kinds = try options.schedule.kinds(for: pass)
        // Refused before any simulation: a problem too large for data mode.
        try Wording.running { for kind in kinds { try DataMode.checkMemory(kind, p, pass: pass) } }
        // A schedule named explicitly must be checked; with `all`, at least one must be.
        let named = !options.schedule.includesAll
        var failed: [String] = [], checked = 0
        print("inputs: \(inputs.rawValue), seed \(seed)")
        for kind in kinds {
            let r = Simulator.simulate(kind, p, capacity: capacity, tiles: try options.tileRequest(for: p), pass: pass)
            guard r.feasible else {
                print("\(kind.rawValue): not checked (\(r.reason ?? "infeasible"))")
                if named { failed.append("\(kind.rawValue) (not checked)") }
                continue
            }
            checked += 1
            let report: Verification.Report
            do { report = try Check.run(r, p, capacity: capacity, seed: seed, inputs: inputs) } catch let error as SimulationError {
                // The schedule could not compute the values (small-m's exp overflowing, say): a failed check.
                print("\(kind.rawValue) (tiles \(r.tiles!)): FAIL: \(Wording.message(error))")
                failed.append(kind.rawValue)
                continue
            }
            print("\(kind.rawValue) (tiles \(r.tiles!)): \(report.equivalence)")
            if let g = report.gradients { print(g) }
            if !report.passed { failed.append(kind.rawValue) }
        }
        if checked == 0 { throw RunFailure("nothing was checked: no schedule can run under M = \(capacity) bytes") }
        if !failed.isEmpty { throw RunFailure("verify failed for \(failed.joined(separator: ", "))") }
    }
}
