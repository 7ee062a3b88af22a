import Foundation
import TestSupport
import Testing

@testable import IOSim

/// fa3's time model (docs/time-model.md, "fa3"): the ping-pong pipeline of ``WarpgroupPipeline``
/// with measured per-clock rates, only on hardware with wgmma and TMA.
@Suite struct FA3TimeModel {
    let h100: HardwareModel

    init() throws { h100 = try ModelFile.hardware(Repo.hardwareModel("h100-sxm").path) }

    func estimate(_ p: AttentionProblem, _ hw: HardwareModel, br: Int = 128, bc: Int = 128) throws -> TimeEstimate.Breakdown? {
        let r = Simulator.simulate(.fa3, p, capacity: hw.onChipPerBlock, tiles: TileRequest(br: br, bc: bc, stages: 2))
        return try TimeEstimate.estimate(r, p, hw)
    }

    @Test func aHopperEstimateFollowsThePingPongPeriodOnAHandComputedCase() throws {
        // N = 4096, d = 128, 4 × 16 heads, 128 × 128 tiles: 2,048 CTAs of 32 rounds, 16 waves on
        // 132 SMs. One round (k = 2 warpgroups × 64 × 128 scores), cycles:
        //   g = 4·8192·128 / 4095.88 = 1024.03 (989.4e12 / (132 · 1.83e9) FLOP/clk/SM)
        //   softmax latency = 32·4.09 (row max over 128/4 values) + 2·(24.02 + 4.09) (quad shuffles)
        //                     + 17.07 (last ex2) + 2·4.11 (adds after it) = 212.39
        //   E = 64·128 + 2·128 = 8448 exponentials, E/16 = 528; s = 212.39 + 2·528 = 1268.39; e = 528
        //   tensor = 2·1024.03 + 0.121·2·1268.39 = 2355.01
        //   chain = 1024.03 + 1268.39 + 0.354·min(1268.39, 1024.03) = 2654.93; k·e = 1056
        let flopsPerClock = 989.4e12 / (132 * 1.83e9)
        let g = 4 * 8192 * 128 / flopsPerClock
        let latency: Double = 32 * 4.09 + 2 * (24.02 + 4.09) + 17.07 + 2 * 4.11
        let s: Double = latency + 2 * 8448 / 16.0
        #expect(abs(s - 1268.39) < 1e-9)
        let period = max(2 * g + 0.121 * 2 * s, g + s + 0.354 * min(s, g), 2 * 528)
        #expect(abs(period - 2654.93) < 0.01)
        let expected = 16 * 32 * period / 1.83e9
        let t = try #require(try estimate(AttentionProblem(n: 4096, d: 128, batch: 4, heads: 16), h100))
        #expect(t.ctas == 2048)
        #expect(abs(t.seconds - expected) <= 1e-9 * expected, "\(t.seconds) vs \(expected)")
    }

    @Test func threeWarpgroupsOf192RowsShareTheExponentialsAndTheChainBinds() throws {
        // Br = 192 at d = 64, F = 4096: k = 3, g = 512, s = 212.39 + 3·528 = 1796.39; the chain
        // 512 + s + 0.354·min(s, 2·512) = 2670.89 wins over the tensor side (1536 + 0.121·3·s = 2188.1).
        let pipeline = try #require(h100.warpgroupPipeline)
        let round = pipeline.round(br: 192, bc: 128, d: 64, flopsPerClock: 4096, expPerClock: 16)
        #expect(round.warpgroups == 3 && round.scores == 3 * 8192)
        #expect(abs(round.softmax - 1796.39) < 1e-9)
        #expect(abs(round.period(pipeline) - (512 + 1796.39 + 0.354 * 1024)) < 1e-9)
    }

    @Test func theDerivedSoftmaxIsBelowTheProbesMeasuredSectionAloneAndShared() throws {
        // fa3_softmax_probe ran the kernel's softmax on a 64 × 128 tile with 1 and 2 warpgroups per
        // SM (Reports/gpu/fa3_section_timing.txt). The derivation counts only the dependent chain and
        // the exponentials' throughput, not every instruction, so it is a lower bound on both.
        let pipeline = try #require(h100.warpgroupPipeline)
        let text = try String(contentsOf: Repo.gpuReports.appendingPathComponent("fa3_section_timing.txt"), encoding: .utf8)
        var seen = 0
        for line in text.split(separator: "\n") where line.hasPrefix("section d=") {
            let words = line.split(separator: " ")
            let wgs = try #require(words.firstIndex(of: "warpgroups/SM").flatMap { Int(words[$0 + 1].dropLast()) })
            let measured = try #require(words.firstIndex(of: "softmax").flatMap { Double(words[$0 + 1]) })
            let derived = pipeline.softmax(bc: 128, sharing: wgs, expPerClock: h100.expPerClockPerSM)
            #expect(derived < measured, "\(line): derived \(derived)")
            seen += 1
        }
        #expect(seen == 4)
    }

