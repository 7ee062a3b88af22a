import ArgumentParser
import Foundation
import IOSim

/// `iosim compare --ncu report.csv`: Nsight Compute's measured traffic (and time) per kernel
/// launch beside the simulator's prediction for the same problem and schedule (docs/cli.md §6).
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set Nsight Compute measurements (ncu --csv) beside the simulator's per-kernel prediction.",
        discussion: """
            Record the kernels with, for example,
              ncu --csv --page raw --metrics l1tex__m_xbar2l1tex_read_bytes.sum,\\
            l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,\\
            gpu__time_duration.sum python my_attention.py > report.csv
            (the details page, without --page raw, is read too; lines before the CSV
            header, such as the program's output and ==PROF== lines, are skipped; numbers
            may carry thousands separators). Give the problem and one schedule with the
            usual flags, and --pass backward for a backward's kernels.

            Launches: all of the CSV's, or those whose kernel name matches --match (a
            regular expression), in launch order, in runs of the schedule's kernels (fa2:
            1 kernel; fa2 backward: preprocess, main, convert; split-kv: split, combine;
            standard: scores, softmax, pv): launch i is compared with the schedule's kernel
            i mod (kernels per run).

            Per launch: L2→SM read bytes (l1tex__m_xbar2l1tex_read_bytes.sum) against the
            kernel's predicted HBM read bytes, SM→L2 write bytes
            (l1tex__m_l1tex2xbar_write_bytes.sum) against its write bytes, and DRAM bytes
            (dram__bytes_read.sum + dram__bytes_write.sum) against read + write bytes
            (below 1 where L2 served re-reads); with --hardware, per run, the summed
            gpu__time_duration.sum against the schedule's time estimate. ratio = measured /
            predicted. The read metric is required; the others are compared when the CSV
            has them.

            Exit codes: 0 compared; 2 bad input (a CSV that cannot be read or lacks a
            needed metric, a --match that matches nothing or an invalid one, launches that
            are not whole runs, a schedule that cannot run); 64 a usage error in the
            problem flags (as for simulate).
            """
    )

    @OptionGroup var options: ProblemOptions
    @Option(help: "Nsight Compute CSV (ncu --csv [--page raw]).") var ncu: String
    @Option(help: ArgumentHelp("Compare only launches whose kernel name matches this regular expression.", valueName: "regex"))
    var match: String?
    @Option(
        help: ArgumentHelp(
            "Compare only these launches: positions in the CSV's launch order, from 0, comma-separated (before --match).", valueName: "list"))
    var launches: String?
    @Option(help: "table or json.") var format: CompareFormat = .table
    @Option(help: "forward, backward (e.g. PyTorch's FA2 backward: --schedule fa2, kernels preprocess, main, convert) or training.")
    var pass: Pass = .forward

    enum CompareFormat: String, CaseIterable, ExpressibleByArgument {
        case table, json
        init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    }

    /// The options resolved once; compare needs exactly one schedule.
    func setup() throws -> RunSetup {
        let setup = try options.resolve(pass: pass, capacity: compareCapacity)
        guard setup.selection.kinds.count == 1 else {
            throw ValidationError("compare needs one --schedule (the one the kernels implement), e.g. --schedule fa2")
        }
        return setup
    }

    func run() throws {
        let rows: [NcuComparison.Row]
        let header: String
        let setup = try self.setup()
        do {
            let (p, capacity, kind) = (setup.problem, setup.capacity, setup.selection.kinds[0])
            let csv = try readCSV()
            let (request, tileSource) = try tileRequest(setup, csv: csv)
            let r = Estimates.attach(Simulator.simulate(kind, p, capacity: capacity, tiles: request, pass: pass), p, setup.hardware)
            guard let counts = r.counts else { throw CompareInputError("\(kind.rawValue) cannot run this problem: \(r.reason ?? "infeasible")") }
            let comparison = NcuComparison(csv: csv, kernels: counts.kernels, kind: kind, timeEstimate: r.timeEstimate?.seconds)
            var positions: [Int]?
            if let launches {
                let parts = launches.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !parts.isEmpty, parts.allSatisfy({ $0 != nil && $0! >= 0 }) else {
                    throw CompareInputError("--launches takes positions from 0 separated by commas, got '\(launches)'")
                }
                positions = parts.map { $0! }
            }
            rows = try comparison.rows(launches: positions, match: match, needTime: options.hardware != nil)
            if let warning = comparison.gridWarning(rows) { printError("iosim: compare: warning: " + warning) }
            let tiles = r.tiles.map { " Br=\($0.br) Bc=\($0.bc)" } ?? ""
            header =
                "iosim compare: \(kind.rawValue)\(tiles) (\(tileSource)) on N=\(p.n) Nk=\(p.nk) d=\(p.d) batch=\(p.batch) heads=\(p.heads) "
                + "kv_heads=\(p.kvHeads) \(p.dtype.rawValue)\(Render.causal(p) ? " causal" : ""), M=\(capacity) B; \(TerminalText.escape(ncu))"
            if format == .json {
                Console.print(
                    JSON.object([
                        ("problem", Render.problem(p, capacity: capacity, pass: pass)), ("schedule", .string(kind.rawValue)),
                        ("tiles", .string(tileSource)), ("kernels", .array(rows.map(\.json))),
                    ]).text)
                return
            }
        } catch let error as CompareInputError {
            throw BadInput(command: "compare", message: error.description)
        }
        Console.print(NcuComparison.table(rows, header: header), terminator: "")
    }

    /// M: --M, else the --hardware GPU's on-chip memory per block, else the H100's (the GPU the
    /// kernel was measured on has one; 100KB would refuse the kernels' own tiles).
    func compareCapacity() throws -> Int {
        if options.m != nil || options.hardware != nil { return try options.capacity() }
        if let h100 = try? ModelFile.hardware("h100-sxm") { return h100.onChipPerBlock }
        return try options.capacity()
    }

    func readCSV() throws(CompareInputError) -> NcuCSV {
        let text: String
        do { text = try String(contentsOfFile: ncu, encoding: .utf8) } catch {
            throw CompareInputError(
                "\(ncu): cannot be read (\(FileManager.default.fileExists(atPath: ncu) ? "not UTF-8 text?" : "no such file"))")
        }
        do { return try NcuCSV.parse(text, quantities: NcuComparison.quantities) } catch {
            throw CompareInputError("\(ncu): \(error.description)")
        }
    }

    /// The tiles to predict with, and where they come from: --Br/--Bc (or --tiles) as given;
    /// else the tiles in the measured kernel's own name (FlashAttention-2's traits, in the first
    /// launch --match selects); else the kernels' tiles (`--tiles kernel`), so that the
    /// prediction is for the kernel that was measured rather than for tiles no kernel uses.
    func tileRequest(_ setup: RunSetup, csv: NcuCSV) throws -> (TileRequest, String) {
        var request = setup.request
        if options.br != nil || options.bc != nil { return (request, "tiles as given") }
        if let policy = options.tiles { return (request, "--tiles \(policy.rawValue)") }
        // FlashAttention-2's traits name the tiles of the kernels fa2, split-kv and lean model.
        if pass != .training, [ScheduleKind.fa2, .splitKV, .lean].contains(setup.selection.kinds[0]) {
            let regex = try match.map { text in
                do { return try Regex(text) } catch { throw CompareInputError("--match '\(text)' is not a valid regular expression") }
            }
            let named = csv.launches.lazy.filter { l in regex.map { l.kernelName.contains($0) } ?? true }
                .compactMap { KernelNameTiles($0.kernelName, backward: pass == .backward) }.first
            if let t = named {
                (request.br, request.bc) = (t.br, t.bc)
                if options.warpsOption == nil { request.warps = t.warps }
                return (request, "tiles from the kernel's name")
            }
        }
        request.policy = .kernel
        return (request, "--tiles kernel")
    }
}

