/// iosim's one table renderer (simulate, check, compare, kv-memory): rows of cells as aligned
/// text. Each column is as wide as its widest cell among the rows that have every column; columns
/// are two spaces apart; the columns in `right` are right-aligned (numbers), the others left;
/// trailing spaces are removed. A row with fewer cells than the first (a note such as
/// "infeasible: …") is its first cell padded to the column, then its other cells as they are.
enum TextTable {
    static func lines(_ rows: [[String]], right: Set<Int> = []) -> [String] {
        guard let columns = rows.first?.count else { return [] }
        let full = rows.filter { $0.count == columns }
        let widths = (0..<columns).map { i in full.map { $0[i].count }.max() ?? 0 }
        func pad(_ cell: String, _ i: Int) -> String {
            let spaces = String(repeating: " ", count: max(0, widths[i] - cell.count))
            return right.contains(i) ? spaces + cell : cell + spaces
        }
        return rows.map { row in
            let text =
                row.count < columns
                ? ([pad(row[0], 0)] + row.dropFirst()).joined(separator: "  ")
                : row.enumerated().map { pad($1, $0) }.joined(separator: "  ")
            return String(text.reversed().drop { $0 == " " }.reversed())
        }
    }
}
