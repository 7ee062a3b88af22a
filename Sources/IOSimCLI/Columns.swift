import Foundation
import IOSim

/// One value of a report's cell, before it is written as CSV, JSON or a table cell.
enum Cell {
    case int(Int)
    case double(Double)
    case bool(Bool)
    case string(String)
    /// A free-text cell that CSV quotes whatever it holds (a reason, an error).
    case text(String)
    /// A structured value: its JSON, and its text for CSV and the table.
    case structured(JSON, text: String)
    case empty

    /// A measured or derived number that may be non-finite (``JSON/number(_:)`` in JSON).
    static func number(_ x: Double) -> Cell { x.isFinite ? .double(x) : .structured(JSON.number(x), text: Comparison.text(x)) }

    /// As CSV writes it: numbers and words as they are, text quoted where needed (``Render/csvText(_:)``).
    var csv: String {
        switch self {
        case let .int(i): "\(i)"
        case let .double(x): "\(x)"
        case let .bool(b): "\(b)"
        case let .string(s): Render.csvText(s)
        case let .text(s): "\"" + s.replacingAll("\"", "'") + "\""
        case let .structured(_, text): Render.csvText(text)
        case .empty: ""
        }
    }

    /// As a table writes it: the text as it is, never quoted (a table cell may hold commas).
    var plain: String {
        switch self {
        case let .string(s), let .text(s), let .structured(_, s): s
        default: csv
        }
    }

    /// As JSON writes it (an empty cell is `null`).
    var json: JSON {
        switch self {
        case let .int(i): .int(i)
        case let .double(x): .double(x)
        case let .bool(b): .bool(b)
        case let .string(s), let .text(s): .string(s)
        case let .structured(json, _): json
        case .empty: .null
        }
    }
}

/// A report's column, declared once: its name (the CSV header and the JSON key), the value it
/// takes for a row, and whether JSON and the table show it (and how the table writes it). The
/// CSV header, the CSV rows, the JSON objects and the table all come from one list of these, so
/// that no two of them are kept in step by position (docs/output.md).
struct Column<Row>: Sendable {
    let name: String
    let value: @Sendable (Row) -> Cell
    /// Whether the CSV has this column (a table-only column, a unit conversion say, has not).
    var csv = true
    /// Whether the JSON object of a row has this field.
    var json = true
    /// The table's header for it (nil: not in the table) and how the table writes the cell.
    var table: String? = nil
    var tableText: (@Sendable (Row) -> String)? = nil

    init(
        _ name: String, csv: Bool = true, json: Bool = true, table: String? = nil, tableText: (@Sendable (Row) -> String)? = nil,
        _ value: @escaping @Sendable (Row) -> Cell
    ) {
        (self.name, self.value, self.csv, self.json, self.table, self.tableText) = (name, value, csv, json, table, tableText)
    }
}

extension Array {
    /// The CSV header of these columns.
    func csvHeader<Row>() -> String where Element == Column<Row> { filter(\.csv).map(\.name).joined(separator: ",") }

    /// One CSV row.
    func csvRow<Row>(_ row: Row) -> String where Element == Column<Row> { filter(\.csv).map { $0.value(row).csv }.joined(separator: ",") }

    /// One JSON object: the JSON columns in order.
    func jsonObject<Row>(_ row: Row) -> JSON where Element == Column<Row> {
        .object(filter(\.json).map { ($0.name, $0.value(row).json) })
    }

    /// The table's header: the table columns in order.
    func tableHeader<Row>() -> [String] where Element == Column<Row> { compactMap(\.table) }

    /// One row of the table.
    func tableRow<Row>(_ row: Row) -> [String] where Element == Column<Row> {
        filter { $0.table != nil }.map { c in c.tableText?(row) ?? c.value(row).plain }
    }

    /// The table's header row and one row per item.
    func tableRows<Row>(_ rows: [Row]) -> [[String]] where Element == Column<Row> { [tableHeader()] + rows.map(tableRow) }
}
