import Foundation
import TestSupport
import Testing

@testable import IOSim

/// Seeded mutation fuzzing of the model-file reader (issue 12; the size parser's fuzzing is the CLI's): every
/// input either parses to a value inside the tool's limits or throws the reader's typed error —
/// never a trap. Iterations: `IOSIM_FUZZ_ITERATIONS` (default 3000 each).
@Suite struct InputFuzzing {
    static let iterations = Int(ProcessInfo.processInfo.environment["IOSIM_FUZZ_ITERATIONS"] ?? "") ?? 3000

    /// The seed files: two hardware models and a workload.
    static func models() throws -> [(kind: String, bytes: [UInt8])] {
        try ["hardware/h100-sxm", "hardware/l4", "workloads/llama-3-8b"].map {
            ($0, Array(try Data(contentsOf: Repo.models.appendingPathComponent("\($0).json"))))
        }
    }

    static let tokens = [
        "true", "false", "null", "1e308", "-1", "0", "1e14", "999999999999999", "\"\"", "{", "}", "[", "]",
        ",", ":", "\"sms\": 1, ", "\\u0000", "\"\\", "9223372036854775808", "1.5", "NaN", "\u{FF}",
    ]

    @Test func mutatedModelFilesParseWithinRangesOrThrow() throws {
        let models = try Self.models()
        var rng = SeededGenerator(seed: 34)
        for _ in 0..<Self.iterations {
            let (kind, seed) = rng.pick(models)
            var bytes = seed
            for _ in 0..<(1 + rng.below(3)) {
                let at = rng.below(bytes.count + 1)
                switch rng.below(4) {
                case 0: if at < bytes.count { bytes[at] ^= UInt8(1 << rng.below(8)) }
                case 1: bytes.insert(contentsOf: Array(rng.pick(Self.tokens).utf8), at: at)
                case 2: bytes = Array(bytes.prefix(at))
                default: if at < bytes.count { bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.below(8))) }
                }
            }
            let data = Data(bytes)
            if kind.hasPrefix("hardware") {
                if let hw = try? HardwareModel(json: data, path: "fuzz.json") {
                    #expect(hw.sms >= 1 && hw.sms <= HardwareModel.Range.sms && hw.clockHz.isFinite && hw.hbmBandwidth > 0)
                }
            } else if let w = try? WorkloadModel(json: data, path: "fuzz.json") {
                #expect(w.d <= Limits.maxHeadDim && w.heads % w.kvHeads == 0 && w.heads <= Limits.maxBatchOrHeads)
            }
        }
    }
}
