import Foundation
import TestSupport
import Testing

@testable import IOSim

/// Seeded, time-bounded mutation fuzzers for the measured inputs a user hands iosim: Nsight
/// Compute CSVs (`iosim compare`), hardware model files and `--lengths` lists and files. Each
/// input is either refused with the reader's typed error or read into a result that holds what
/// the reader promises (finite, non-negative measurements; unique launches; finite time
/// estimates; lengths within the limits) — never a trap, never a silent nonsense value.
///
/// Environment: `IOSIM_FUZZ_SECONDS` (each fuzzer's time bound, default 5), `IOSIM_FUZZ_SEED`
/// (default fixed); each fuzzer stops after `iterationCap` inputs. A failure names the seed and
/// the iteration, which reproduce it.
@Suite struct MeasuredInputFuzz {
    static let iterationCap = 3000
    /// iosim processes the CLI fuzzer may start (each costs a process launch).
    static let cliRunsMax = 48
    static let cliRunsMin = 12

    /// One fuzzer's budget: its own seed (the common seed plus a salt) and deadline.
    struct Budget {
        let seed: UInt64
        let deadline: ContinuousClock.Instant

        init(salt: UInt64) {
            let env = ProcessInfo.processInfo.environment
            seed = (env["IOSIM_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x6D65_6173_7572_6564) &+ salt
            deadline = .now + .seconds(env["IOSIM_FUZZ_SECONDS"].flatMap { Double($0) } ?? 5)
        }

        var expired: Bool { ContinuousClock.now >= deadline }
    }
}
