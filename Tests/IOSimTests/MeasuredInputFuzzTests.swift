import Foundation
import TestSupport
import Testing

@testable import IOSim

/// Seeded, time-bounded mutation fuzzers for the measured inputs a user hands iosim: Nsight
/// Compute CSVs (`iosim compare`), hardware model files and `--lengths` lists and files. Each
/// input is either refused with the reader's typed error or read into a result that holds what
/// the reader promises (finite, non-negative measurements; unique launches; finite time
/// estimates; lengths within the limits) — never a trap, never a silent nonsense value.
///
/// Environment: `IOSIM_FUZZ_SECONDS` (each fuzzer's time bound, default 5), `IOSIM_FUZZ_SEED`
/// (default fixed); each fuzzer stops after `iterationCap` inputs. A failure names the seed and
/// the iteration, which reproduce it.
@Suite struct MeasuredInputFuzz {
    static let iterationCap = 3000
    /// iosim processes the CLI fuzzer may start (each costs a process launch).
    static let cliRunsMax = 48
    static let cliRunsMin = 12

    /// One fuzzer's budget: its own seed (the common seed plus a salt) and deadline.
    struct Budget {
        let seed: UInt64
        let deadline: ContinuousClock.Instant

        init(salt: UInt64) {
            let env = ProcessInfo.processInfo.environment
            seed = (env["IOSIM_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x6D65_6173_7572_6564) &+ salt
            deadline = .now + .seconds(env["IOSIM_FUZZ_SECONDS"].flatMap { Double($0) } ?? 5)
        }

        var expired: Bool { ContinuousClock.now >= deadline }
    }

    // MARK: - Nsight Compute CSVs

    /// compare's checked metrics (the five it reads), by name.
    static let quantities: [String: NcuCSV.Quantity] = [
        "l1tex__m_xbar2l1tex_read_bytes.sum": .bytes, "l1tex__m_l1tex2xbar_write_bytes.sum": .bytes,
        "dram__bytes_read.sum": .bytes, "dram__bytes_write.sum": .bytes, "gpu__time_duration.sum": .seconds,
    ]

    /// One line of a CSV being mutated: its cells when it is a quoted row (ncu quotes every cell),
    /// else its text (program output, profiler lines, junk).
    enum CSVLine: Equatable {
        case cells([String])
        case text(String)

        var cells: [String]? {
            if case let .cells(c) = self { return c }
            return nil
        }

        var written: String {
            switch self {
            case let .cells(c): c.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: ",")
            case let .text(t): t
            }
        }
    }

    /// A recorded CSV (some of its launches, to keep each parse fast) and the compare flags of its
    /// problem.
    struct CSVSeed {
        var name: String
        var lines: [CSVLine]
        var args: [String]
    }

    static func csvSeeds() throws -> [CSVSeed] {
        /// The file's lines numbered `keep` (1-based; all when nil), cells parsed once.
        func lines(_ file: String, keep: [Int]?) throws -> [CSVLine] {
            let text = try String(contentsOf: Repo.gpuReports.appendingPathComponent(file), encoding: .utf8)
            let all = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            return try (keep ?? Array(1...all.count)).map { n in
                let line = all[n - 1]
                return line.hasPrefix("\"") ? .cells(try NcuCSV.fields(line, line: n)) : .text(line)
            }
        }
        return [
            // Raw page: header, units row and the first four launches (fa2 decode kernels).
            CSVSeed(
                name: "decode_ncu_raw.csv", lines: try lines("decode_ncu_raw.csv", keep: Array(1...6)),
                args: ["--N", "1", "--Nk", "4K", "--d", "128", "--heads", "32", "--batch", "8", "--schedule", "fa2"]),
            // Details page, whole (4 launches × 4 metrics).
            CSVSeed(
                name: "torch_flash_ncu_raw.csv", lines: try lines("torch_flash_ncu_raw.csv", keep: nil),
                args: ["--N", "4096", "--d", "64", "--heads", "8", "--schedule", "fa2", "--Br", "128", "--Bc", "128", "--M", "228KiB"]),
            // Raw page after program and profiler lines: a PyTorch kernel, the split-KV pair and
            // the FA2 backward's three kernels.
            CSVSeed(
                name: "ncu_sample_torch_fwd_bwd.csv", lines: try lines("ncu_sample_torch_fwd_bwd.csv", keep: Array(1...8) + [12, 13, 16, 17, 18]),
                args: [
                    "--N", "1024", "--d", "64", "--heads", "2", "--M", "484KiB", "--schedule", "fa2", "--pass", "backward", "--Br", "128",
                    "--Bc", "128", "--match", "bwd",
                ]),
        ]
    }

