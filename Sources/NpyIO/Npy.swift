/// Encoding and decoding of NumPy's `.npy` format (versions 1.0, 2.0 and 3.0), for
/// little-endian arrays in C order of float64 (`<f8`), float32 (`<f4`) and float16 (`<f2`), and,
/// when the caller names the format (``RawFormat``), bfloat16 and fp8 stored as raw bits.
public enum Npy {
    static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// NumPy refuses arrays of more dimensions (NPY_MAXDIMS in NumPy 2).
    static let maxDimensions = 64

    /// A float format that NumPy has no descr for, stored as raw bits; naming one lets the reader
    /// take the descrs such files carry:
    ///
    /// - `bfloat16`: `<u2` or `<i2` (PyTorch's `t.view(torch.int16)` / NumPy `view('<u2')`), and
    ///   `<V2` / `|V2`, which is what `np.save` writes for an `ml_dtypes.bfloat16` array
    ///   (ml_dtypes 0.6.0 with NumPy 2.4: `'descr': '<V2'`, i.e. untyped 2-byte voids).
    /// - `float8e4m3fn`, `float8e5m2`: `|u1`, `|i1`, `<V1` / `|V1` (ml_dtypes 0.6.0 writes `<V1`
    ///   for `float8_e4m3fn`), and `<f1`, the descr ml_dtypes 0.6.0 writes for `float8_e5m2`
    ///   (which NumPy 2.4 itself cannot load back).
    ///
    /// The bytes carry no type, so without the caller's word such a file is refused: a `<u2` file
    /// may as well hold integers.
    public enum RawFormat: String, Sendable, CaseIterable {
        case bfloat16, float8e4m3fn, float8e5m2

        var dtype: NpyArray.DType {
            switch self {
            case .bfloat16: .bfloat16
            case .float8e4m3fn: .float8e4m3fn
            case .float8e5m2: .float8e5m2
            }
        }

        /// The descrs read as this format.
        public var descrs: Set<String> {
            switch self {
            case .bfloat16: ["<u2", "<i2", "<V2", "|V2"]
            case .float8e4m3fn, .float8e5m2: ["|u1", "|i1", "<u1", "<i1", "<V1", "|V1", "<f1"]
            }
        }
    }

    /// The element type a descr denotes, given the raw format the caller allows (if any).
    static func dtype(descr: String, raw: RawFormat?) -> NpyArray.DType? {
        switch descr {
        case "<f8": return .float64
        case "<f4": return .float32
        case "<f2": return .float16
        default: return raw.flatMap { $0.descrs.contains(descr) ? $0.dtype : nil }
        }
    }

    /// The one-line message for a descr the reader does not take, with what to do about it.
    static func dtypeAdvice(_ descr: String) -> String {
        let taken = "'<f8' (float64), '<f4' (float32) and '<f2' (float16) are read"
        if descr.hasPrefix(">") { return "dtype '\(descr)' is big-endian; save it little-endian (\(taken))" }
        if RawFormat.bfloat16.descrs.contains(descr) {
            return "dtype '\(descr)' is untyped 16-bit data (ml_dtypes.bfloat16 is saved as '<V2'); if it holds bfloat16 bits, pass --bf16-bits"
        }
        if RawFormat.float8e4m3fn.descrs.contains(descr) {
            return "dtype '\(descr)' is untyped bytes (how fp8 is saved); if it holds fp8 bits, pass --fp8-bits e4m3 or --fp8-bits e5m2"
        }
        return "dtype '\(descr)' is not a NumPy descr this reader takes; save arrays with np.save so the header says "
            + "'<f8' (float64), '<f4' (float32) or '<f2' (float16) (bfloat16 and fp8 raw bits are read with --bf16-bits / --fp8-bits)"
    }

    /// What the header says, checked: where the data starts, its element type and size.
    struct Layout {
        var shape: [Int]
        var dtype: NpyArray.DType
        var dataStart: Int
        var count: Int
        var byteCount: Int
    }

