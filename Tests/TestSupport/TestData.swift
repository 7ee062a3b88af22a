import Foundation

/// A data file the tests read is not what they expect: the message names the file, the line or
/// key, and what was wrong, so that the test fails with it instead of trapping.
public struct TestDataError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A comma-separated file with a header line, read whole. Fields may be quoted ("a, b", with ""
/// for a quote); every row has as many fields as the header; blank lines are skipped.
public struct CSVTable: Sendable {
    /// The file's name, for messages.
    public let source: String
    public let header: [String]
    public let rows: [CSVRow]

    public init(contentsOf url: URL) throws {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw TestDataError("\(url.path): cannot be read as UTF-8 text: \(error.localizedDescription)")
        }
        try self.init(text: text, source: url.lastPathComponent)
    }

    public init(text: String, source: String) throws {
        self.source = source
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }.enumerated()
            .filter { !$0.element.allSatisfy(\.isWhitespace) }
        guard let first = lines.first else { throw TestDataError("\(source): no header line") }
        header = try Self.fields(first.element, source: source, line: first.offset + 1)
        var columns: [String: Int] = [:]
        for (i, name) in header.enumerated() {
            guard columns.updateValue(i, forKey: name) == nil else {
                throw TestDataError("\(source):\(first.offset + 1): column '\(name)' appears twice")
            }
        }
        rows = try lines.dropFirst().map { offset, text in
            let line = offset + 1
            let f = try Self.fields(text, source: source, line: line)
            guard f.count == columns.count else {
                throw TestDataError("\(source):\(line): \(f.count) fields where the header has \(columns.count): \(text)")
            }
            return CSVRow(source: source, line: line, text: String(text), fields: f, columns: columns)
        }
    }

    static func fields(_ line: Substring, source: String, line number: Int) throws -> [String] {
        var fields: [String] = [], field = "", quoted = false, wasQuoted = false
        var chars = line.makeIterator()
        while let c = chars.next() {
            if quoted {
                if c == "\"" {
                    // A doubled quote is one quote; a single one closes the field.
                    var lookahead = chars
                    if lookahead.next() == "\"" { field.append("\""); chars = lookahead } else { quoted = false }
                } else {
                    field.append(c)
                }
            } else if c == "," {
                fields.append(field)
                (field, wasQuoted) = ("", false)
            } else if c == "\"" && field.isEmpty && !wasQuoted {
                (quoted, wasQuoted) = (true, true)
            } else if wasQuoted {
                throw TestDataError("\(source):\(number): text after a closing quote: \(line)")
            } else {
                field.append(c)
            }
        }
        guard !quoted else { throw TestDataError("\(source):\(number): unterminated quote: \(line)") }
        fields.append(field)
        return fields
    }
}

/// One row of a `CSVTable`, read by column name; every accessor throws a `TestDataError` naming
/// the file, line and column when the field is missing or does not parse.
public struct CSVRow: Sendable, CustomStringConvertible {
    public let source: String
    /// The line number in the file (the header is line 1).
    public let line: Int
    /// The line as written.
    public let text: String
    public let fields: [String]
    let columns: [String: Int]

    public var description: String { "\(source):\(line): \(text)" }

    public func string(_ column: String) throws -> String {
        guard let i = columns[column] else {
            throw TestDataError(
                "\(source): no column '\(column)' (columns: \(columns.sorted { $0.value < $1.value }.map(\.key).joined(separator: ", ")))")
        }
        return fields[i]
    }

    /// The field parsed by `parse`; `what` names the expected kind of value in the message.
    public func value<T>(_ column: String, as what: String = "\(T.self)", _ parse: (String) -> T?) throws -> T {
        let s = try string(column)
        guard let v = parse(s) else {
            throw TestDataError("\(source):\(line): column '\(column)' is '\(s)', not \(what)")
        }
        return v
    }

    public func int(_ column: String) throws -> Int { try value(column, as: "an integer") { Int($0) } }
    public func double(_ column: String) throws -> Double { try value(column, as: "a number") { Double($0) } }

    /// `true` or `false`.
    public func bool(_ column: String) throws -> Bool {
        try value(column, as: "true or false") { ["true": true, "false": false][$0] }
    }
}

/// Decodes a JSON file into `T`; a missing key, a value of the wrong type or bad syntax is a
/// `TestDataError` naming the file and the key path.
public func decodeJSON<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
    let data: Data
    do { data = try Data(contentsOf: url) } catch {
        throw TestDataError("\(url.path): cannot be read: \(error.localizedDescription)")
    }
    return try decodeJSON(type, from: data, source: url.lastPathComponent)
}

/// Decodes JSON bytes into `T`; `source` names them in messages.
public func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data, source: String) throws -> T {
    func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty
            ? "the top level"
            : keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
    do {
        return try JSONDecoder().decode(type, from: data)
    } catch let DecodingError.keyNotFound(key, context) {
        throw TestDataError("\(source): \(path(context.codingPath)) has no key '\(key.stringValue)'")
    } catch let DecodingError.typeMismatch(expected, context) {
        throw TestDataError("\(source): \(path(context.codingPath)) is not \(expected): \(context.debugDescription)")
    } catch let DecodingError.valueNotFound(expected, context) {
        throw TestDataError("\(source): \(path(context.codingPath)) is null where \(expected) is expected")
    } catch let DecodingError.dataCorrupted(context) {
        throw TestDataError("\(source): \(path(context.codingPath)): \(context.debugDescription)")
    }
}
