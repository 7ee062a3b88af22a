import Foundation
import TestSupport
import Testing

@testable import IOSim

/// The `--lengths` fuzzer (`SequenceLengths`); see ``MeasuredInputFuzz``.
extension MeasuredInputFuzz {
    // MARK: - Sequence lengths

    static let lengthFragments = [
        "1", "7", "42", "4096", "16777216", "16777217", "0", "00", "007", "99999999999999999999999999", "-", "-5", "-0", "+", "+5", " ",
        "\t", "\r", "\r\n", "\n", "\n\n", ",", ", ", "\u{663}", "\u{FF11}", "\u{0}", "\u{1B}", "\u{7F}", "1e3", "0x10", "\u{BD}", "\u{FEFF}",
        "\u{A0}", "a", "/", "1.5", "\u{661}\u{662}", "\u{B2}", "\u{85}", "\u{2028}",
    ]

    /// A random lengths text: mostly numbers with separators and blank space, with a few odd
    /// fragments dropped in; otherwise fragments alone.
    static func lengthsText(_ rng: inout SeededGenerator) -> String {
        guard rng.below(3) != 0 else { return (0..<rng.below(14)).map { _ in rng.pick(lengthFragments) }.joined() }
        let separator = rng.pick(["\n", "\r\n", ",", ", "])
        var parts = (0..<(1 + rng.below(8))).map { _ in
            let n = rng.below(8) == 0 ? rng.pick(["1", "16777216", "16777217", "0", "0042"]) : String(1 + rng.below(100_000))
            return rng.pick(["", "", " ", "\t"]) + n + rng.pick(["", "", " ", "\r", "\t"])
        }
        if rng.below(3) == 0 { parts.append(rng.pick(["", "", " "])) }
        var text = parts.joined(separator: separator) + rng.pick(["", "\n", "\n\n", ","])
        for _ in 0..<rng.pick([0, 0, 1, 2]) {
            var scalars = Array(text.unicodeScalars)
            scalars.insert(contentsOf: rng.pick(lengthFragments).unicodeScalars, at: rng.below(scalars.count + 1))
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            text = String(view)
        }
        return text
    }

    /// What the lengths reader should make of `text` split at `separator`, by the documented
    /// rules, without its code: the values, or nil where it must refuse.
    static func expectedLengths(_ text: String, separator: UInt8, trailingBlanksAllowed: Bool) -> [Int]? {
        let entries = Array(text.utf8).split(separator: separator, omittingEmptySubsequences: false)
        let blank: Set<UInt8> = [0x20, 0x09, 0x0D]
        var values: [Int] = []
        var sawBlank = false
        for e in entries {
            let trimmed = Array(e.drop { blank.contains($0) }.reversed().drop { blank.contains($0) }.reversed())
            if trimmed.isEmpty {
                sawBlank = true
                continue
            }
            if sawBlank { return nil }
            guard trimmed.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            // Leading zeros allowed; the value counted without overflow.
            let digits = trimmed.drop { $0 == 0x30 }
            guard digits.count <= 9, let v = Int(String(decoding: digits.isEmpty ? [0x30] : Array(digits), as: UTF8.self)),
                v >= 1, v <= Limits.maxSequence
            else { return nil }
            values.append(v)
        }
        if values.isEmpty || (sawBlank && !trailingBlanksAllowed) { return nil }
        return values
    }

    static func lengthsViolation(_ l: SequenceLengths, expected: [Int]?) -> String? {
        guard let expected else { return "accepted \(l.values) where the rules refuse" }
        if l.values != expected { return "read \(l.values), expected \(expected)" }
        if !l.values.allSatisfy({ (1...Limits.maxSequence).contains($0) }) || l.count > Limits.maxBatchOrHeads { return "out of the limits" }
        if l.sum != l.values.reduce(0, +) || l.max != l.values.max() { return "sum \(l.sum) or max \(l.max) wrong" }
        return nil
    }

    @Test func fuzzedLengthsAreRefusedWithATypedErrorOrReadWithinTheLimits() throws {
        let budget = Budget(salt: 5)
        var rng = SeededGenerator(seed: budget.seed)
        let folder = try TemporaryFolder(prefix: "iosim-lengths-fuzz")
        defer { folder.remove() }
        var (accepted, refused, iterations) = (0, 0, 0)
        while iterations < Self.iterationCap && !budget.expired {
            iterations += 1
            let text = Self.lengthsText(&rng)
            let context = "seed \(budget.seed) iteration \(iterations): \(text.debugDescription)"
            // As a file's contents.
            let fileExpected = Self.expectedLengths(text, separator: UInt8(ascii: "\n"), trailingBlanksAllowed: true)
            let fileResult = Result { () throws(SequenceLengthsError) in try SequenceLengths.parse(contents: text, name: "f.txt") }
            switch fileResult {
            case let .success(l):
                accepted += 1
                let v = Self.lengthsViolation(l, expected: fileExpected)
                #expect(v == nil, "file \(context): \(v ?? "")")
            case let .failure(e):
                refused += 1
                #expect(fileExpected == nil, "file \(context): refused (\(e)) where the rules read \(fileExpected ?? [])")
            }
            // As a comma list.
            let listExpected = Self.expectedLengths(text, separator: UInt8(ascii: ","), trailingBlanksAllowed: false)
            switch Result(catching: { () throws(SequenceLengthsError) in try SequenceLengths.parse(list: text) }) {
            case let .success(l):
                let v = Self.lengthsViolation(l, expected: listExpected)
                #expect(v == nil, "list \(context): \(v ?? "")")
            case let .failure(e):
                #expect(listExpected == nil, "list \(context): refused (\(e)) where the rules read \(listExpected ?? [])")
            }
            // As --lengths' argument: a file on disk reads as its contents; text that is no file is a
            // list, or a missing file when it looks like a path.
            if iterations % 16 == 0 {
                let path = folder.file("l\(iterations).txt")
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
                let onDisk = Result { () throws(SequenceLengthsError) in try SequenceLengths.parse(argument: path) }
                let inMemory = Result { () throws(SequenceLengthsError) in
                    try SequenceLengths.parse(contents: text, name: "l\(iterations).txt")
                }
                #expect(onDisk == inMemory, "file on disk \(context)")
            }
            if iterations % 4 == 0 {
                let argument = Result { () throws(SequenceLengthsError) in try SequenceLengths.parse(argument: text) }
                let looksLikeAPath = text.unicodeScalars.contains { $0.properties.isAlphabetic || $0 == "/" } && !text.contains(",")
                let list = Result { () throws(SequenceLengthsError) in try SequenceLengths.parse(list: text) }
                #expect(argument == (looksLikeAPath ? .failure(.noSuchFile(text)) : list), "argument \(context)")
            }
        }
        #expect(iterations >= 50 && accepted > 0 && refused > 0, "\(iterations) inputs: \(accepted) read, \(refused) refused")
    }
}