/// Bad input to `iosim compare` (exit 2).
struct CompareInputError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Measured launches matched with predicted kernels.
struct NcuComparison {
    let csv: NcuCSV
    let kernels: [KernelCounts]
    let kind: ScheduleKind
    let timeEstimate: Double?

    static let readMetric = "l1tex__m_xbar2l1tex_read_bytes.sum"
    static let writeMetric = "l1tex__m_l1tex2xbar_write_bytes.sum"
    static let dramMetrics = ["dram__bytes_read.sum", "dram__bytes_write.sum"]
    static let timeMetric = "gpu__time_duration.sum"
    /// The metrics compared, checked as they are read.
    static let quantities: [String: NcuCSV.Quantity] = Dictionary(
        uniqueKeysWithValues: ([readMetric, writeMetric] + dramMetrics).map { ($0, .bytes) } + [(timeMetric, .seconds)])

    struct Row {
        /// Position in the CSV's launch order (from 0).
        var launch: Int
        /// Nsight's ID (restarts in each appended ncu run).
        var id: Int
        var ncuName: String
        var kernel: String
        var metric: String
        var measured: Double
        var predicted: Double
        var ratio: Double? { predicted == 0 ? nil : measured / predicted }

        var json: JSON { Row.columns.jsonObject(self) }

