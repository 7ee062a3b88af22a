/// Encoding and decoding of NumPy's `.npy` format (versions 1.0, 2.0 and 3.0), for
/// little-endian float64 and float32 arrays in C order.
public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// NumPy refuses arrays of more dimensions (NPY_MAXDIMS in NumPy 2).
    static let maxDimensions = 64

    /// Parses a whole `.npy` file. Every size in the header is checked before anything is
    /// allocated, so a hostile or corrupt file gets an ``NpyError``, never a trap.
    public static func decode(_ bytes: [UInt8]) throws(NpyError) -> NpyArray {
        guard bytes.count >= 8, Array(bytes[0..<6]) == magic else { throw .badMagic }
        let (major, minor) = (bytes[6], bytes[7])
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw .unsupportedVersion(major: major, minor: minor)
        }
        guard minor == 0 else { throw .unsupportedVersion(major: major, minor: minor) }
        guard bytes.count >= 8 + lengthBytes else { throw .truncated(expectedBytes: 8 + lengthBytes, actualBytes: bytes.count) }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        let start = 8 + lengthBytes
        // A 4-byte length cannot overflow a 64-bit Int, but it can a 32-bit one.
        let (dataStart, headerOverflow) = start.addingReportingOverflow(headerLength)
        guard !headerOverflow else { throw .badHeader("the header length \(headerLength) does not fit in memory") }
        guard bytes.count >= dataStart else { throw .truncated(expectedBytes: dataStart, actualBytes: bytes.count) }
        let fields = try parseHeader(bytes[start..<dataStart], version: major)
        guard let dtype = NpyArray.DType(rawValue: fields.descr) else { throw .unsupportedDType(fields.descr) }
        if fields.fortranOrder && fields.shape.count > 1 { throw .fortranOrder }
        guard fields.shape.count <= maxDimensions else {
            throw .badHeader("the shape has \(fields.shape.count) dimensions; NumPy allows at most \(maxDimensions)")
        }
        func tooLarge() -> NpyError {
            .badHeader("shape \(tupleText(fields.shape)) of '\(dtype.rawValue)' would take more than \(Int.max) bytes")
        }
        guard let (count, byteCount) = NpyArray.sizes(of: fields.shape, itemSize: dtype.byteSize) else { throw tooLarge() }
        let (needed, dataOverflow) = dataStart.addingReportingOverflow(byteCount)
        guard !dataOverflow else { throw tooLarge() }
        guard bytes.count >= needed else { throw .truncated(expectedBytes: needed, actualBytes: bytes.count) }
        var data = [Double](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            for i in 0..<count {
                let offset = dataStart + i * dtype.byteSize
                switch dtype {
                case .float64:
                    data[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                case .float32:
                    data[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))))
                }
            }
        }
        return NpyArray(shape: fields.shape, data: data, dtype: dtype)
    }

    /// Writes a version 1.0 file, header padded to a multiple of 64 bytes as NumPy does.
    public static func encode(_ array: NpyArray) -> [UInt8] {
        var header = "{'descr': '\(array.dtype.rawValue)', 'fortran_order': False, 'shape': \(tupleText(array.shape)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0]
        let length = header.utf8.count
        bytes += [UInt8(length & 0xff), UInt8(length >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + array.count * array.dtype.byteSize)
        for x in array.data {
            switch array.dtype {
            case .float64: withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 }
            case .float32: withUnsafeBytes(of: Float(x).bitPattern.littleEndian) { bytes += $0 }
            }
        }
        return bytes
    }

    /// A shape as Python writes the tuple: `()`, `(5,)`, `(2, 3)`.
    static func tupleText(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    struct HeaderFields { var descr: String; var fortranOrder: Bool; var shape: [Int] }

    /// Reads the header: the Python dict literal NumPy writes, such as
    /// `{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }`, padded with spaces
    /// and ended by a newline.
    ///
    /// NumPy reads it with `ast.literal_eval`, which takes all of Python's literal syntax; this
    /// takes the part that NumPy's and other libraries' writers produce, and refuses the rest
    /// (deliberately, so that a corrupt header is not half-read):
    /// - keys and strings in single or double quotes, printable ASCII without backslashes
    ///   (no escapes, prefixes, triple quotes or implicit concatenation);
    /// - values: a string, `True`, `False`, or a tuple of decimal integers — `()`, `(5,)`,
    ///   `(2, 3)`, `(2, 3,)`; an `L` after an integer in versions 1 and 2, which NumPy strips
    ///   from Python 2 headers (no signs, underscores, other bases or nested parentheses);
    /// - spaces and tabs between tokens, none of Python's other whitespace or comments.
    ///
    /// It also refuses, where NumPy would not, a key given twice (NumPy silently takes the
    /// last) and a header not ending in a newline (the format requires one, and its absence
    /// usually means the header-length field is wrong, which would shift the data).
    static func parseHeader(_ bytes: ArraySlice<UInt8>, version: UInt8) throws(NpyError) -> HeaderFields {
        if let i = bytes.firstIndex(where: { $0 >= 0x80 }) {
            let byte = "0x" + String(bytes[i], radix: 16, uppercase: true)
            throw .badHeader("byte \(byte) at header offset \(i - bytes.startIndex) is not ASCII (NumPy writes ASCII headers)")
        }
        guard bytes.last == UInt8(ascii: "\n") else {
            throw .badHeader("it does not end in a newline (is the header-length field wrong?)")
        }
        var p = HeaderParser(text: Array(bytes.dropLast()), allowsLongSuffix: version < 3)
        let fields = try p.dictionary(keys: ["descr", "fortran_order", "shape"])
        guard case .string(let descr)? = fields["descr"] else { throw missingOrWrong("descr", "a string", fields) }
        guard case .bool(let fortran)? = fields["fortran_order"] else { throw missingOrWrong("fortran_order", "True or False", fields) }
        guard case .tuple(let shape)? = fields["shape"] else { throw missingOrWrong("shape", "a tuple of integers", fields) }
        return HeaderFields(descr: descr, fortranOrder: fortran, shape: shape)
    }

    private static func missingOrWrong(_ key: String, _ kind: String, _ fields: [String: HeaderParser.Value]) -> NpyError {
        .badHeader(fields[key] == nil ? "no '\(key)' key" : "'\(key)' is not \(kind)")
    }
}

