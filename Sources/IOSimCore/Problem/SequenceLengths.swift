import Foundation

/// Where a sequence length was written: a line of a lengths file or an item of a comma list.
/// Errors name it so that a user can find the bad entry.
public enum LengthsPlace: Sendable, Equatable, CustomStringConvertible {
    /// Line `line` (1-based) of the file `file`.
    case line(Int, file: String)
    /// Item `item` (1-based) of a comma-separated list.
    case item(Int)

    public var description: String {
        switch self {
        case let .line(n, file): "line \(n) of \(file)"
        case let .item(n): "item \(n) of the list"
        }
    }
}

/// Why a batch's sequence lengths were refused, in words a user can act on. Like
/// ``SimulationError``, it names no command-line flag: a front end adds its own.
public enum SequenceLengthsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An entry that is not a whole number in decimal digits (the text as written, trimmed).
    case notAnInteger(LengthsPlace, text: String)
    /// An entry of zero or below: every sequence holds at least one token.
    case notPositive(LengthsPlace, text: String)
    /// An entry above ``Limits/maxSequence``.
    case tooLong(LengthsPlace, text: String, limit: Int)
    /// An empty entry in the middle of a file or list (only trailing blank lines of a file are allowed).
    case empty(LengthsPlace)
    /// More than ``Limits/maxBatchOrHeads`` sequences.
    case tooMany(limit: Int)
    /// No length at all (an empty file or list).
    case none(source: String)
    /// The file exists but cannot be read.
    case unreadable(path: String, reason: String)
    /// Neither a file nor a list: no file by that name, and it holds no comma or digit.
    case noSuchFile(String)

    public var description: String {
        switch self {
        case let .notAnInteger(place, text):
            "\(place): \"\(text)\" is not a positive integer (one length per line, digits only)"
        case let .notPositive(place, text):
            "\(place): \(text) is not positive; every sequence has at least one token"
        case let .tooLong(place, text, limit):
            "\(place): \(text) is above iosim's limit of \(limit) tokens per sequence"
        case let .empty(place):
            "\(place) is empty; give one positive length per line (or per comma-separated item)"
        case let .tooMany(limit):
            "more than \(limit) sequences, iosim's limit for a batch"
        case let .none(source):
            "\(source) holds no sequence length"
        case let .unreadable(path, reason):
            "cannot read the lengths file \(path): \(reason)"
        case let .noSuchFile(path):
            "no lengths file \(path), and it is not a comma-separated list of lengths"
        }
    }
}

/// The sequence lengths (tokens per sequence) of a batch whose sequences differ in length, as
/// `--lengths FILE|a,b,c` gives them: in the order given, each in 1…``Limits/maxSequence``, at
/// most ``Limits/maxBatchOrHeads`` of them.
///
/// Simulators that depend on a sequence only through its length run each distinct length once
/// (``groups``) and multiply by how many sequences have it.
public struct SequenceLengths: Sendable, Equatable {
    /// One length of a batch and how many of its sequences have it.
    public struct Group: Sendable, Equatable, Hashable {
        public var length: Int
        public var count: Int
        public init(length: Int, count: Int) {
            self.length = length
            self.count = count
        }
    }

    /// The lengths in the order given.
    public let values: [Int]
    /// Σ lengths: at most 2²⁴ · 2²⁴ = 2⁴⁸ under the limits, so it always fits in Int64.
    public let sum: Int
    /// The longest length.
    public let max: Int

    /// The number of sequences (the batch).
    public var count: Int { values.count }

    /// Validates `values` against the limits. A place in errors is the item's 1-based index.
    public init(_ values: [Int]) throws(SequenceLengthsError) {
        guard !values.isEmpty else { throw .none(source: "the list") }
        guard values.count <= Limits.maxBatchOrHeads else { throw .tooMany(limit: Limits.maxBatchOrHeads) }
        var total = 0
        var longest = 0
        for (i, v) in values.enumerated() {
            if v <= 0 { throw .notPositive(.item(i + 1), text: "\(v)") }
            if v > Limits.maxSequence { throw .tooLong(.item(i + 1), text: "\(v)", limit: Limits.maxSequence) }
            // Cannot overflow under the limits (≤ 2⁴⁸); checked all the same so that a change of
            // limits cannot make it wrap silently.
            let (s, o) = total.addingReportingOverflow(v)
            precondition(!o, "Σ lengths overflowed Int64 under Limits")
            total = s
            longest = Swift.max(longest, v)
        }
        self.values = values
        self.sum = total
        self.max = longest
    }

    /// `batch` sequences of `length` tokens each.
    public init(uniform length: Int, batch: Int) throws(SequenceLengthsError) {
        guard batch > 0 else { throw .none(source: "a batch of \(batch) sequences") }
        guard batch <= Limits.maxBatchOrHeads else { throw .tooMany(limit: Limits.maxBatchOrHeads) }
        try self.init(Array(repeating: length, count: batch))
    }

    /// The distinct lengths in increasing order, each with how many sequences have it; the counts
    /// sum to ``count``.
    public var groups: [Group] {
        var out: [Group] = []
        for v in values.sorted() {
            if let last = out.last, last.length == v {
                out[out.count - 1].count += 1
            } else {
                out.append(Group(length: v, count: 1))
            }
        }
        return out
    }

