import Foundation
import NpyIO
import TestSupport
import Testing

/// A seeded mutation fuzzer for `Npy.decode` over the valid files in `Corpus/` (written by
/// `python3 scripts/npy_fuzz_check.py --make-corpus Tests/NpyIOTests/Corpus`).
///
/// A crash kills the test process and a decode stuck for 30 s aborts it, so both fail the run.
/// Every mutant and iosim's verdict on it are then handed to `scripts/npy_fuzz_check.py`, which
/// loads them all with NumPy in one process and reports each disagreement. Environment:
/// `IOSIM_FUZZ_ITERATIONS` (default 5000), `IOSIM_FUZZ_SECONDS` (time bound, default 20),
/// `IOSIM_FUZZ_SEED`, `IOSIM_FUZZ_KEEP` (keep the mutants even when all agree).
@Suite struct NpyFuzz {
    @Test func fuzzedFilesNeverCrashAndAgreeWithNumPy() throws {
        let env = ProcessInfo.processInfo.environment
        let iterations = env["IOSIM_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 5000
        let deadline = ContinuousClock.now + .seconds(env["IOSIM_FUZZ_SECONDS"].flatMap { Double($0) } ?? 20)
        var rng = SeededGenerator(seed: env["IOSIM_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x10_5eed)
        let corpusDir = Repo.url("Tests/NpyIOTests/Corpus")
        let corpus = try FileManager.default.contentsOfDirectory(atPath: corpusDir.path).filter { $0.hasSuffix(".npy") }.sorted()
            .map { [UInt8](try Data(contentsOf: corpusDir.appendingPathComponent($0))) }
        try #require(corpus.count >= 5, "the seed corpus is missing")

        let dir = try Repo.tempDir(prefix: "iosim-npy-fuzz")
        print("npy fuzz: mutants in \(dir.path) (after a crash, the culprit is the highest-numbered one)")
        let watchdog = Watchdog(limit: .seconds(30))
        defer { watchdog.stop() }
        var verdicts: [Verdict] = []
        var seen = Set<[UInt8]>()
        for n in 0..<(corpus.count + iterations) {
            if ContinuousClock.now >= deadline { break }
            var bytes = n < corpus.count ? corpus[n] : rng.pick(corpus)
            if n >= corpus.count {
                for _ in 0..<rng.pick([1, 1, 1, 1, 1, 1, 2, 2, 2, 3]) { Mutator.mutate(&bytes, &rng) }
            }
            guard seen.insert(bytes).inserted else { continue }
            let file = dir.appendingPathComponent(String(format: "m%06d.npy", n))
            try Data(bytes).write(to: file)  // before decoding, so that a crash leaves it behind
            // Half the files are read as plain NumPy floats, half with a raw-bit format named
            // (as --bf16-bits / --fp8-bits do), so that both paths meet every mutation.
            let raw: Npy.RawFormat? = rng.next() % 2 == 0 ? nil : rng.pick(Npy.RawFormat.allCases)
            watchdog.begin(file.path)
            verdicts.append(
                Verdict(file: file.lastPathComponent, raw: raw, result: Result { () throws(NpyError) in try Npy.decode(bytes, raw: raw) }))
            watchdog.end()
        }
        try JSONEncoder().encode(verdicts).write(to: dir.appendingPathComponent("manifest.json"))
        let (status, output) = try Self.runChecker(on: dir)
        let summary = output.trimmingCharacters(in: .whitespacesAndNewlines)
        switch status {
        case 0: print("npy fuzz: \(summary)")
        case 77, 127, nil: print("npy fuzz: \(verdicts.count) files decoded without a crash; NumPy comparison skipped (\(summary))")
        default:
            Issue.record("NumPy disagrees with iosim on fuzzed files kept in \(dir.path):\n\(output)")
            return
        }
        if env["IOSIM_FUZZ_KEEP"] == nil { try FileManager.default.removeItem(at: dir) }
    }

    /// Runs the checker once over the whole directory; nil status when python3 cannot start.
    static func runChecker(on dir: URL) throws -> (Int32?, String) {
        do {
            let r = try runTool("python3", [Repo.path("scripts/npy_fuzz_check.py"), dir.path])
            return (r.status, r.out + r.err)
        } catch {
            return (nil, "python3 cannot be started: \(error)")
        }
    }
}

/// What iosim made of one file, in the form `npy_fuzz_check.py` reads.
struct Verdict: Encodable {
    var file: String
    var swift: String
    /// The raw-bit format the file was read with (`Npy.RawFormat`'s raw value), if any.
    var raw: String?
    var dtype: String?, shape: [Int]?, values: String?
    var error: String?, message: String?

    init(file: String, raw: Npy.RawFormat?, result: Result<NpyArray, NpyError>) {
        self.file = file
        self.raw = raw?.rawValue
        switch result {
        case .success(let a):
            swift = "accepted"
            (dtype, shape) = (a.dtype.rawValue, a.shape)
            // fp64 bit patterns, little-endian hex; NaNs canonical because widening an fp32
            // signalling NaN may set its quiet bit, and NumPy's cast may not. dtype is the
            // element type's name (float64, float16, bfloat16, float8e4m3fn, …).
            values = a.data.map { v in
                let bits = v.isNaN ? 0x7ff8_0000_0000_0000 : v.bitPattern
                return (0..<8).map { String(format: "%02x", (bits >> (8 * $0)) & 0xff) }.joined()
            }.joined()
        case .failure(let e):
            swift = "rejected"
            switch e {
            case .badHeader: error = "badHeader"
            case .unsupportedDType: error = "unsupportedDType"
            case .fortranOrder: error = "fortranOrder"
            default: error = "other"
            }
            message = e.description
        }
    }
}

/// Aborts the process, naming the file, when one decode runs longer than `limit`: a hang
/// would otherwise stall the test run instead of failing it.
final class Watchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var current: (path: String, since: ContinuousClock.Instant)?
    private var stopped = false

    init(limit: Duration) {
        Thread.detachNewThread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 0.5)
                let (path, since, done) = lock.withLock { (current?.path, current?.since, stopped) }
                if done { return }
                if let path, let since, ContinuousClock.now - since > limit {
                    FileHandle.standardError.write(Data("npy fuzz: Npy.decode hangs on \(path)\n".utf8))
                    abort()
                }
            }
        }
    }

    func begin(_ path: String) { lock.withLock { current = (path, .now) } }
    func end() { lock.withLock { current = nil } }
    func stop() { lock.withLock { stopped = true } }
}