        /// A row's columns, for the table and JSON alike (docs/output.md).
        static let columns: [Column<Row>] = {
            @Sendable func number(_ x: Double, _ metric: String) -> String {
                metric == "time_s" ? String(format: "%.1f us", x * 1e6) : x.isFinite && abs(x) < 1e15 ? "\(Int(x.rounded()))" : "\(x)"
            }
            return [
                Column("launch", table: "launch") { .int($0.launch) },
                Column("id") { .int($0.id) },
                Column("ncu_name", table: "ncu kernel", tableText: { TerminalText.escape(NcuComparison.shortName($0.ncuName)) }) {
                    .string($0.ncuName)
                },
                Column("kernel", table: "kernel") { .string($0.kernel) },
                Column("metric", table: "metric") { .string($0.metric) },
                Column("measured", table: "measured", tableText: { number($0.measured, $0.metric) }) { .double($0.measured) },
                Column("predicted", table: "predicted", tableText: { number($0.predicted, $0.metric) }) { .double($0.predicted) },
                Column("ratio", table: "ratio", tableText: { $0.ratio.map { String(format: "%.3f", $0) } ?? "n/a" }) {
                    $0.ratio.map(Cell.double) ?? .string("n/a")
                },
            ]
        }()
    }

    /// The launches `match` selects, in runs of the schedule's kernels, as rows.
    func rows(launches positions: [Int]? = nil, match: String?, needTime: Bool) throws(CompareInputError) -> [Row] {
        guard csv.metricNames.contains(Self.readMetric) else {
            throw CompareInputError(
                "the CSV has no metric \(Self.readMetric) (L2→SM read bytes); record it with ncu --metrics \(Self.readMetric),...")
        }
        if needTime && !csv.metricNames.contains(Self.timeMetric) {
            throw CompareInputError("--hardware compares times, but the CSV has no metric \(Self.timeMetric)")
        }
        var launches = Array(csv.launches.enumerated())
        if let positions {
            if let bad = positions.first(where: { $0 >= csv.launches.count }) {
                throw CompareInputError("--launches names launch \(bad), but the CSV has \(csv.launches.count) (0 to \(csv.launches.count - 1))")
            }
            launches = positions.map { ($0, csv.launches[$0]) }
        }
        if let match {
            let regex: Regex<AnyRegexOutput>
            do { regex = try Regex(match) } catch { throw CompareInputError("--match '\(match)' is not a valid regular expression") }
            launches = launches.filter { $0.element.kernelName.contains(regex) }
            guard !launches.isEmpty else {
                let names = Set(csv.launches.map { Self.shortName($0.kernelName) }).sorted().joined(separator: "; ")
                throw CompareInputError("--match '\(match)' matches none of the CSV's \(csv.launches.count) launches (\(names))")
            }
        }
        guard !launches.isEmpty else { throw CompareInputError("the CSV has no kernel launches") }
        guard launches.count % kernels.count == 0 else {
            throw CompareInputError(
                "\(launches.count) launches selected, but \(kind.rawValue) launches \(kernels.count) kernels per run "
                    + "(\(kernels.map(\.name).joined(separator: ", "))); use --match to select whole runs")
        }
        if let (position, launch) = launches.first(where: { $0.element.metrics[Self.readMetric] == nil }) {
            throw CompareInputError("launch \(position) (ID \(launch.id), \(Self.shortName(launch.kernelName))) has no value for \(Self.readMetric)")
        }
        if needTime, let (position, launch) = launches.first(where: { $0.element.metrics[Self.timeMetric] == nil }) {
            throw CompareInputError("launch \(position) (ID \(launch.id), \(Self.shortName(launch.kernelName))) has no value for \(Self.timeMetric)")
        }
        var rows: [Row] = []
        for (i, (position, launch)) in launches.enumerated() {
            let k = kernels[i % kernels.count]
            let hbm = k.hbm
            let m = launch.metrics
            func add(_ metric: String, _ measured: Double?, _ predicted: Int) {
                guard let measured else { return }
                rows.append(
                    Row(
                        launch: position, id: launch.id, ncuName: launch.kernelName, kernel: k.name, metric: metric, measured: measured,
                        predicted: Double(predicted)))
            }
            add("l2_to_sm_read_bytes", m[Self.readMetric], hbm.readBytes)
            add("sm_to_l2_write_bytes", m[Self.writeMetric], hbm.writeBytes)
            let dram = Self.dramMetrics.compactMap { m[$0] }
            add("dram_bytes", dram.count == 2 ? dram.reduce(0, +) : nil, hbm.bytes)
            if let estimate = timeEstimate, needTime, i % kernels.count == kernels.count - 1 {
                let run = launches[(i + 1 - kernels.count)...i].map(\.element)
                let seconds = run.compactMap { $0.metrics[Self.timeMetric] }.reduce(0, +)
                rows.append(
                    Row(
                        launch: launches[i + 1 - kernels.count].offset, id: run.first!.id, ncuName: run.map(\.kernelName).joined(separator: " + "),
                        kernel: kernels.count == 1 ? k.name : kind.rawValue + " (all kernels)", metric: "time_s", measured: seconds,
                        predicted: estimate))
            }
        }
        return rows
    }

