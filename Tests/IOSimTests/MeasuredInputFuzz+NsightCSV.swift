import Foundation
import TestSupport
import Testing

@testable import IOSim

/// The Nsight Compute CSV fuzzers (`NcuCSV.parse` and `iosim compare`); see ``MeasuredInputFuzz``.
extension MeasuredInputFuzz {
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
}