/// A recursive-descent reader of the header's dict literal; see ``Npy/parseHeader(_:version:)``.
struct HeaderParser {
    enum Value: Equatable { case string(String), bool(Bool), tuple([Int]) }

    let text: [UInt8]
    let allowsLongSuffix: Bool
    var i = 0

    init(text: [UInt8], allowsLongSuffix: Bool) { self.text = text; self.allowsLongSuffix = allowsLongSuffix }

    /// The whole text: optional blanks, the dict, then blanks only (NumPy's padding). Each
    /// key is checked as soon as it is read, so that the message names it.
    mutating func dictionary(keys: Set<String>) throws(NpyError) -> [String: Value] {
        skipBlanks()
        try expect("{")
        var entries: [String: Value] = [:]
        skipBlanks()
        while peek != UInt8(ascii: "}") {
            guard let quote = peek, quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
                throw unexpected("a quoted key")
            }
            let key = try string()
            guard keys.contains(key) else {
                throw .badHeader("unknown key '\(key)' (NumPy headers have exactly 'descr', 'fortran_order' and 'shape')")
            }
            guard entries[key] == nil else {
                throw .badHeader("the key '\(key)' appears twice (NumPy would take the last; this reader refuses to guess)")
            }
            skipBlanks()
            try expect(":")
            skipBlanks()
            entries[key] = try value()
            skipBlanks()
            if peek == UInt8(ascii: ",") { i += 1; skipBlanks() } else if peek != UInt8(ascii: "}") { throw unexpected("',' or '}'") }
        }
        i += 1
        skipBlanks()
        guard i == text.count else { throw unexpected("only spaces after the closing '}'") }
        return entries
    }

    mutating func value() throws(NpyError) -> Value {
        switch peek {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "("): return .tuple(try tuple())
        default:
            for (word, b) in [("True", true), ("False", false)] where text[i...].starts(with: word.utf8) {
                i += word.utf8.count
                return .bool(b)
            }
            throw unexpected("a string, True, False or a tuple")
        }
    }

    /// Python's tuple syntax: `()`, `(5,)`, `(2, 3)` or `(2, 3,)`; `(5)` is an integer.
    mutating func tuple() throws(NpyError) -> [Int] {
        try expect("(")
        var items: [Int] = []
        var endedWithComma = false
        skipBlanks()
        while peek != UInt8(ascii: ")") {
            items.append(try integer())
            skipBlanks()
            endedWithComma = peek == UInt8(ascii: ",")
            if endedWithComma { i += 1; skipBlanks() } else if peek != UInt8(ascii: ")") { throw unexpected("',' or ')'") }
        }
        i += 1
        guard items.count != 1 || endedWithComma else {
            throw .badHeader("(\(items[0])) is an integer, not a tuple; a one-element tuple is written (\(items[0]),)")
        }
        return items
    }

    /// A non-negative decimal integer as Python reads it: no leading zeros except in `0`, `00`, ….
    mutating func integer() throws(NpyError) -> Int {
        if peek == UInt8(ascii: "-") { throw .badHeader("the shape has a negative entry") }
        let digits = text[i...].prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard !digits.isEmpty else { throw unexpected("an integer") }
        let literal = String(decoding: digits, as: UTF8.self)
        guard digits.first != UInt8(ascii: "0") || digits.allSatisfy({ $0 == UInt8(ascii: "0") }) else {
            throw .badHeader("the shape entry \(literal) has a leading zero, which Python does not allow")
        }
        guard let n = Int(literal) else { throw .badHeader("the shape entry \(literal) is larger than \(Int.max)") }
        i += digits.count
        // Python 2 wrote longs as 5L; NumPy strips the L (and only it) from version 1 and 2 headers.
        let afterBlanks = text[i...].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        if allowsLongSuffix, afterBlanks.first == UInt8(ascii: "L"), !isNameByte(afterBlanks.dropFirst().first) {
            i = afterBlanks.startIndex + 1
        }
        return n
    }

    /// A quoted string of printable ASCII without backslashes.
    mutating func string() throws(NpyError) -> String {
        let quote = text[i]
        let start = i + 1
        guard let end = text[start...].firstIndex(where: { $0 == quote || $0 == UInt8(ascii: "\\") || $0 < 0x20 || $0 == 0x7f }),
            text[end] == quote
        else {
            throw .badHeader("a string starting at header offset \(i) is unterminated or has an escape or control character")
        }
        i = end + 1
        return String(decoding: text[start..<end], as: UTF8.self)
    }

    var peek: UInt8? { i < text.count ? text[i] : nil }

    mutating func skipBlanks() { while peek == UInt8(ascii: " ") || peek == UInt8(ascii: "\t") { i += 1 } }

    mutating func expect(_ c: Unicode.Scalar) throws(NpyError) {
        guard peek == UInt8(ascii: c) else { throw unexpected("'\(c)'") }
        i += 1
    }

    func isNameByte(_ b: UInt8?) -> Bool {
        guard let b else { return false }
        return b == UInt8(ascii: "_") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b | 0x20)
    }

    func unexpected(_ wanted: String) -> NpyError {
        let found =
            peek.map { (0x21...0x7e).contains($0) ? "'\(Character(Unicode.Scalar($0)))'" : "byte 0x" + String($0, radix: 16) }
            ?? "the end"
        return .badHeader("expected \(wanted) at header offset \(i), found \(found)")
    }
}