/// Mutations of a `.npy` file: blind byte-level ones, and edits of the header text aimed at
/// the parser's corners (huge, signed and odd-syntax numbers, duplicate and unknown keys,
/// other dtypes, lost newlines, wrong length fields).
enum Mutator {
    static let interestingBytes: [UInt8] = [0, 0xff, 0x7f, 0x80, 0xe9] + Array("\n \t\r'\",(){}:-+L09\\#".utf8)
    static let numbers = [
        "4294967296", "2305843009213693952", "9223372036854775807", "9223372036854775808",
        "18446744073709551616", "99999999999999999999", "-1", "-0", "+1", "0", "00", "01", "1L",
        "1 L", "1l", "1_0", "0x1", "1.0", "True", "65",
    ]
    static let shapes = [
        "()", "(6,)", "(6)", "[6]", "(2, 3)", "(3, 2)", "(6,,)", "(,)", "(0,)", "( 6 , )", "((6),)",
        "(0, 4611686018427387904)", "(0, 576460752303423488)", "(4294967296, 4294967296)",
        "(2305843009213693952, 1)", "(9223372036854775807,)", "(1, 1, 1, 1, 1, 1, 1)",
        "(" + String(repeating: "1, ", count: 65) + ")", "(5L,)", "(1, 2, 3,)",
    ]
    static let descrs = [
        "'<f4'", "'<f8'", "'>f8'", "'f8'", "'float64'", "'<i8'", "'|u1'", "\"<f8\"", "'<f8",
        "'\\x3cf8'", "'<' 'f8'", "u'<f8'", "[('a', '<f8')]", "'<f2'", "'>f2'", "'<u2'", "'<i2'", "'<V2'", "'|V2'",
        "'|u1'", "'<V1'", "'|V1'", "'<f1'", "'|b1'", "'<u4'",
    ]
    static let bools = ["True", "False", "0", "false", "None", "(False)"]
    static let keys = ["'descr'", "'shape'", "\"shape\"", "'Shape'", "'descr '", "descr", "'fortran_order'", "'extra'"]
    static let entries = ["'shape': (1,), ", "'descr': '<f4', ", "'fortran_order': True, ", "'extra': 1, ", "\"shape\": (6,), "]
    static let snippets = [" ", "\t", "\n", "\r", "\u{0C}", " # c", "\\\n", "x", "}", ",", "\u{E9}"]

