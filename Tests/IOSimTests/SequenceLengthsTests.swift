import Foundation
import IOSim
import TestSupport
import Testing

/// `--lengths`: files and comma lists parse to the same lengths; every bad entry is refused with
/// the line or item that holds it; the limits hold; the helpers agree with their definitions.
@Suite struct SequenceLengthsParsing {
    @Test func aCommaListKeepsTheOrderGivenAndToleratesSpaces() throws {
        let l = try SequenceLengths.parse(list: "4096, 512,77 ,\t9")
        #expect(l.values == [4096, 512, 77, 9])
        #expect(l.count == 4 && l.sum == 4096 + 512 + 77 + 9 && l.max == 4096)
    }

    @Test func aSingleNumberIsABatchOfOne() throws {
        #expect(try SequenceLengths.parse(list: "128").values == [128])
    }

    @Test func aFileHasOneLengthPerLineAndMayEndWithBlankLines() throws {
        for text in ["3\n1\n2", "3\n1\n2\n", "3\r\n1\r\n2\r\n", "3\n1\n2\n\n  \n", " 3 \n1\n\t2\n"] {
            #expect(try SequenceLengths.parse(contents: text, name: "f").values == [3, 1, 2], "\(text.debugDescription)")
        }
    }

    @Test func aFileOnDiskParsesAsItsContentsAndParseArgumentPrefersTheFile() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("lengths.txt")
        try "10\n20\n30\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try SequenceLengths.parse(argument: file.path).values == [10, 20, 30])
        #expect(try SequenceLengths.parse(file: file.path).values == [10, 20, 30])
        // A missing file is named as one; a value with a comma or without letters is a list.
        let missing = dir.appendingPathComponent("nope.txt").path
        #expect(throws: SequenceLengthsError.noSuchFile(missing)) { try SequenceLengths.parse(argument: missing) }
        #expect(try SequenceLengths.parse(argument: "5,6").values == [5, 6])
        #expect(throws: SequenceLengthsError.notAnInteger(.item(2), text: "x")) { try SequenceLengths.parse(argument: "5,x") }
        #expect(throws: SequenceLengthsError.notPositive(.item(1), text: "-2")) { try SequenceLengths.parse(argument: "-2") }
    }

    @Test(arguments: [
        ("1\n2\nx\n4", SequenceLengthsError.notAnInteger(.line(3, file: "f"), text: "x")),
        ("1\n2.5\n", .notAnInteger(.line(2, file: "f"), text: "2.5")),
        ("7\n0\n", .notPositive(.line(2, file: "f"), text: "0")),
        ("7\n8\n-3\n", .notPositive(.line(3, file: "f"), text: "-3")),
        ("7\n\n8\n", .empty(.line(2, file: "f"))),
        ("1\n16777217\n", .tooLong(.line(2, file: "f"), text: "16777217", limit: 1 << 24)),
        ("99999999999999999999999999\n", .tooLong(.line(1, file: "f"), text: "99999999999999999999999999", limit: 1 << 24)),
        ("\n\n", .none(source: "f")),
    ])
    func aBadFileLineIsNamed(text: String, error: SequenceLengthsError) {
        #expect(throws: error) { try SequenceLengths.parse(contents: text, name: "f") }
        #expect(error.description.contains("line") || error.description.contains("holds no"))
    }

    @Test(arguments: [
        ("1,x,3", SequenceLengthsError.notAnInteger(.item(2), text: "x")),
        ("1,2,", .empty(.item(3))),
        (",1", .empty(.item(1))),
        ("1,,2", .empty(.item(2))),
        ("5,-1", .notPositive(.item(2), text: "-1")),
        ("0", .notPositive(.item(1), text: "0")),
        ("", .none(source: "the list")),
    ])
    func aBadListItemIsNamed(text: String, error: SequenceLengthsError) {
        #expect(throws: error) { try SequenceLengths.parse(list: text) }
    }

    @Test func theLengthLimitIsInclusive() throws {
        #expect(try SequenceLengths.parse(list: "\(Limits.maxSequence)").max == Limits.maxSequence)
        #expect(throws: SequenceLengthsError.tooLong(.item(1), text: "\(Limits.maxSequence + 1)", limit: Limits.maxSequence)) {
            try SequenceLengths([Limits.maxSequence + 1])
        }
    }

    @Test func moreSequencesThanTheBatchLimitAreRefused() {
        // One byte per entry plus its newline: 2²⁴ + 1 lines of "1".
        let text = String(repeating: "1\n", count: Limits.maxBatchOrHeads + 1)
        #expect(throws: SequenceLengthsError.tooMany(limit: Limits.maxBatchOrHeads)) {
            try SequenceLengths.parse(contents: text, name: "f")
        }
    }

    @Test func theArrayInitialiserChecksWhatTheParserChecks() {
        #expect(throws: SequenceLengthsError.notPositive(.item(2), text: "0")) { try SequenceLengths([3, 0]) }
        #expect(throws: SequenceLengthsError.none(source: "the list")) { try SequenceLengths([]) }
        #expect(throws: SequenceLengthsError.self) { try SequenceLengths(uniform: 8, batch: 0) }
    }

    @Test func aUniformBatchRepeatsItsLength() throws {
        let l = try SequenceLengths(uniform: 2048, batch: 5)
        #expect(l.values == Array(repeating: 2048, count: 5) && l.sum == 5 * 2048 && l.max == 2048)
        #expect(l.groups == [.init(length: 2048, count: 5)])
    }

    /// Groups, sum and max against their definitions, over seeded random batches.
    @Test func groupsCountEachDistinctLengthInIncreasingOrder() throws {
        var rng = SeededGenerator(seed: 16)
        for _ in 0..<50 {
            let n = 1 + rng.below(300)
            let values = (0..<n).map { _ in 1 + rng.below(40) }
            let text = values.map(String.init).joined(separator: "\n")
            let l = try SequenceLengths.parse(contents: text, name: "f")
            #expect(l.values == values)
            #expect(l.sum == values.reduce(0, +) && l.max == values.max())
            let g = l.groups
            #expect(g.map(\.length) == Array(Set(values)).sorted())
            for group in g { #expect(group.count == values.filter { $0 == group.length }.count) }
            #expect(g.map(\.count).reduce(0, +) == n)
        }
    }

    @Test func aMillionLengthsParse() throws {
        var rng = SeededGenerator(seed: 1)
        let values = (0..<1_000_000).map { _ in 1 + rng.below(Limits.maxSequence) }
        let l = try SequenceLengths.parse(contents: values.map(String.init).joined(separator: "\n") + "\n", name: "big")
        #expect(l.values == values)
    }

    @Test func errorsNameThePlaceAndNoFlag() {
        let e = SequenceLengthsError.notAnInteger(.line(3, file: "lengths.txt"), text: "abc")
        #expect(e.description.hasPrefix("line 3 of lengths.txt: \"abc\""))
        #expect(!e.description.contains("--"))
        #expect(SequenceLengthsError.empty(.item(2)).description.hasPrefix("item 2 of the list"))
    }
}