    static let numericTokens = [
        "nan", "NaN", "inf", "-inf", "Infinity", "-1", "-0", "-5", "1e400", "-1e400", "1e308", "1.5", "0.5", "", " ", "text", "1e-400",
        "18446744073709551616", "99999999999999999999999999999999", "9223372036854775807", "1,2,3", ",,,", "0x10", "+5", " 7 ", "1_000",
        "\u{663}", "\u{FF11}", "1e", "e5", ".", "-", "+", "1.2.3", "5e-324", "1,5", "12,653,056.5", "\t42\t", "0", "4,096", "1e3",
    ]
    static let unitTokens = [
        "%", "nsecond", "usecond", "second", "ns", "Kbyte", "KiB", "TiB", "byte", "bytes", "B", "garbage", "", " byte ", "\u{1B}[31m",
        "byte/second", "cycle", "inst", "Gbyte", "msecond",
    ]
    static let idTokens = ["", "x", "-1", "1.0", "99999999999999999999", " 3", "\u{663}", "0", "1", "2"]
    static let injected = ["\u{0}", "\u{1B}", "\u{1B}[2J", "\r", "\t", "\"", "\"\"", ",", "\u{7F}", "\u{85}", "\u{2028}", "\u{FEFF}", "\n", "\r\n"]

    /// Where a CSV's header is, and which columns carry the checked metrics' values and units.
    struct CSVLayout {
        var header: Int?
        var details = false
        var valueColumns: [Int] = []
        var unitColumn: Int?
        var metricColumn: Int?

        init(_ lines: [CSVLine]) {
            guard let h = lines.firstIndex(where: { $0.cells.map { $0.count > 1 && $0[0] == "ID" } ?? false }), let cells = lines[h].cells
            else { return }
            header = h
            if let v = cells.firstIndex(of: "Metric Value") {
                details = true
                valueColumns = [v]
                unitColumn = cells.firstIndex(of: "Metric Unit")
                metricColumn = cells.firstIndex(of: "Metric Name")
            } else {
                valueColumns = cells.indices.filter { MeasuredInputFuzz.quantities[cells[$0]] != nil }
            }
        }
    }

    /// One random edit of a CSV's lines (cells, rows, or the header); returns what it did.
    static func mutate(_ lines: inout [CSVLine], _ rng: inout SeededGenerator) -> String {
        let layout = CSVLayout(lines)
        let header = layout.header ?? 0
        let rows = lines.indices.filter { $0 > header && lines[$0].cells != nil }
        // Rows with an integer ID (launch rows, not the units row).
        let dataRows = rows.filter { lines[$0].cells?.first.flatMap { Int($0) } != nil }
        func edit(_ i: Int, _ body: (inout [String]) -> Void) {
            guard lines.indices.contains(i), var cells = lines[i].cells else { return }
            body(&cells)
            lines[i] = .cells(cells)
        }
        switch rng.below(12) {
        case 0, 1, 2:
            // A checked metric's value.
            guard let i = dataRows.isEmpty ? nil : rng.pick(dataRows), !layout.valueColumns.isEmpty else { return "nothing" }
            let c = rng.pick(layout.valueColumns), token = rng.pick(numericTokens)
            edit(i) { if c < $0.count { $0[c] = token } }
            return "value line \(i + 1) col \(c) = \(token.debugDescription)"
        case 3, 4:
            // A checked metric's unit: the units row (raw page) or a row's Metric Unit (details).
            let token = rng.pick(unitTokens)
            if layout.details, let u = layout.unitColumn, let i = dataRows.isEmpty ? nil : rng.pick(dataRows) {
                edit(i) { if u < $0.count { $0[u] = token } }
                return "unit line \(i + 1) = \(token.debugDescription)"
            }
            guard let i = rows.first, !layout.valueColumns.isEmpty else { return "nothing" }
            let c = rng.pick(layout.valueColumns)
            edit(i) { if c < $0.count { $0[c] = token } }
            return "units row col \(c) = \(token.debugDescription)"
        case 5:
            guard !dataRows.isEmpty else { return "nothing" }
            let i = rng.pick(dataRows)
            let at = rng.below(2) == 0 ? i + 1 : header + 1 + rng.below(lines.count - header)
            lines.insert(lines[i], at: min(at, lines.count))
            return "duplicate line \(i + 1) at \(at + 1)"
        case 6:
            guard !rows.isEmpty else { return "nothing" }
            let i = rng.pick(rows + [header])
            let drop = rng.below(2) == 0
            edit(i) { cells in
                let at = rng.below(cells.count + 1)
                if drop, !cells.isEmpty { cells.remove(at: min(at, cells.count - 1)) } else { cells.insert(rng.pick(numericTokens), at: at) }
            }
            return "\(drop ? "drop" : "add") a cell on line \(i + 1)"
        case 7:
            guard !rows.isEmpty else { return "nothing" }
            let i = rng.pick(rows + [header]), token = rng.pick(injected)
            edit(i) { cells in
                guard !cells.isEmpty else { return }
                let c = rng.below(cells.count)
                var scalars = Array(cells[c].unicodeScalars)
                scalars.insert(contentsOf: token.unicodeScalars, at: rng.below(scalars.count + 1))
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars)
                cells[c] = String(view)
            }
            return "inject \(token.debugDescription) on line \(i + 1)"
        case 8:
            // An ID: another row's (a duplicate launch) or something else.
            guard !dataRows.isEmpty else { return "nothing" }
            let i = rng.pick(dataRows)
            let other = lines[rng.pick(dataRows)].cells?.first ?? "0"
            let token = rng.below(2) == 0 ? other : rng.pick(idTokens)
            edit(i) { if !$0.isEmpty { $0[0] = token } }
            return "ID line \(i + 1) = \(token.debugDescription)"
        case 9:
            // A metric name: a details row's, or a header column renamed (possibly to another's name).
            let name = rng.pick(Array(quantities.keys).sorted() + ["Metric Name", "ID", "Kernel Name", "x.sum", ""])
            if layout.details, let m = layout.metricColumn, let i = dataRows.isEmpty ? nil : rng.pick(dataRows) {
                edit(i) { if m < $0.count { $0[m] = name } }
                return "metric name line \(i + 1) = \(name)"
            }
            edit(header) { if !$0.isEmpty { $0[rng.below($0.count)] = name } }
            return "header column renamed \(name)"
        case 10:
            guard lines.count > 1 else { return "nothing" }
            let i = rng.below(lines.count)
            switch rng.below(4) {
            case 0:
                lines.remove(at: i)
                return "delete line \(i + 1)"
            case 1:
                lines.swapAt(i, rng.below(lines.count))
                return "swap line \(i + 1)"
            case 2:
                lines.insert(lines[header], at: i)
                return "header repeated at \(i + 1)"
            default:
                lines.insert(.text(rng.pick(["==PROF== x", "", "junk,line", "\"", "\"ID\"", "ID,Kernel Name"])), at: i)
                return "junk line at \(i + 1)"
            }
        default:
            let keep = rng.below(lines.count + 1)
            lines = Array(lines.prefix(keep))
            return "truncate to \(keep) lines"
        }
    }