    static func mutate(_ bytes: inout [UInt8], _ rng: inout SeededGenerator) {
        guard let header = headerRange(bytes) else {
            if !bytes.isEmpty { bytes[rng.below(bytes.count)] ^= 1 << (rng.next() % 8) }
            return
        }
        // Mostly inside the header, where the parser is; else anywhere, data included.
        let at = rng.next() % 3 != 0 ? header.lowerBound + rng.below(header.count) : rng.below(bytes.count)
        let keepLength = rng.next() % 4 == 0
        switch rng.next() % 10 {
        case 0: bytes[at] ^= 1 << (rng.next() % 8)
        case 1: bytes[at] = interestingBytes[rng.below(interestingBytes.count)]
        case 2: bytes.removeLast(1 + rng.below(bytes.count))
        case 3, 4:
            // Inserting or deleting inside the header mostly keeps the length field right, so
            // the parser sees the edit rather than a missing final newline.
            var text = Array(bytes[header])
            let i = rng.below(text.count + 1)
            if rng.next() % 2 == 0 {
                text.insert(contentsOf: (0...rng.below(3)).map { _ in interestingBytes[rng.below(interestingBytes.count)] }, at: i)
            } else {
                text.removeSubrange(min(i, text.count - 1)..<min(i + 1 + rng.below(3), text.count))
            }
            splice(&bytes, header, text, keepLength: keepLength)
        case 5:
            let i = 8 + rng.below(header.lowerBound - 8)
            bytes[i] = rng.next() % 2 == 0 ? bytes[i] &+ UInt8(rng.below(9)) &- 4 : 0xff
        case 6 where header.upperBound < bytes.count:
            bytes[header.upperBound + rng.below(bytes.count - header.upperBound)] ^= 1 << (rng.next() % 8)
        default: editHeader(&bytes, header, keepLength: keepLength, &rng)
        }
    }

    /// Rewrites the header text, then its length field unless `keepLength`.
    static func editHeader(_ bytes: inout [UInt8], _ range: Range<Int>, keepLength: Bool, _ rng: inout SeededGenerator) {
        var text = String(String.UnicodeScalarView(bytes[range].map { Unicode.Scalar($0) }))
        func pick(_ options: [String]) -> String { rng.pick(options) }
        func replaceOne(of pattern: String, with options: [String]) {
            let matches = text.ranges(of: try! Regex(pattern))
            guard !matches.isEmpty else { return }
            text.replaceSubrange(matches[rng.below(matches.count)], with: pick(options))
        }
        switch rng.next() % 10 {
        case 0: replaceOne(of: "[0-9]+", with: numbers)
        case 1: replaceOne(of: "\\([^)]*\\)", with: shapes)
        case 2: replaceOne(of: "'[<>|]?[a-zA-Z][0-9]'", with: descrs)
        case 3: replaceOne(of: "True|False", with: bools)
        case 4: replaceOne(of: "'[a-z_]+'", with: keys)
        case 5: if let brace = text.lastIndex(of: "}") { text.insert(contentsOf: pick(entries), at: brace) }
        case 6: if text.unicodeScalars.last == "\n" { text.unicodeScalars.removeLast(); text += pick([" ", ""]) }
        case 7: text = text.replacingOccurrences(of: "'", with: "\"")
        default:
            let offsets = text.unicodeScalars.indices
            text.unicodeScalars.insert(
                contentsOf: pick(snippets).unicodeScalars,
                at: offsets[offsets.index(offsets.startIndex, offsetBy: rng.below(text.unicodeScalars.count + 1))])
        }
        splice(&bytes, range, text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }, keepLength: keepLength)
    }

    /// Replaces the header text, and its length field unless `keepLength`.
    static func splice(_ bytes: inout [UInt8], _ range: Range<Int>, _ header: [UInt8], keepLength: Bool) {
        let width = range.lowerBound - 8
        let length = min(keepLength ? range.count : header.count, width == 2 ? 0xffff : Int(UInt32.max))
        for i in 0..<width { bytes[8 + i] = UInt8(truncatingIfNeeded: length >> (8 * i)) }
        bytes.replaceSubrange(range, with: header)
    }

    /// Where the header text lies according to the file's own length field, if it has one.
    static func headerRange(_ bytes: [UInt8]) -> Range<Int>? {
        guard bytes.count > 7 else { return nil }
        let width = bytes[6] == 1 ? 2 : 4
        guard bytes.count > 8 + width else { return nil }
        let length = (0..<width).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        let range = (8 + width)..<min(bytes.count, 8 + width + length)
        return range.isEmpty ? nil : range
    }
}