    @Test(arguments: ["a100-80gb", "l4", "rtx-4090"])
    func gpusWithoutWgmmaAndTMAGiveNoFa3EstimateAndSayWhy(name: String) throws {
        let hw = try ModelFile.hardware(Repo.hardwareModel(name).path)
        #expect(!hw.hasWgmmaTMA && hw.warpgroupPipeline == nil)
        let p = AttentionProblem(n: 1024, d: 64, batch: 2, heads: 4)
        #expect(throws: ModelError.unsupported("fa3 needs wgmma and TMA (Hopper, sm_90a); \(hw.name) has neither")) {
            _ = try estimate(p, hw, br: 64, bc: 64)
        }
        // fa2 still has its estimate there.
        let fa2 = Simulator.simulate(.fa2, p, capacity: hw.onChipPerBlock, tiles: TileRequest(br: 64, bc: 64))
        #expect(try TimeEstimate.estimate(fa2, p, hw) != nil)
    }

    @Test func theHopperFilesCarryWgmmaTMAAndThePipelineOthersNeither() throws {
        for name in ["h100-sxm", "h200"] {
            let hw = try ModelFile.hardware(Repo.hardwareModel(name).path)
            #expect(hw.hasWgmmaTMA && hw.warpgroupPipeline != nil, "\(name)")
        }
        let good = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Repo.hardwareModel("h100-sxm"))) as? [String: Any])
        var missing = good
        for field in WarpgroupPipeline.fields {
            missing = good
            missing.removeValue(forKey: field)
            #expect(throws: ModelError.missingField(path: "x.json", field: field)) {
                try HardwareModel(json: JSONSerialization.data(withJSONObject: missing), path: "x.json")
            }
        }
        var notHopper = good
        notHopper["has_wgmma_tma"] = false
        #expect(
            throws: ModelError.wrongType(
                path: "x.json", field: "fmnmx_latency_cycles", expected: "absent when 'has_wgmma_tma' is false (it describes the wgmma pipeline)")
        ) { try HardwareModel(json: JSONSerialization.data(withJSONObject: notHopper), path: "x.json") }
        var unsourced = good
        var sources = try #require(good["sources"] as? [String: String])
        sources.removeValue(forKey: "mufu_ex2_latency_cycles")
        unsourced["sources"] = sources
        #expect(throws: ModelError.self) { try HardwareModel(json: JSONSerialization.data(withJSONObject: unsourced), path: "x.json") }
        var numeric = good
        numeric["has_wgmma_tma"] = 1
        #expect(throws: ModelError.wrongType(path: "x.json", field: "has_wgmma_tma", expected: "true or false (got 1.0)")) {
            try HardwareModel(json: JSONSerialization.data(withJSONObject: numeric), path: "x.json")
        }
    }
}

/// fa3's estimate beside the measured FA3-style kernels on the H100: our fa3 kernel
/// (Reports/gpu/fa3_speed.csv, 128 × 128 tiles) and cuDNN's sm90 kernel (torch-cudnn rows of
/// speed.csv, FA3's tiles). The band comes from the model's stated limits, not from the times:
/// - the estimate is a lower bound: it is the steady state alone (no per-tile prologue, pipeline
///   fill or epilogue, no K tile waits, no imbalance of the persistent deal; the softmax as its
///   dependent chain and exponentials, without the O rescale and P conversion; the datasheet
///   clock, 1.83 GHz, where the SMs ran at 1.73–1.81 GHz under wgmma);
/// - where the steady state dominates (N ≥ 4096, not causal: every CTA runs ≥ 32 rounds) the
///   time is at most the same rounds with nothing overlapped, k·(g + s) cycles each.
@Suite struct FA3EstimateAgainstMeasuredKernels {
    struct Row {
        var kernel: String
        var problem: AttentionProblem
        var br: Int
        var measured: Double
    }

    static func rows() throws -> [Row] {
        var rows: [Row] = []
        for (file, kernel) in [("fa3_speed.csv", "fa3"), ("speed.csv", "torch-cudnn")] {
            let table = try CSVTable(contentsOf: Repo.gpuReports.appendingPathComponent(file))
            for row in table.rows {
                guard try row.value("kernel", { $0 }) == kernel, try row.value("dtype", { $0 }) == "fp16" else { continue }
                let n = try row.int("N"), d = try row.int("d")
                let p = AttentionProblem(n: n, d: d, batch: 16384 / n, heads: try row.int("heads"), causal: try row.bool("causal"))
                // cuDNN gets FA3's tiles (192 × 128 at d = 64), as Benchmarks/time_estimates.py gives it.
                rows.append(Row(kernel: kernel, problem: p, br: kernel == "fa3" || d == 128 ? 128 : 192, measured: try row.double("time_us") * 1e-6))
            }
        }
        return rows
    }

    @Test func theEstimateIsBelowEveryMeasuredTimeAndWithinTheNoOverlapBoundInTheSteadyState() throws {
        let h100 = try ModelFile.hardware(Repo.hardwareModel("h100-sxm").path)
        let pipeline = try #require(h100.warpgroupPipeline)
        let rows = try Self.rows()
        #expect(rows.count == 24)
        var bounded = 0
        for row in rows {
            let p = row.problem
            let r = Simulator.simulate(.fa3, p, capacity: h100.onChipPerBlock, tiles: TileRequest(br: row.br, bc: 128, stages: 2))
            let estimate = try #require(try TimeEstimate.estimate(r, p, h100)).seconds
            #expect(estimate < row.measured, "\(row.kernel) \(p): \(estimate) vs \(row.measured)")
            guard p.n >= 4096, !p.causal else { continue }
            let round = pipeline.round(br: row.br, bc: 128, d: p.d, flopsPerClock: 4096, expPerClock: 16)
            let serial = Double(round.warpgroups) * (round.gemm + round.softmax) / round.period(pipeline)
            #expect(row.measured <= serial * estimate, "\(row.kernel) \(p): \(row.measured / estimate) > \(serial)")
            bounded += 1
        }
        #expect(bounded == 8)
    }
}