    /// A warning when the measured grids disagree with the predicted CTAs (the first such launch):
    /// the kernel then runs other tiles, splits or problem than the flags describe.
    func gridWarning(_ rows: [Row]) -> String? {
        // FA3's persistent scheduler launches one CTA per SM whatever the problem: no check there.
        guard kind.implementation?.launch.overlapsPhases != true else { return nil }
        for row in rows where row.metric == "l2_to_sm_read_bytes" {
            guard let grid = csv.launches[row.launch].gridSize, let k = kernels.first(where: { $0.name == row.kernel }),
                grid != k.ctas
            else { continue }
            let predicted = kernels.count == 1 ? kind.rawValue : "\(kind.rawValue)'s \(k.name) kernel"
            return "launch \(row.launch) (\(Self.shortName(row.ncuName))) ran \(grid) CTAs, but \(predicted) "
                + "launches \(k.ctas) with these flags; the tiles (--Br/--Bc), splits or problem may not be the kernel's"
        }
        return nil
    }

    /// A kernel name without its template arguments and parameters, for messages and tables.
    static func shortName(_ name: String) -> String {
        var s = name.hasPrefix("void ") ? String(name.dropFirst(5)) : name
        if let cut = s.firstIndex(where: { $0 == "<" || $0 == "(" }) { s = String(s[..<cut]) }
        return s
    }

    static func table(_ rows: [Row], header: String) -> String {
        let cells = Row.columns.tableRows(rows)
        let lines = TextTable.lines(cells, right: [0, 4, 5, 6])
        return
            ([header, ""] + lines + ["", "ratio = measured / predicted (bytes: Nsight's L2↔SM and DRAM traffic against the simulated HBM traffic)"])
            .joined(separator: "\n") + "\n"
    }
}
