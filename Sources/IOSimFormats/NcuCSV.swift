/// A Nsight Compute CSV (`ncu --csv ...`) read into one record per kernel launch, every metric in
/// base units (bytes, seconds).
///
/// Two layouts are read, both as `ncu` prints them to stdout (so lines before the header, such as
/// the profiled program's own output and `==PROF==` / `==WARNING==` lines, are skipped; after it,
/// every line that does not start with a quote (ncu quotes every cell) is skipped, and a repeated
/// header starts a new section, as in the output of several `ncu` runs appended to one file):
/// - `--page raw`: a header row (`"ID","Process ID",…,"Kernel Name",…,<metric names>`), an
///   optional units row (its `ID` cell empty), then one row per launch; metrics in any order.
/// - the details page (the default): one row per launch and metric, with the columns
///   `"Metric Name"`, `"Metric Unit"` and `"Metric Value"`.
///
/// Values may carry thousands separators (`"9,767,424"`); units are `byte` with SI or binary
/// prefixes (`Kbyte` = 10³, `KiB` = 2¹⁰ bytes, …) and `nsecond`/`ns`, `usecond`/`us`,
/// `msecond`/`ms`, `second`/`s`; a value without a unit, or with `%` or another unit, is kept as
/// written.
public struct NcuCSV: Sendable, Equatable {
    /// One kernel launch.
    public struct Launch: Sendable, Equatable {
        /// Nsight's launch ID (the `ID` column).
        public var id: Int
        public var kernelName: String
        /// Metric name → value in base units.
        public var metrics: [String: Double]
        /// CTAs in the launch's grid (the product of the `Grid Size` column's `(x, y, z)`), where
        /// the CSV has that column.
        public var gridSize: Int? = nil

        /// The CTAs of a `Grid Size` cell, `"(128, 1, 32)"`; nil for anything else.
        package static func grid(_ cell: String) -> Int? {
            let inner = cell.filter { $0 != "(" && $0 != ")" && $0 != " " }
            let dims = inner.split(separator: ",").map { Int($0) }
            guard (1...3).contains(dims.count), dims.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
            var product = 1
            for d in dims {
                let (r, o) = product.multipliedReportingOverflow(by: d!)
                if o { return nil }
                product = r
            }
            return product
        }
    }

    public var launches: [Launch]
    /// Every metric name in the file (the header's metric columns, or the details page's names).
    public var metricNames: Set<String>

    struct Row {
        var line: Int
        var section: Int
        var cells: [String]
    }

    /// Fixed columns of `--page raw` that are not metrics.
    static let fixedColumns: Set<String> = [
        "ID", "Process ID", "Process Name", "Host Name", "Kernel Name", "Context", "Stream", "Block Size", "Grid Size", "Device", "CC",
        "Section Name", "Metric Name", "Metric Unit", "Metric Value", "Kernel Time", "Invocations",
    ]

    /// What a metric measures, for ``parse(_:quantities:)``'s checks.
    public enum Quantity: Sendable, Equatable {
        /// A byte count (`.sum` of bytes): finite, ≥ 0, whole in plain bytes, a byte unit.
        case bytes
        /// A duration: finite, ≥ 0, a time unit.
        case seconds
    }