    /// Byte-level damage to a whole file (may leave it invalid UTF-8).
    static func damage(_ bytes: inout [UInt8], _ rng: inout SeededGenerator) -> String {
        let at = rng.below(bytes.count + 1)
        switch rng.below(5) {
        case 0:
            if at < bytes.count { bytes[at] ^= UInt8(1 << rng.below(8)) }
            return "flip a bit at \(at)"
        case 1:
            bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
            return "insert a byte at \(at)"
        case 2:
            bytes.insert(contentsOf: Array(rng.pick(injected + ["\u{80}", "\",\"", "\"ID\","]).utf8), at: at)
            return "insert text at \(at)"
        case 3:
            if at < bytes.count { bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.below(64))) }
            return "delete bytes at \(at)"
        default:
            bytes = Array(bytes.prefix(at))
            return "truncate at byte \(at)"
        }
    }

    /// A mutant: its bytes and what was done to it.
    /// `light`: one edit and no byte damage (more mutants that compare still reads).
    static func csvMutant(_ seeds: [CSVSeed], _ rng: inout SeededGenerator, light: Bool = false) -> (
        seed: CSVSeed, bytes: [UInt8], edits: [String]
    ) {
        let seed = rng.pick(seeds)
        var lines = seed.lines
        var edits: [String] = []
        for _ in 0..<(light ? 1 : 1 + rng.below(3)) { edits.append(mutate(&lines, &rng)) }
        var bytes = Array((lines.map(\.written).joined(separator: "\n") + "\n").utf8)
        if !light && rng.below(4) == 0 { edits.append(damage(&bytes, &rng)) }
        return (seed, bytes, edits)
    }

    /// What a successful parse must hold, checked against the text itself: every checked metric
    /// finite and ≥ 0; the raw page one launch per row (units row aside) with (section, ID)
    /// unique; the details page one launch per (section, ID) in first-appearance order, with at
    /// most one value per checked metric. Returns the first violation, or nil.
    static func violation(_ csv: NcuCSV, _ text: String) -> String? {
        for (n, launch) in csv.launches.enumerated() {
            for (metric, value) in launch.metrics where quantities[metric] != nil {
                if !value.isFinite || value < 0 { return "launch \(n) has \(metric) = \(value)" }
            }
        }
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init)
        guard let h = lines.firstIndex(where: { $0.hasPrefix("\"ID\",") || $0.hasPrefix("ID,") }),
            let header = try? NcuCSV.fields(lines[h], line: h + 1)
        else { return "parsed without a header line" }
        var section = 0
        var rows: [(section: Int, cells: [String])] = []
        for line in lines[(h + 1)...] where line.hasPrefix("\"") {
            guard let cells = try? NcuCSV.fields(line, line: 0) else { return "parsed a line whose quotes do not close" }
            if cells == header {
                section += 1
                continue
            }
            if cells.count != header.count { return "parsed a row of \(cells.count) cells under a header of \(header.count)" }
            rows.append((section, cells))
        }
        if let metric = header.firstIndex(of: "Metric Name"), let value = header.firstIndex(of: "Metric Value") {
            var order: [[Int]] = []
            var seen = Set<[Int]>()
            var values = Set<String>()
            for row in rows {
                guard let id = Int(row.cells[0]) else { return "parsed a non-integer ID \(row.cells[0].debugDescription)" }
                if seen.insert([row.section, id]).inserted { order.append([row.section, id]) }
                let v = row.cells[value].trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
                if quantities[row.cells[metric]] != nil, !v.isEmpty,
                    !values.insert("\(row.section) \(id) \(row.cells[metric])").inserted
                {
                    return "launch ID \(id) has two values of \(row.cells[metric])"
                }
            }
            if csv.launches.map(\.id) != order.map({ $0[1] }) { return "launches \(csv.launches.map(\.id)), rows \(order.map { $0[1] })" }
        } else {
            if let first = rows.first, first.cells[0].isEmpty { rows.removeFirst() }
            var seen = Set<[Int]>()
            for row in rows {
                guard let id = Int(row.cells[0]) else { return "parsed a non-integer ID \(row.cells[0].debugDescription)" }
                if !seen.insert([row.section, id]).inserted { return "launch ID \(id) twice in section \(row.section)" }
            }
            if csv.launches.map(\.id) != rows.map({ Int($0.cells[0])! }) { return "launches do not follow the rows" }
        }
        return nil
    }

    @Test func mutatedNsightCSVsAreRefusedWithATypedErrorOrReadAsFiniteUniqueLaunches() throws {
        let seeds = try Self.csvSeeds()
        // The seeds themselves read cleanly, and with the checks (they are real recordings).
        for s in seeds {
            let text = s.lines.map(\.written).joined(separator: "\n") + "\n"
            let csv = try NcuCSV.parse(text, quantities: Self.quantities)
            #expect(!csv.launches.isEmpty && Self.violation(csv, text) == nil, "\(s.name)")
        }
        let budget = Budget(salt: 1)
        var rng = SeededGenerator(seed: budget.seed)
        var (accepted, refused, iterations) = (0, 0, 0)
        while iterations < Self.iterationCap && !budget.expired {
            iterations += 1
            let (seed, bytes, edits) = Self.csvMutant(seeds, &rng)
            let text = String(decoding: bytes, as: UTF8.self)
            do {
                let csv = try NcuCSV.parse(text, quantities: Self.quantities)
                accepted += 1
                let v = Self.violation(csv, text)
                #expect(v == nil, "seed \(budget.seed) iteration \(iterations): \(seed.name) \(edits): \(v ?? "")")
            } catch {
                refused += 1
                // A typed error that reads as one message (the CLI escapes it and adds its prefix).
                #expect(!error.description.isEmpty)
                if case let .badValue(line, metric, _, _) = error {
                    #expect(line >= 1 && Self.quantities[metric] != nil, "seed \(budget.seed) iteration \(iterations): \(error)")
                }
            }
        }
        // The fuzzer reached both outcomes (a mutator that breaks every file checks nothing).
        #expect(iterations >= 50 && accepted > 0 && refused > 0, "\(iterations) inputs: \(accepted) read, \(refused) refused")
    }

    /// compare on mutants: exit 0 or 2, stderr at most one error line starting "iosim: " (plus
    /// compare's warnings), no trap, no raw control character; and every CSV the reader refuses is
    /// exit 2 with the reader's message.
    @Test func mutatedNsightCSVsThroughCompareExitZeroOrTwoWithOneSafeLine() throws {
        let seeds = try Self.csvSeeds()
        let budget = Budget(salt: 2)
        var rng = SeededGenerator(seed: budget.seed)
        let folder = try TemporaryFolder(prefix: "iosim-ncu-fuzz")
        defer { folder.remove() }
        var (runs, exits) = (0, [Int32: Int]())
        while runs < Self.cliRunsMax && (runs < Self.cliRunsMin || !budget.expired) {
            runs += 1
            let (seed, bytes, edits) = Self.csvMutant(seeds, &rng, light: runs % 2 == 0)
            let file = folder.file("m\(runs).csv")
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let hardware = rng.below(2) == 0 ? ["--hardware", "h100-sxm"] : []
            let r = try Repo.run(["compare", "--ncu", file] + seed.args + hardware)
            exits[r.status, default: 0] += 1
            let context = "seed \(budget.seed) run \(runs): \(seed.name) \(edits) \(hardware): exit \(r.status), \(r.err.debugDescription)"
            #expect(r.status == 0 || r.status == 2, "\(context)")
            #expect(!r.err.contains("Fatal error") && !r.err.contains("Stack dump"), "\(context)")
            #expect(!r.err.unicodeScalars.contains { $0 != "\n" && TerminalText.isUnsafe($0) }, "\(context)")
            let lines = r.err.split(separator: "\n").map(String.init)
            #expect(r.err.isEmpty || r.err.hasSuffix("\n"), "\(context)")
            #expect(lines.allSatisfy { $0.hasPrefix("iosim: ") }, "\(context)")
            let errors = lines.filter { !$0.hasPrefix("iosim: compare: warning: ") }
            #expect(errors.count == (r.status == 0 ? 0 : 1), "\(context)")
            if r.status == 2 { #expect(errors.first?.hasPrefix("iosim: compare: ") == true, "\(context)") }
            // The reader's refusal is compare's (valid UTF-8 only: otherwise compare refuses the file as text).
            if let text = String(validating: bytes, as: UTF8.self), !text.hasPrefix("\u{FEFF}") {
                do {
                    _ = try NcuCSV.parse(text, quantities: Self.quantities)
                } catch {
                    #expect(r.status == 2 && r.err.contains(TerminalText.escape(error.description)), "\(context); reader: \(error)")
                }
            } else {
                #expect(r.status == 2 && r.err.contains("cannot be read"), "\(context)")
            }
        }
        #expect(runs >= Self.cliRunsMin && exits[2, default: 0] > 0, "\(runs) runs, exits \(exits)")
    }

    // MARK: - Hardware model files

    /// A model file as (key, JSON text) pairs in the file's order, so that a value can be replaced
    /// by any text, valid JSON or not.
    static func fields(_ name: String) throws -> [(key: String, text: String)] {
        let data = try Data(contentsOf: Repo.hardwareModel(name))
        guard case let .object(o) = try StrictJSON.parse([UInt8](data)) else { throw TestDataError("\(name): not an object") }
        // The file's key order (StrictJSON's object is a dictionary).
        let text = String(decoding: data, as: UTF8.self)
        let keys = o.keys.sorted { text.range(of: "\"\($0)\"")!.lowerBound < text.range(of: "\"\($1)\"")!.lowerBound }
        return keys.map { ($0, json(o[$0]!)) }
    }

    static func json(_ v: StrictJSON) -> String {
        switch v {
        case .null: "null"
        case let .bool(b): b ? "true" : "false"
        case let .number(x): x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : "\(x)"
        case let .string(s): quote(s)
        case let .array(a): "[" + a.map(json).joined(separator: ", ") + "]"
        case let .object(o): "{" + o.keys.sorted().map { quote($0) + ": " + json(o[$0]!) }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    static func document(_ fields: [(key: String, text: String)]) -> Data {
        Data(("{\n" + fields.map { "  " + quote($0.key) + ": " + $0.text }.joined(separator: ",\n") + "\n}\n").utf8)
    }

    static let hardwareTokens = [
        "0", "-1", "-0", "1e-300", "1e300", "4.9e-324", "1e400", "NaN", "\"fast\"", "\"\"", "\"132\"", "true", "false", "null", "{\"a\": 1}",
        "{}", "[]", "[1, 2]", "99999999999999999999999999", "1.5", "0.5", "2.5e3", "1e-6", "1e-7", "999.9", "1000", "1e3", "1e11", "1.0000001e11",
        "1e19", "2e19", "65536", "65537", "1099511627776", "1099511627777", "1e-12", "9e-13", "1E3", "0x10", "1e", "1.", "01",
    ]

    /// Fields a file may have besides its own (the optional groups), to add.
    static let optionalFields = [
        "latency_l1_hit_s", "latency_l2_hit_s", "latency_dram_s", "tile_burst_4kib_s", "tile_burst_16kib_s", "tile_burst_32kib_s",
        "hmma_latency_cycles", "cross_warp_round_trip_cycles", "fmnmx_latency_cycles", "shfl_bfly_latency_cycles",
        "mufu_ex2_latency_cycles", "fadd_latency_cycles", "wgmma_cycles_lost_per_softmax_cycle", "softmax_cycles_lost_per_wgmma_cycle",
        "unknown_field",
    ]

    /// The schedules whose estimates the fuzzer takes, simulated once (the counts do not depend
    /// on the GPU at a fixed M): fa2 pipelined and unpipelined, fa1, fa3, standard, split-kv, and
    /// paged decode (which reads the latencies).
    static func estimateCases() -> [(name: String, result: ScheduleResult, problem: AttentionProblem)] {
        let p = AttentionProblem(n: 256, d: 64, batch: 1, heads: 2)
        var paged = AttentionProblem(n: 1, nk: 512, d: 64, batch: 2, heads: 4)
        paged.kvLayout = .paged
        let m = 256 * 1024
        let kinds: [(String, ScheduleKind?, AttentionProblem, TileRequest)] = [
            ("fa2", .fa2, p, TileRequest(br: 64, bc: 64)), ("fa2 stages 1", .fa2, p, TileRequest(br: 64, bc: 64, stages: 1)),
            ("fa1", ScheduleKind(rawValue: "fa1"), p, TileRequest(br: 64, bc: 64)), ("fa3", .fa3, p, TileRequest(br: 64, bc: 64)),
            ("standard", ScheduleKind(rawValue: "standard"), p, TileRequest(br: 64, bc: 64)),
            ("split-kv", ScheduleKind(rawValue: "split-kv"), p, TileRequest(br: 64, bc: 64, splits: 2)),
            ("paged-v1", ScheduleKind(rawValue: "paged-v1"), paged, TileRequest()),
        ]
        return kinds.compactMap { name, kind, problem, tiles in
            kind.map { (name, Simulator.simulate($0, problem, capacity: m, tiles: tiles), problem) }
        }
    }

    /// What a model that was read must give: every figure positive and finite, and a finite,
    /// positive estimate wherever it gives one (fa2's always: every file has an fp16 rate).
    static func modelViolation(_ hw: HardwareModel, _ cases: [(name: String, result: ScheduleResult, problem: AttentionProblem)]) -> String? {
        let figures: [(String, Double)] =
            [
                ("sms", Double(hw.sms)), ("smem_per_sm", Double(hw.smemPerSM)), ("smem_per_block", Double(hw.smemPerBlock)),
                ("registers", Double(hw.registersPerSM)), ("bandwidth", hw.hbmBandwidth), ("l2", Double(hw.l2Bytes)),
                ("exp", hw.expPerClockPerSM), ("fp32", hw.fp32PerClockPerSM), ("clock", hw.clockHz),
            ] + hw.tensorFlops.map { ("tensor \($0.key)", $0.value) }
        if let (name, x) = figures.first(where: { !($0.1.isFinite && $0.1 > 0) }) { return "\(name) = \(x)" }
        if hw.smemPerBlock > hw.smemPerSM { return "a block's shared memory above the SM's" }
        for c in cases {
            do {
                let b = try TimeEstimate.estimate(c.result, c.problem, hw)
                if c.name == "fa2" && b == nil { return "no fa2 estimate" }
                if let b, !(b.seconds.isFinite && b.seconds > 0 && b.hbmBytes.isFinite) { return "\(c.name) estimate \(b.seconds) s" }
            } catch {
                if c.name == "fa2" { return "fa2 estimate refused: \(error)" }
            }
        }
        return nil
    }

    @Test func mutatedHardwareFilesAreRefusedOrGiveFiniteEstimates() throws {
        let seeds = [("h100-sxm", try Self.fields("h100-sxm")), ("a100-80gb", try Self.fields("a100-80gb"))]
        let cases = Self.estimateCases()
        #expect(cases.count == 7 && cases.allSatisfy(\.result.feasible))
        for (name, fields) in seeds {
            let hw = try HardwareModel(json: Self.document(fields), path: name)
            #expect(Self.modelViolation(hw, cases) == nil, "\(name) as written")
        }
        let budget = Budget(salt: 3)
        var rng = SeededGenerator(seed: budget.seed)
        var (accepted, refused, iterations) = (0, 0, 0)
        while iterations < Self.iterationCap && !budget.expired {
            iterations += 1
            let (name, original) = rng.pick(seeds)
            var fields = original
            var edits: [String] = []
            // A third of the inputs get only edits that may keep the file valid.
            let plausible = rng.below(3) == 0
            for _ in 0..<(1 + rng.below(plausible ? 3 : 4)) {
                let i = rng.below(fields.count)
                switch plausible ? rng.pick([1, 1, 2]) : rng.below(8) {
                case 0:
                    edits.append("delete \(fields[i].key)")
                    fields.remove(at: i)
                case 1:
                    // Scale a number (just inside or outside a range).
                    guard let x = Double(fields[i].text) else { continue }
                    let f =
                        plausible ? rng.pick([1e-6, 1e-3, 0.5, 0.999, 1.001, 2, 1e3]) : rng.pick([1e-9, 1e-3, 0.5, 0.999, 1.001, 2, 1e3, 1e9, -1])
                    fields[i].text = "\(x * f)"
                    edits.append("\(fields[i].key) ×\(f)")
                case 2:
                    let key = rng.pick(Self.optionalFields)
                    fields.append(
                        (key, plausible ? rng.pick(["1e-7", "5e-7", "20.5", "1e-6"]) : rng.pick(Self.hardwareTokens + ["1e-7", "5e-7", "20.5"])))
                    edits.append("add \(key) = \(fields.last!.text)")
                case 3:
                    // A key twice (StrictJSON refuses it).
                    fields.append((fields[i].key, rng.pick(Self.hardwareTokens)))
                    edits.append("\(fields[i].key) twice")
                default:
                    fields[i].text = rng.pick(Self.hardwareTokens)
                    edits.append("\(fields[i].key) = \(fields[i].text)")
                }
            }
            guard !fields.isEmpty else { continue }
            do {
                let hw = try HardwareModel(json: Self.document(fields), path: "fuzz.json")
                accepted += 1
                let v = Self.modelViolation(hw, cases)
                #expect(v == nil, "seed \(budget.seed) iteration \(iterations): \(name) \(edits): \(v ?? "")")
            } catch {
                refused += 1
                #expect(error.description.hasPrefix("fuzz.json") || error.description.contains("fuzz.json"), "\(error)")
            }
        }
        #expect(iterations >= 50 && accepted > 0 && refused > 0, "\(iterations) inputs: \(accepted) read, \(refused) refused")
    }

    /// The field a model error names (nil for errors about no one field).
    static func field(_ e: ModelError) -> String? {
        switch e {
        case let .missingField(_, f), let .wrongType(_, f, _): f
        default: nil
        }
    }

    /// Values of the wrong JSON type for a required top-level field (null is right for the two
    /// nullable rates).
    static func wrongType(_ key: String, _ rng: inout SeededGenerator) -> String {
        switch key {
        case "name": rng.pick(["1", "true", "null", "{}", "[]", "\"\""])
        case "has_wgmma_tma": rng.pick(["1", "0", "\"yes\"", "null", "{}", "[true]"])
        case "sources": rng.pick(["1", "\"cited\"", "[]", "true", "null"])
        case "tensor_flops_fp8", "tensor_flops_mma_sync": rng.pick(["\"fast\"", "true", "{}", "[]"])
        default: rng.pick(["\"fast\"", "true", "false", "null", "{}", "[1]"])
        }
    }

    @Test func kBrokenRequiredFieldsAreAllNamedInOneError() throws {
        let seeds = [try Self.fields("h100-sxm"), try Self.fields("a100-80gb")]
        let required = HardwareModel.fields
        let budget = Budget(salt: 4)
        var rng = SeededGenerator(seed: budget.seed)
        var iterations = 0
        while iterations < 400 && !budget.expired {
            iterations += 1
            var fields = rng.pick(seeds)
            let k = 2 + rng.below(5)
            var broken: [String] = []
            while broken.count < k {
                let f = rng.pick(required)
                if !broken.contains(f) { broken.append(f) }
            }
            for f in broken {
                let i = try #require(fields.firstIndex { $0.key == f })
                fields[i].text = Self.wrongType(f, &rng)
            }
            let values = broken.map { key in "\(key) = \(fields.first { $0.key == key }!.text)" }
            let context = "seed \(budget.seed) iteration \(iterations): \(values)"
            do {
                _ = try HardwareModel(json: Self.document(fields), path: "k.json")
                Issue.record("accepted: \(context)")
            } catch {
                guard case let .several(path, errors) = error else {
                    Issue.record("one error for \(k) broken fields: \(error); \(context)")
                    continue
                }
                let named = Set(errors.compactMap(Self.field))
                #expect(path == "k.json" && errors.count >= k, "\(errors.count) errors: \(context)")
                #expect(named.isSuperset(of: broken), "named \(named.sorted()): \(context)")
                #expect(error.description.hasPrefix("k.json: \(errors.count) errors: "), "\(error.description)")
                for f in broken { #expect(error.description.contains("'\(f)'"), "\(f) not in \(error.description)") }
            }
        }
        #expect(iterations >= 20)
    }

    // MARK: - Sequence lengths

    static let lengthFragments = [
        "1", "7", "42", "4096", "16777216", "16777217", "0", "00", "007", "99999999999999999999999999", "-", "-5", "-0", "+", "+5", " ",
        "\t", "\r", "\r\n", "\n", "\n\n", ",", ", ", "\u{663}", "\u{FF11}", "\u{0}", "\u{1B}", "\u{7F}", "1e3", "0x10", "\u{BD}", "\u{FEFF}",
        "\u{A0}", "a", "/", "1.5", "\u{661}\u{662}", "\u{B2}", "\u{85}", "\u{2028}",
    ]

    /// A random lengths text: mostly numbers with separators and blank space, with a few odd
    /// fragments dropped in; otherwise fragments alone.
    static func lengthsText(_ rng: inout SeededGenerator) -> String {
        guard rng.below(3) != 0 else { return (0..<rng.below(14)).map { _ in rng.pick(lengthFragments) }.joined() }
        let separator = rng.pick(["\n", "\r\n", ",", ", "])
        var parts = (0..<(1 + rng.below(8))).map { _ in
            let n = rng.below(8) == 0 ? rng.pick(["1", "16777216", "16777217", "0", "0042"]) : String(1 + rng.below(100_000))
            return rng.pick(["", "", " ", "\t"]) + n + rng.pick(["", "", " ", "\r", "\t"])
        }
        if rng.below(3) == 0 { parts.append(rng.pick(["", "", " "])) }
        var text = parts.joined(separator: separator) + rng.pick(["", "\n", "\n\n", ","])
        for _ in 0..<rng.pick([0, 0, 1, 2]) {
            var scalars = Array(text.unicodeScalars)
            scalars.insert(contentsOf: rng.pick(lengthFragments).unicodeScalars, at: rng.below(scalars.count + 1))
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            text = String(view)
        }
        return text
    }

    /// What the lengths reader should make of `text` split at `separator`, by the documented
    /// rules, without its code: the values, or nil where it must refuse.
    static func expectedLengths(_ text: String, separator: UInt8, trailingBlanksAllowed: Bool) -> [Int]? {
        let entries = Array(text.utf8).split(separator: separator, omittingEmptySubsequences: false)
        let blank: Set<UInt8> = [0x20, 0x09, 0x0D]
        var values: [Int] = []
        var sawBlank = false
        for e in entries {
            let trimmed = Array(e.drop { blank.contains($0) }.reversed().drop { blank.contains($0) }.reversed())
            if trimmed.isEmpty {
                sawBlank = true
                continue
            }
            if sawBlank { return nil }
            guard trimmed.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            // Leading zeros allowed; the value counted without overflow.
            let digits = trimmed.drop { $0 == 0x30 }
            guard digits.count <= 9, let v = Int(String(decoding: digits.isEmpty ? [0x30] : Array(digits), as: UTF8.self)),
                v >= 1, v <= Limits.maxSequence
            else { return nil }
            values.append(v)
        }
        if values.isEmpty || (sawBlank && !trailingBlanksAllowed) { return nil }
        return values
    }

    static func lengthsViolation(_ l: SequenceLengths, expected: [Int]?) -> String? {
        guard let expected else { return "accepted \(l.values) where the rules refuse" }
        if l.values != expected { return "read \(l.values), expected \(expected)" }
        if !l.values.allSatisfy({ (1...Limits.maxSequence).contains($0) }) || l.count > Limits.maxBatchOrHeads { return "out of the limits" }
        if l.sum != l.values.reduce(0, +) || l.max != l.values.max() { return "sum \(l.sum) or max \(l.max) wrong" }
        return nil
    }

    @Test func fuzzedLengthsAreRefusedWithATypedErrorOrReadWithinTheLimits() throws {
        let budget = Budget(salt: 5)
        var rng = SeededGenerator(seed: budget.seed)
        let folder = try TemporaryFolder(prefix: "iosim-lengths-fuzz")
        defer { folder.remove() }
        var (accepted, refused, iterations) = (0, 0, 0)
        while iterations < Self.iterationCap && !budget.expired {
            iterations += 1
            let text = Self.lengthsText(&rng)
            let context = "seed \(budget.seed) iteration \(iterations): \(text.debugDescription)"
            // As a file's contents.
            let fileExpected = Self.expectedLengths(text, separator: UInt8(ascii: "\n"), trailingBlanksAllowed: true)
            let fileResult = Result { () throws(SequenceLengthsError) in try SequenceLengths.parse(contents: text, name: "f.txt") }
            switch fileResult {
            case let .success(l):
                accepted += 1
                let v = Self.lengthsViolation(l, expected: fileExpected)
                #expect(v == nil, "file \(context): \(v ?? "")")
            case let .failure(e):
                refused += 1
                #expect(fileExpected == nil, "file \(context): refused (\(e)) where the rules read \(fileExpected ?? [])")
            }
            // As a comma list.
            let listExpected = Self.expectedLengths(text, separator: UInt8(ascii: ","), trailingBlanksAllowed: false)
            switch Result(catching: { () throws(SequenceLengthsError) in try SequenceLengths.parse(list: text) }) {
            case let .success(l):
                let v = Self.lengthsViolation(l, expected: listExpected)
                #expect(v == nil, "list \(context): \(v ?? "")")
            case let .failure(e):
                #expect(listExpected == nil, "list \(context): refused (\(e)) where the rules read \(listExpected ?? [])")
            }
            // As --lengths' argument: a file on disk reads as its contents; text that is no file is a
            // list, or a missing file when it looks like a path.
            if iterations % 16 == 0 {
                let path = folder.file("l\(iterations).txt")
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
                let onDisk = Result { () throws(SequenceLengthsError) in try SequenceLengths.parse(argument: path) }
                let inMemory = Result { () throws(SequenceLengthsError) in
                    try SequenceLengths.parse(contents: text, name: "l\(iterations).txt")
                }
                #expect(onDisk == inMemory, "file on disk \(context)")
            }
            if iterations % 4 == 0 {
                let argument = Result { () throws(SequenceLengthsError) in try SequenceLengths.parse(argument: text) }
                let looksLikeAPath = text.unicodeScalars.contains { $0.properties.isAlphabetic || $0 == "/" } && !text.contains(",")
                let list = Result { () throws(SequenceLengthsError) in try SequenceLengths.parse(list: text) }
                #expect(argument == (looksLikeAPath ? .failure(.noSuchFile(text)) : list), "argument \(context)")
            }
        }
        #expect(iterations >= 50 && accepted > 0 && refused > 0, "\(iterations) inputs: \(accepted) read, \(refused) refused")
    }
}
