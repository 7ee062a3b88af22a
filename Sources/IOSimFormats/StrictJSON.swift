/// A small, strict JSON reader for the model files: it tells booleans from numbers (Foundation's
/// reader turns `true` into 1), refuses duplicate keys (which reader wins is unspecified), and says
/// where a malformed file goes wrong (line and column).
public enum StrictJSON: Equatable, Sendable {
    case object([String: StrictJSON])
    case array([StrictJSON])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    /// Why a text is not JSON, with its 1-based line and column.
    public struct SyntaxError: Error, Equatable, CustomStringConvertible {
        public var message: String, line: Int, column: Int
        public var description: String { "\(message) at line \(line), column \(column)" }
    }

    /// Parses a whole document (UTF-8).
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> StrictJSON {
        var p = Parser(bytes: bytes)
        let value = try p.value(depth: 0)
        p.skipSpace()
        guard p.at == bytes.count else { throw p.error("unexpected text after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var at = 0

        func error(_ message: String) -> SyntaxError {
            var line = 1, column = 1
            for b in bytes[..<min(at, bytes.count)] {
                if b == UInt8(ascii: "\n") { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
            }
            return SyntaxError(message: message, line: line, column: column)
        }

        mutating func skipSpace() {
            while at < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[at]) { at += 1 }
        }

        mutating func expect(_ word: String) throws(SyntaxError) {
            for c in word.utf8 {
                guard at < bytes.count, bytes[at] == c else { throw error("expected '\(word)'") }
                at += 1
            }
        }

        mutating func value(depth: Int) throws(SyntaxError) -> StrictJSON {
            // Model files are flat; a deep nest is malformed input, not a reason to recurse forever.
            guard depth < 64 else { throw error("nested more than 64 levels") }
            skipSpace()
            guard at < bytes.count else { throw error("unexpected end of file") }
            switch bytes[at] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["):
                at += 1
                var items: [StrictJSON] = []
                skipSpace()
                if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard at < bytes.count else { throw error("unexpected end of file in an array") }
                    if bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                    guard bytes[at] == UInt8(ascii: ",") else { throw error("expected ',' or ']'") }
                    at += 1
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            default: return .number(try number())
            }
        }

        mutating func object(depth: Int) throws(SyntaxError) -> StrictJSON {
            at += 1
            var fields: [String: StrictJSON] = [:]
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(fields) }
            while true {
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw error("expected a key in quotes") }
                let keyStart = at
                let key = try string()
                guard fields[key] == nil else { at = keyStart; throw error("duplicate key '\(key)'") }
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw error("expected ':' after '\(key)'") }
                at += 1
                fields[key] = try value(depth: depth + 1)
                skipSpace()
                guard at < bytes.count else { throw error("unexpected end of file in an object") }
                if bytes[at] == UInt8(ascii: "}") { at += 1; return .object(fields) }
                guard bytes[at] == UInt8(ascii: ",") else { throw error("expected ',' or '}'") }
                at += 1
            }
        }

        mutating func string() throws(SyntaxError) -> String {
            at += 1
            var out: [UInt8] = []
            while at < bytes.count {
                let b = bytes[at]
                at += 1
                switch b {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else { throw error("a string is not valid UTF-8") }
                    return s
                case UInt8(ascii: "\\"):
                    guard at < bytes.count else { break }
                    let e = bytes[at]
                    at += 1
                    switch e {
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard at + 4 <= bytes.count, let code = UInt32(String(decoding: bytes[at..<at + 4], as: UTF8.self), radix: 16),
                            let scalar = Unicode.Scalar(code)
                        else { throw error("bad \\u escape") }
                        at += 4
                        out += Array(String(Character(scalar)).utf8)
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    default: at -= 1; throw error("bad escape in a string")
                    }
                default:
                    guard b >= 0x20 else { at -= 1; throw error("control character in a string") }
                    out.append(b)
                }
            }
            throw error("unterminated string")
        }

        mutating func number() throws(SyntaxError) -> Double {
            let start = at
            while at < bytes.count, "+-0123456789.eE".utf8.contains(bytes[at]) { at += 1 }
            let text = String(decoding: bytes[start..<at], as: UTF8.self)
            // JSON's grammar: optional minus, no leading '+', no bare '.', digits on both sides of '.'.
            guard !text.isEmpty, !text.hasPrefix("+"), !text.hasPrefix("."), !text.contains(".e"), !text.contains(".E"),
                !text.hasSuffix("."), let v = Double(text), v.isFinite
            else {
                at = start
                throw error(text.isEmpty ? "unexpected character" : "'\(text)' is not a JSON number")
            }
            return v
        }
    }
}