    /// How many leading bytes ``layout(_:raw:)`` needs: the magic, version and length field, then
    /// the header; nil when `prefix` is too short to say.
    static func headerEnd(_ prefix: [UInt8]) throws(NpyError) -> Int? {
        guard prefix.count >= 8 else { return nil }
        guard Array(prefix[0..<6]) == magic else { throw .badMagic }
        let lengthBytes = try lengthFieldBytes(major: prefix[6], minor: prefix[7])
        guard prefix.count >= 8 + lengthBytes else { return nil }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(prefix[8 + i]) << (8 * i) }
        // A 4-byte length cannot overflow a 64-bit Int, but it can a 32-bit one.
        let (end, overflow) = (8 + lengthBytes).addingReportingOverflow(headerLength)
        guard !overflow else { throw .badHeader("the header length \(headerLength) does not fit in memory") }
        return end
    }

    static func lengthFieldBytes(major: UInt8, minor: UInt8) throws(NpyError) -> Int {
        let lengthBytes: Int
        switch major {
        case 1: lengthBytes = 2
        case 2, 3: lengthBytes = 4
        default: throw .unsupportedVersion(major: major, minor: minor)
        }
        guard minor == 0 else { throw .unsupportedVersion(major: major, minor: minor) }
        return lengthBytes
    }

    /// Parses the header at the start of `bytes` (which must reach at least ``headerEnd(_:)``)
    /// and checks every size before anything is allocated.
    static func layout(_ bytes: [UInt8], raw: RawFormat?) throws(NpyError) -> Layout {
        guard bytes.count >= 8, Array(bytes[0..<6]) == magic else { throw .badMagic }
        let lengthBytes = try lengthFieldBytes(major: bytes[6], minor: bytes[7])
        guard bytes.count >= 8 + lengthBytes else { throw .truncated(expectedBytes: 8 + lengthBytes, actualBytes: bytes.count) }
        guard let dataStart = try headerEnd(bytes) else { throw .truncated(expectedBytes: 8 + lengthBytes, actualBytes: bytes.count) }
        guard bytes.count >= dataStart else { throw .truncated(expectedBytes: dataStart, actualBytes: bytes.count) }
        let fields = try parseHeader(bytes[(8 + lengthBytes)..<dataStart], version: bytes[6])
        guard let dtype = dtype(descr: fields.descr, raw: raw) else { throw .unsupportedDType(fields.descr) }
        if fields.fortranOrder && fields.shape.count > 1 { throw .fortranOrder }
        guard fields.shape.count <= maxDimensions else {
            throw .badHeader("the shape has \(fields.shape.count) dimensions; NumPy allows at most \(maxDimensions)")
        }
        func tooLarge() -> NpyError {
            .badHeader("shape \(tupleText(fields.shape)) of '\(fields.descr)' would take more than \(Int.max) bytes")
        }
        guard let (count, byteCount) = NpyArray.sizes(of: fields.shape, itemSize: dtype.byteSize) else { throw tooLarge() }
        guard !dataStart.addingReportingOverflow(byteCount).overflow else { throw tooLarge() }
        return Layout(shape: fields.shape, dtype: dtype, dataStart: dataStart, count: count, byteCount: byteCount)
    }

    /// Parses a whole `.npy` file. Every size in the header is checked before anything is
    /// allocated, so a hostile or corrupt file gets an ``NpyError``, never a trap. `raw` names the
    /// format of raw-bit descrs (`<u2`, `|V2`, `|u1`, …; see ``RawFormat``); without it they are refused.
    public static func decode(_ bytes: [UInt8], raw: RawFormat? = nil) throws(NpyError) -> NpyArray {
        let layout = try layout(bytes, raw: raw)
        let needed = layout.dataStart + layout.byteCount
        guard bytes.count >= needed else { throw .truncated(expectedBytes: needed, actualBytes: bytes.count) }
        let data = bytes.withUnsafeBytes { raw in
            values(UnsafeRawBufferPointer(rebasing: raw[layout.dataStart..<needed]), dtype: layout.dtype, count: layout.count)
        }
        return NpyArray(shape: layout.shape, data: data, dtype: layout.dtype)
    }

    /// Decoding tables of the 16- and 8-bit formats (fp16: 64K entries, 512 KiB), built once.
    static let float16Table = SmallFloat.float16.table()
    static let e4m3Table = SmallFloat.float8e4m3fn.table()
    static let e5m2Table = SmallFloat.float8e5m2.table()

    /// `count` little-endian elements of `dtype` from `raw`, widened exactly to fp64.
    static func values(_ raw: UnsafeRawBufferPointer, dtype: NpyArray.DType, count: Int) -> [Double] {
        [Double](unsafeUninitializedCapacity: count) { out, initialized in
            switch dtype {
            case .float64:
                for i in 0..<count { out[i] = Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) }
            case .float32:
                for i in 0..<count {
                    out[i] = Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                }
            case .float16:
                float16Table.withUnsafeBufferPointer { table in
                    for i in 0..<count { out[i] = table[Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))] }
                }
            case .bfloat16:
                // bfloat16 is the top half of an fp32: exact, NaN payloads kept as fp32's are.
                for i in 0..<count {
                    let word = UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    out[i] = Double(Float(bitPattern: word << 16))
                }
            case .float8e4m3fn, .float8e5m2:
                (dtype == .float8e4m3fn ? e4m3Table : e5m2Table).withUnsafeBufferPointer { table in
                    for i in 0..<count { out[i] = table[Int(raw[i])] }
                }
            }
            initialized = count
        }
    }

    /// Writes a version 1.0 file, header padded to a multiple of 64 bytes as NumPy does. Values
    /// are rounded to the array's dtype (to nearest, ties to even); bfloat16 and fp8 are written
    /// as raw bits under `<u2` / `|u1` (see ``NpyArray/DType``).
    public static func encode(_ array: NpyArray) -> [UInt8] {
        var header = "{'descr': '\(array.dtype.descr)', 'fortran_order': False, 'shape': \(tupleText(array.shape)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0]
        let length = header.utf8.count
        bytes += [UInt8(length & 0xff), UInt8(length >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + array.count * array.dtype.byteSize)
        switch array.dtype {
        case .float64: for x in array.data { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
        case .float32: for x in array.data { withUnsafeBytes(of: Float(x).bitPattern.littleEndian) { bytes += $0 } }
        case .float16, .bfloat16:
            let codec = SmallFloat.of(array.dtype)!
            for x in array.data { withUnsafeBytes(of: UInt16(codec.encode(x)).littleEndian) { bytes += $0 } }
        case .float8e4m3fn, .float8e5m2:
            let codec = SmallFloat.of(array.dtype)!
            for x in array.data { bytes.append(UInt8(codec.encode(x))) }
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

extension Npy.RawFormat {
    /// `read` with the first of `raws` the file takes (plain NumPy dtypes when `raws` is empty);
    /// the last format's error when none does (`--bf16-bits` and `--fp8-bits` may both be given).
    public static func first<T>(_ raws: [Npy.RawFormat], _ read: (Npy.RawFormat?) throws(NpyError) -> T) throws(NpyError) -> T {
        var lastError: NpyError?
        for raw in raws.isEmpty ? [nil] : raws.map(Optional.some) {
            do { return try read(raw) } catch { lastError = error }
        }
        throw lastError!
    }
}
