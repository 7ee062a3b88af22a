import Foundation
@testable import IOSim
import Testing

/// Seeded mutation fuzzing of the size/count parser and the model-file reader (issue 12): every
/// input either parses to a value inside the tool's limits or throws the reader's typed error —
/// never a trap. Iterations: `IOSIM_FUZZ_ITERATIONS` (default 3000 each).
@Suite struct InputFuzzing {
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

    static let models: [(kind: String, bytes: [UInt8])] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return ["hardware/h100-sxm", "hardware/l4", "workloads/llama-3-8b"].map {
            ($0, Array(FileManager.default.contents(atPath: root.path + "/Models/\($0).json")!))
        }
    }()

    static let tokens = ["true", "false", "null", "1e308", "-1", "0", "1e14", "999999999999999", "\"\"", "{", "}", "[", "]",
                         ",", ":", "\"sms\": 1, ", "\\u0000", "\"\\", "9223372036854775808", "1.5", "NaN", "\u{FF}"]

    @Test func mutatedModelFilesParseWithinRangesOrThrow() {
        var rng = Rng(state: 34)
        for _ in 0..<Self.iterations {
            let (kind, seed) = rng.pick(Self.models)
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