    /// `--lengths`' value: the lengths file at `argument` when one exists there, else a
    /// comma-separated list (`4096,512,77`; one number is a batch of one).
    public static func parse(argument: String) throws(SequenceLengthsError) -> SequenceLengths {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), !isDirectory.boolValue {
            return try parse(file: argument)
        }
        // A value with a path separator or a letter and no comma was meant as a file name: say
        // that the file is missing rather than that "lengths.txt" is not a number.
        let looksLikeAPath = argument.unicodeScalars.contains { $0.properties.isAlphabetic || $0 == "/" }
        if looksLikeAPath && !argument.contains(",") { throw .noSuchFile(argument) }
        return try parse(list: argument)
    }

    /// Reads a lengths file: one length per line (`\n` or `\r\n`), blank space around a number
    /// allowed, blank lines allowed only at the end.
    public static func parse(file path: String) throws(SequenceLengthsError) -> SequenceLengths {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        let name = (path as NSString).lastPathComponent
        // withUnsafeBytes only rethrows untyped errors: the typed one travels in a Result.
        return try data.withUnsafeBytes { raw in
            Result { () throws(SequenceLengthsError) in
                try parse(bytes: raw, separator: UInt8(ascii: "\n"), place: { .line($0, file: name) }, trailingBlanksAllowed: true, source: name)
            }
        }.get()
    }

    /// Parses a comma-separated list (`4096, 512,77`); an empty item is an error.
    public static func parse(list: String) throws(SequenceLengthsError) -> SequenceLengths {
        var text = list
        return try text.withUTF8 { buffer in
            Result { () throws(SequenceLengthsError) in
                try parse(
                    bytes: UnsafeRawBufferPointer(buffer), separator: UInt8(ascii: ","), place: { .item($0) }, trailingBlanksAllowed: false,
                    source: "the list")
            }
        }.get()
    }

    /// Parses lengths contents (the bytes of a file); `name` is what errors call the file.
    public static func parse(contents: String, name: String) throws(SequenceLengthsError) -> SequenceLengths {
        var text = contents
        return try text.withUTF8 { buffer in
            Result { () throws(SequenceLengthsError) in
                try parse(
                    bytes: UnsafeRawBufferPointer(buffer), separator: UInt8(ascii: "\n"), place: { .line($0, file: name) },
                    trailingBlanksAllowed: true, source: name)
            }
        }.get()
    }

    /// The one parser: a single pass over the bytes with no per-entry String, so that a million
    /// lengths take milliseconds. Entries are split at `separator`; spaces, tabs and `\r` around a
    /// number are ignored. A blank entry is an error unless only blank entries follow it and
    /// `trailingBlanksAllowed` (a file's final newline, or a few empty lines after the last number).
    static func parse(
        bytes: UnsafeRawBufferPointer, separator: UInt8, place: (Int) -> LengthsPlace, trailingBlanksAllowed: Bool,
        source: String
    ) throws(SequenceLengthsError) -> SequenceLengths {
        var values: [Int] = []
        // A file's size bounds its entries (at least two bytes per entry but the last).
        values.reserveCapacity(Swift.min(bytes.count / 2 + 1, Limits.maxBatchOrHeads + 1))
        var total = 0
        var longest = 0
        var firstBlank: Int? = nil  // the first blank entry, an error if a number follows it
        var entry = 0
        var i = 0
        let n = bytes.count
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r")
        let zero = UInt8(ascii: "0"), nine = UInt8(ascii: "9")
        while i <= n {
            entry += 1
            // One entry: [i, end).
            var end = i
            while end < n && bytes[end] != separator { end += 1 }
            var a = i, b = end
            while a < b && (bytes[a] == space || bytes[a] == tab || bytes[a] == cr) { a += 1 }
            while b > a && (bytes[b - 1] == space || bytes[b - 1] == tab || bytes[b - 1] == cr) { b -= 1 }
            if a == b {
                // A separator at the very end leaves one empty entry after it: a file's final newline.
                if firstBlank == nil { firstBlank = entry }
            } else {
                if let blank = firstBlank { throw .empty(place(blank)) }
                var value = 0
                var digitsOnly = true
                var tooLong = false
                for j in a..<b {
                    let c = bytes[j]
                    guard c >= zero && c <= nine else {
                        digitsOnly = false
                        break
                    }
                    // Stop accumulating above the limit (the text is reported instead), so that a
                    // long run of digits cannot overflow.
                    if !tooLong {
                        value = value * 10 + Int(c - zero)
                        if value > Limits.maxSequence { tooLong = true }
                    }
                }
                if !digitsOnly {
                    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self)
                    // A minus sign before digits is a negative number: say so rather than "not an integer".
                    let magnitude = text.utf8.dropFirst()
                    if text.hasPrefix("-"), !magnitude.isEmpty, magnitude.allSatisfy({ $0 >= zero && $0 <= nine }) {
                        throw .notPositive(place(entry), text: String(text.prefix(40)))
                    }
                    throw .notAnInteger(place(entry), text: String(text.prefix(40)))
                }
                if tooLong {
                    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self)
                    throw .tooLong(place(entry), text: String(text.prefix(40)), limit: Limits.maxSequence)
                }
                if value == 0 { throw .notPositive(place(entry), text: "0") }
                if values.count == Limits.maxBatchOrHeads { throw .tooMany(limit: Limits.maxBatchOrHeads) }
                values.append(value)
                total += value  // ≤ 2²⁴ entries of ≤ 2²⁴: at most 2⁴⁸
                if value > longest { longest = value }
            }
            i = end + 1
        }
        guard !values.isEmpty else { throw .none(source: source) }
        if let blank = firstBlank, !trailingBlanksAllowed { throw .empty(place(blank)) }
        return SequenceLengths(validated: values, sum: total, max: longest)
    }

    /// Lengths already checked by the parser.
    private init(validated values: [Int], sum: Int, max: Int) {
        self.values = values
        self.sum = sum
        self.max = max
    }
}
