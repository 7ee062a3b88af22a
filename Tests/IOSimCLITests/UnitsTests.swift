import ArgumentParser
import Foundation
import IOSim
import Testing

@testable import IOSimCLI

/// Sizes and counts on the command line (`--M`, `--N`, sweep ranges): every refusal is a usage
/// error (`ValidationError`) that says why.
@Suite struct SizeParsing {
    @Test func unitsParseDecimalAndBinaryPrefixes() throws {
        #expect(try Units.bytes("100KB") == 100_000)
        #expect(try Units.bytes("228kib") == 233_472)
        #expect(try Units.bytes("1.5MB") == 1_500_000)
        #expect(try Units.bytes("4096") == 4096 && Units.bytes("64 B") == 64 && Units.bytes("1GiB") == 1 << 30)
        for bad in ["", "abc", "100XB", "-5KB", "0", "1.5B", "1e3"] {
            #expect(throws: ValidationError.self, "\(bad)") { try Units.bytes(bad) }
        }
        #expect(try Units.count("4K", name: "N") == 4096 && Units.count("1M", name: "N") == 1 << 20)
        #expect(throws: ValidationError.self) { try Units.count("4.5", name: "N") }
        #expect(try Units.counts("1K...5K", name: "N") == [1024, 2048, 4096, 5120])
    }

    @Test(arguments: ["-100KB", "9223372036854775807", "1e300", "2PiB", "0.5", "1.5B", "KB", "", "nan", "inf", "1,0KB"])
    func badSizesSayWhy(text: String) {
        #expect(throws: ValidationError.self) { try Units.bytes(text) }
    }

    @Test func largestSizeIsAcceptedAndOneMoreIsNot() throws {
        #expect(try Units.bytes("1048576GiB") == Limits.maxCapacityBytes)
        #expect(throws: ValidationError.self) { try Units.bytes("\(Limits.maxCapacityBytes + 1)") }
    }

    @Test(arguments: ["9223372036854775807", "9007199254740993K", "16385K", "-1", "0", "1.5K", "٣"])
    func countsAboveTheLimitOrMalformedAreRefused(text: String) {
        #expect(throws: ValidationError.self) { try Units.count(text, name: "N") }
    }

    @Test func rangesStopAtTheLimit() throws {
        #expect(throws: ValidationError.self) { try Units.counts("1...9223372036854775807", name: "N") }
        #expect(try Units.counts("1...16M", name: "N").count == 25)
    }

    @Test func countErrorsNameTheirFlag() {
        do { _ = try Units.count("0", name: "Nk"); Issue.record("0 was accepted") } catch {
            #expect(error.message.hasPrefix("--Nk "), "\(error.message)")
        }
    }
}

/// Seeded mutation fuzzing of the size and count parsers: every input parses to a value inside
/// the tool's limits or throws a usage error, never traps. Iterations: `IOSIM_FUZZ_ITERATIONS`
/// (default 3000).
@Suite struct SizeFuzzing {
    static let iterations = Int(ProcessInfo.processInfo.environment["IOSIM_FUZZ_ITERATIONS"] ?? "") ?? 3000

    /// SplitMix64: a fixed seed gives the same inputs on every machine.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
        mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
    }

    static let pieces = [
        "0", "1", "7", "16", "1024", "4096", "9223372036854775807", "9223372036854775808", "18446744073709551616",
        "1125899906842624", "1e18", "1e-3", ".", "-", "+", "e", "K", "M", "G", "KB", "MiB", "GiB", "B", "kib",
        " ", "...", ",", "nan", "inf", "0x10", "١", "½", "\u{0}",
    ]

    @Test func sizesAndCountsParseWithinLimitsOrThrow() {
        var rng = Rng(state: 12)
        for _ in 0..<Self.iterations {
            let text = (0..<(1 + rng.below(4))).map { _ in rng.pick(Self.pieces) }.joined()
            if let b = try? Units.bytes(text) { #expect(b >= 1 && b <= Limits.maxCapacityBytes, "\(text)") }
            if let n = try? Units.count(text, name: "N") { #expect(n >= 1 && n <= Limits.maxSequence, "\(text)") }
            if let r = try? Units.counts(text, name: "N") {
                #expect(r.allSatisfy { $0 >= 1 && $0 <= Limits.maxSequence }, "\(text)")
            }
        }
    }
}