    /// Reads `text`. The metrics named in `quantities` are checked for what they can physically
    /// be: a number (after thousands separators), finite, not negative, in a unit of their
    /// quantity (a byte count in `nsecond` is refused), whole when counted in plain bytes; a value
    /// that breaks one of these is an error naming the line, the metric and the value. An ID that
    /// appears twice in one section (twice for one metric, on the details page) is an error too.
    public static func parse(_ text: String, quantities: [String: Quantity] = [:]) throws(NcuCSVError) -> NcuCSV {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).map(String.init)
        guard let headerIndex = lines.firstIndex(where: { $0.hasPrefix("\"ID\",") || $0.hasPrefix("ID,") }) else {
            throw .noHeader
        }
        let header = try fields(lines[headerIndex], line: headerIndex + 1)
        guard let nameColumn = header.firstIndex(of: "Kernel Name") else { throw .missingColumn("Kernel Name") }
        var rows: [Row] = []
        var section = 0
        for (i, line) in lines.enumerated().dropFirst(headerIndex + 1) where line.hasPrefix("\"") {
            let cells = try fields(line, line: i + 1)
            if cells == header {
                section += 1
                continue
            }
            guard cells.count == header.count else { throw .badRow(line: i + 1, "it has \(cells.count) cells, the header \(header.count)") }
            rows.append(Row(line: i + 1, section: section, cells: cells))
        }
        if let metricName = header.firstIndex(of: "Metric Name") {
            guard let unit = header.firstIndex(of: "Metric Unit") else { throw .missingColumn("Metric Unit") }
            guard let value = header.firstIndex(of: "Metric Value") else { throw .missingColumn("Metric Value") }
            return try details(
                rows, name: nameColumn, metric: metricName, unit: unit, value: value, grid: header.firstIndex(of: "Grid Size"), quantities: quantities
            )
        }
        // Raw page: the units row, if any, has an empty ID.
        var units = [String](repeating: "", count: header.count)
        if let first = rows.first, first.cells[0].isEmpty {
            units = first.cells
            rows.removeFirst()
        }
        let metricColumns = header.indices.filter { !fixedColumns.contains(header[$0]) }
        var launches: [Launch] = []
        var seen: [[Int]: Int] = [:]
        let gridColumn = header.firstIndex(of: "Grid Size")
        for row in rows {
            let cells = row.cells
            guard let id = Int(cells[0]) else { throw .badRow(line: row.line, "its ID '\(cells[0])' is not an integer") }
            if let first = seen.updateValue(row.line, forKey: [row.section, id]) {
                throw .badRow(line: row.line, "launch ID \(id) appears again (first on line \(first)); one row per launch")
            }
            var metrics: [String: Double] = [:]
            for c in metricColumns {
                if let v = try cell(cells[c], unit: units[c], metric: header[c], quantities: quantities, line: row.line) {
                    metrics[header[c]] = v
                }
            }
            launches.append(
                Launch(
                    id: id, kernelName: cells[nameColumn], metrics: metrics,
                    gridSize: gridColumn.flatMap { Launch.grid(cells[$0]) }))
        }
        return NcuCSV(launches: launches, metricNames: Set(metricColumns.map { header[$0] }))
    }

    /// The details page: rows of (launch, metric) grouped by ID in the order launches first appear.
    static func details(
        _ rows: [Row], name: Int, metric: Int, unit: Int, value valueColumn: Int, grid: Int?, quantities: [String: Quantity]
    ) throws(NcuCSVError) -> NcuCSV {
        var launches: [Launch] = []
        var index: [[Int]: Int] = [:]
        var names = Set<String>()
        for row in rows {
            let cells = row.cells
            guard let id = Int(cells[0]) else { throw .badRow(line: row.line, "its ID '\(cells[0])' is not an integer") }
            // IDs restart in each section (each ncu run appended to the file).
            let key = [row.section, id]
            if index[key] == nil {
                index[key] = launches.count
                launches.append(Launch(id: id, kernelName: cells[name], metrics: [:], gridSize: grid.flatMap { Launch.grid(cells[$0]) }))
            }
            names.insert(cells[metric])
            guard let v = try cell(cells[valueColumn], unit: cells[unit], metric: cells[metric], quantities: quantities, line: row.line)
            else { continue }
            if launches[index[key]!].metrics.updateValue(v, forKey: cells[metric]) != nil {
                throw .badRow(line: row.line, "launch ID \(id) has a second value for \(cells[metric]); one row per launch and metric")
            }
        }
        return NcuCSV(launches: launches, metricNames: names)
    }

    static let byteUnits: [String: Double] = [
        "byte": 1, "bytes": 1, "B": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "Tbyte": 1e12, "KB": 1e3, "MB": 1e6, "GB": 1e9,
        "TB": 1e12, "KiB": 1024, "MiB": 1_048_576, "GiB": 1_073_741_824, "TiB": 1_099_511_627_776,
    ]
    static let timeUnits: [String: Double] = [
        "nsecond": 1e-9, "ns": 1e-9, "usecond": 1e-6, "us": 1e-6, "msecond": 1e-3, "ms": 1e-3, "second": 1, "s": 1,
    ]

    /// A cell's number in base units; nil for an empty cell or text that is not a number (device
    /// attributes such as a display name).
    static func value(_ cell: String, unit: String, line: Int) throws(NcuCSVError) -> Double? {
        let digits = cell.replacingAll(",", "").trimmed
        guard !digits.isEmpty, let x = Double(digits) else { return nil }
        return x * (byteUnits[unit.trimmed] ?? timeUnits[unit.trimmed] ?? 1)
    }

    /// A cell's value: checked when `quantities` names its metric, read as it is otherwise.
    static func cell(_ text: String, unit: String, metric: String, quantities: [String: Quantity], line: Int) throws(NcuCSVError) -> Double? {
        guard let q = quantities[metric] else { return try value(text, unit: unit, line: line) }
        return try checked(text, unit: unit, metric: metric, quantity: q, line: line)
    }

    /// A measured metric's value in base units, checked (see ``parse(_:quantities:)``); nil for an
    /// empty cell (the metric was not collected for that launch).
    static func checked(_ cell: String, unit rawUnit: String, metric: String, quantity: Quantity, line: Int) throws(NcuCSVError) -> Double? {
        let text = cell.trimmed
        guard !text.isEmpty else { return nil }
        func bad(_ why: String) -> NcuCSVError { .badValue(line: line, metric: metric, value: text, why) }
        let unit = rawUnit.trimmed
        let scales = quantity == .bytes ? byteUnits : timeUnits
        let scale: Double
        if unit.isEmpty {
            scale = 1
        } else if let s = scales[unit] {
            scale = s
        } else {
            throw bad("in '\(unit)', not a unit of \(quantity == .bytes ? "bytes" : "time")")
        }
        guard text.allSatisfy({ $0.isASCII && ($0.isNumber || ",.eE+-".contains($0)) }), let x = Double(text.replacingAll(",", "")) else {
            throw bad("not a number")
        }
        guard x.isFinite, (x * scale).isFinite else { throw bad("not finite") }
        guard x >= 0 else { throw bad("negative") }
        if quantity == .bytes, scale == 1, x != x.rounded() { throw bad("not a whole number of bytes") }
        return x == 0 ? 0 : x * scale  // "-0" is zero, not a negative ratio
    }

    /// One CSV line's fields: RFC 4180 quoting (`"a, b"`, `""` for a quote inside quotes).
    package static func fields(_ line: String, line number: Int) throws(NcuCSVError) -> [String] {
        var out: [String] = [], field = "", quoted = false, i = line.startIndex
        while i < line.endIndex {
            let ch = line[i]
            if quoted {
                if ch == "\"" {
                    let next = line.index(after: i)
                    if next < line.endIndex && line[next] == "\"" {
                        field.append("\"")
                        i = next
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(ch)
                }
            } else if ch == "\"" {
                quoted = true
            } else if ch == "," {
                out.append(field)
                field = ""
            } else {
                field.append(ch)
            }
            i = line.index(after: i)
        }
        guard !quoted else { throw .badRow(line: number, "a quoted field is not closed") }
        out.append(field)
        return out
    }
}

/// Why a Nsight Compute CSV could not be read.
public enum NcuCSVError: Error, Equatable, CustomStringConvertible {
    case noHeader
    case missingColumn(String)
    case badRow(line: Int, String)
    /// A measured value that cannot be what its metric measures.
    case badValue(line: Int, metric: String, value: String, String)

    public var description: String {
        switch self {
        case .noHeader: "no Nsight Compute CSV header (a line starting \"ID\",) found; record with ncu --csv --page raw"
        case let .missingColumn(name): "the CSV header has no \"\(name)\" column"
        case let .badRow(line, why): "line \(line) of the CSV: \(why)"
        case let .badValue(line, metric, value, why): "line \(line) of the CSV: \(metric) = '\(value)' is \(why)"
        }
    }
}

extension String {
    fileprivate func replacingAll(_ a: Character, _ b: String) -> String {
        split(separator: a, omittingEmptySubsequences: false).joined(separator: b)
    }

    fileprivate var trimmed: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
