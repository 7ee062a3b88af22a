import Foundation
import IOSimChecking
import IOSimCore
import IOSimFormats
import IOSimTimeModel

/// The sweeps behind the report's simulator plots (`iosim report`). Each returns its points in
/// order; a front end writes them out (the CLI as CSV files for the notebooks).
public enum ReportSweeps {
    /// One simulated point: the problem, M in bytes, and the schedule's result there.
    public struct Point: Sendable {
        public var problem: AttentionProblem
        public var capacity: Int
        public var result: ScheduleResult
    }

    /// The problem of the M and warps sweeps: N = 4096, d = 64, fp16, one head.
    public static let problem = AttentionProblem(n: 4096, d: 64)

    /// HBM traffic against M at N = 4096, d = 64, fp16: every registered schedule with its
    /// `optimal` tiles, at M = 2^11 … 2^20 bytes in half-octave steps (`small`: five points).
    public static func trafficVsM(small: Bool) -> [Point] {
        let ms =
            small
            ? [2048, 8192, 32768, 131_072, 524_288]
            : stride(from: 11.0, through: 20.0, by: 0.5).map { Int(pow(2, $0).rounded()) }
        return ms.flatMap { m in
            ScheduleKind.prefill.map { k in
                Point(problem: problem, capacity: m, result: Simulator.simulate(k, problem, capacity: m, tiles: optimal))
            }
        }
    }

    /// HBM traffic against N at M = 100 KB, d = 64, fp16: every registered schedule with its
    /// `optimal` tiles, N = 1K … 64K doubling (`small`: 1K, 4K, 16K).
    public static func trafficVsN(small: Bool) -> [Point] {
        let ns = small ? [1024, 4096, 16384] : [1024, 2048, 4096, 8192, 16384, 32768, 65536]
        return ns.flatMap { n in
            let p = AttentionProblem(n: n, d: 64)
            return ScheduleKind.prefill.map { k in
                Point(problem: p, capacity: 100_000, result: Simulator.simulate(k, p, capacity: 100_000, tiles: optimal))
            }
        }
    }

    /// SRAM-side counts of fa1 (split-K) and fa2 (split-Q) against warps per thread block
    /// (1, 2, 4, 8, 16), at N = 4096, d = 64, fp16, M = 100 KB and 64×64 tiles for both; the
    /// warps are in each result's tiles.
    public static func sramVsWarps() -> [Point] {
        [1, 2, 4, 8, 16].flatMap { w in
            [ScheduleKind.fa1, .fa2].map { k in
                Point(
                    problem: problem, capacity: 100_000,
                    result: Simulator.simulate(k, problem, capacity: 100_000, tiles: TileRequest(br: 64, bc: 64, warps: w)))
            }
        }
    }

    /// The backward's traffic against M (docs/counting-rules.md §8a): standard, fa1 and fa2 backward with their
    /// `optimal` tiles at N = 4096, d = 64, fp16, over the M of ``trafficVsM(small:)``.
    public static func backwardVsM(small: Bool) -> [Point] {
        let ms =
            small
            ? [8192, 32768, 131_072, 524_288]
            : stride(from: 13.0, through: 20.0, by: 0.5).map { Int(pow(2, $0).rounded()) }
        return ms.flatMap { m in
            ScheduleKind.backward.map { k in
                Point(problem: problem, capacity: m, result: Simulator.simulate(k, problem, capacity: m, tiles: optimal, pass: .backward))
            }
        }
    }

    /// Forward and backward traffic against N at M = 100 KB, d = 64, fp16 (the M of
    /// ``trafficVsN(small:)``), each pass with its own `optimal` tiles, for the schedules with a
    /// backward: the pairs behind the backward/forward ratio.
    public static func backwardVsN(small: Bool) -> [Point] {
        let ns = small ? [1024, 4096, 16384] : [1024, 2048, 4096, 8192, 16384, 32768, 65536]
        return ns.flatMap { n in
            let p = AttentionProblem(n: n, d: 64)
            return ScheduleKind.backward.flatMap { k in
                [Pass.forward, .backward].map { pass in
                    Point(problem: p, capacity: 100_000, result: Simulator.simulate(k, p, capacity: 100_000, tiles: optimal, pass: pass))
                }
            }
        }
    }

    static let optimal = TileRequest(policy: .optimal)
}
