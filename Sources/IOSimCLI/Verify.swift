import ArgumentParser
import AttentionReference
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
            --format json (for CI) prints one object: the problem with M and the pass, the
            seed and inputs, and per schedule its tiles and, per tensor (O, LSE; dQ, dK,
            dV with --pass backward or training), the largest error, where it is
            (batch, head, row, column), the allowance, the baseline error, atol, rtol
            and the verdict; "passed" for the whole run. Exit codes as above.
            Example: iosim verify --N 300 --d 64 --M 64KiB --dtype fp16 --causal
            """
    )

    @OptionGroup var options: ProblemOptions
    @Option(help: "Seed of the random inputs.") var seed: UInt64 = 0
    @Option(help: "Distribution of the random inputs (see above).") var inputs: InputDistribution = .normal
    @Option(help: "forward, backward (the schedule's forward, then its backward; O, LSE and dQ, dK, dV checked, rtol 3) or training.")
    var pass: Pass = .forward
    @Option(help: "text (one report per schedule) or json (one object, for CI; see above).")
    var format: VerifyFormat = .text

    /// Checks the flags that need no problem; the problem's own are checked once, in ``run()``.
    func validate() throws {
        if options.lengths != nil {
            throw ValidationError("verify runs one problem, not a batch of --lengths; verify one length at a time with --Nk")
        }
    }

    func run() throws {
        let setup = try options.resolve(pass: pass)
        var p = setup.problem
        // The fp64 check runs an extended-precision (80-bit) reference, which is slow at N = 4096;
        // an fp64 run that did not set N uses 1024 and says so.
        if options.n == "4096", options.nk == nil, p.dtype == .fp64 {
            p.n = 1024; p.nk = 1024
            Console.error("iosim: fp64 verify uses N = 1024 unless --N is given (the extended-precision check is slow)\n")
        }
        let (capacity, kinds) = (setup.capacity, setup.kinds)
        // Refused before any simulation: a problem too large for data mode.
        try Wording.running { for kind in kinds { try DataMode.checkMemory(kind, p, pass: pass) } }
        // A schedule named explicitly must be checked; with `all`, at least one must be.
        let named = !setup.selection.includesAll
        var failed: [String] = [], checked = 0, rendered: [JSON] = []
        let text = format == .text
        if text { Console.print("inputs: \(inputs.rawValue), seed \(seed)") }
        for kind in kinds {
            let r = Simulator.simulate(kind, p, capacity: capacity, tiles: setup.request, pass: pass)
            guard r.feasible else {
                if text { Console.print("\(kind.rawValue): not checked (\(r.reason ?? "infeasible"))") }
                rendered.append(.object(Self.head(r) + [("checked", .bool(false)), ("reason", .string(r.reason ?? "infeasible"))]))
                if named { failed.append("\(kind.rawValue) (not checked)") }
                continue
            }
            checked += 1
            let report: Verification.Report
            do { report = try Verification.runShowingProgress(r, p, capacity: capacity, seed: seed, inputs: inputs) } catch let error
                as SimulationError
            {
                // The schedule could not compute the values (small-m's exp overflowing, say): a failed check.
                if text { Console.print("\(kind.rawValue) (tiles \(r.tiles!)): FAIL: \(Wording.message(error))") }
                rendered.append(
                    .object(Self.head(r) + [("checked", .bool(true)), ("passed", .bool(false)), ("error", .string(Wording.message(error)))]))
                failed.append(kind.rawValue)
                continue
            }
            if text {
                Console.print("\(kind.rawValue) (tiles \(r.tiles!)): \(report.equivalence)")
                if let g = report.gradients { Console.print(g) }
            }
            rendered.append(
                .object(Self.head(r) + [("checked", .bool(true)), ("passed", .bool(report.passed)), ("tensors", Self.tensors(report, p))]))
            if !report.passed { failed.append(kind.rawValue) }
        }
        if !text {
            Console.print(
                JSON.object([
                    ("problem", Render.problem(p, capacity: capacity, pass: pass)), ("seed", .string("\(seed)")),
                    ("inputs", .string(inputs.rawValue)), ("results", .array(rendered)),
                    ("passed", .bool(checked > 0 && failed.isEmpty)),
                ]).text)
        }
        if checked == 0 { throw RunFailure("nothing was checked: no schedule can run under M = \(capacity) bytes") }
        if !failed.isEmpty { throw RunFailure("verify failed for \(failed.joined(separator: ", "))") }
    }
}

/// `verify --format`.
enum VerifyFormat: String, CaseIterable, ExpressibleByArgument {
    case text, json
}

extension Verify {
    /// A result's name, pass and tiles (the backward's too in training).
    static func head(_ r: ScheduleResult) -> [(String, JSON)] {
        var f: [(String, JSON)] = [("schedule", .string(r.kind.rawValue)), ("pass", .string(r.pass.rawValue))]
        if let t = r.tiles { f += [("Br", .int(t.br)), ("Bc", .int(t.bc))] }
        if let b = r.backwardTiles { f.append(("backward", .object([("Br", .int(b.br)), ("Bc", .int(b.bc))]))) }
        return f
    }

    /// Each checked tensor: its error, where (as `iosim check` says it: batch, head, row, column),
    /// the allowance and its parts, the verdict.
    static func tensors(_ r: Verification.Report, _ p: AttentionProblem) -> JSON {
        let (n, nk, d) = (p.nq, p.nk, p.d)
        // Query-side tensors are [batch, heads, Nq, d] (LSE without d); dK, dV [batch, kv_heads, Nk, d].
        func query(_ i: Int, width: Int) -> KernelOutputCheck.Location {
            KernelOutputCheck.Location(
                batch: i / (p.heads * n * width), head: i / (n * width) % p.heads, row: i / width % n,
                column: width == 1 ? nil : i % width)
        }
        func kv(_ i: Int) -> KernelOutputCheck.Location {
            KernelOutputCheck.Location(batch: i / (p.kvHeads * nk * d), head: i / (nk * d) % p.kvHeads, row: i / d % nk, column: i % d)
        }
        var list: [(String, Comparison, KernelOutputCheck.Location)] = [("O", r.equivalence.output, query(r.equivalence.output.worstIndex, width: d))]
        if let l = r.equivalence.lse { list.append(("LSE", l, query(l.worstIndex, width: 1))) }
        if let g = r.gradients {
            list += [("dQ", g.dq, query(g.dq.worstIndex, width: d)), ("dK", g.dk, kv(g.dk.worstIndex)), ("dV", g.dv, kv(g.dv.worstIndex))]
        }
        return .array(
            list.map { name, c, at in
                .object([
                    ("name", .string(name)), ("max_abs_error", .number(c.maxAbsError)), ("where", at.json),
                    ("allowed", .number(c.allowed)), ("baseline_error", .number(c.baselineError)), ("atol", .number(c.atol)),
                    ("rtol", .double(c.rtol)), ("passed", .bool(c.passed)), ("reason", c.failure.map(JSON.string) ?? .null),
                ])
            })
    }
}
