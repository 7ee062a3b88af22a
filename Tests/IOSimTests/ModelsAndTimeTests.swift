import Foundation
import TestSupport
import Testing

@testable import IOSim

@Suite struct HardwareAndWorkloadModels {
    func files(_ kind: String) throws -> [String] {
        let folder = Repo.models.appendingPathComponent(kind).path
        return try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".json") }.sorted()
            .map { "\(folder)/\($0)" }
    }

    @Test func everyHardwareFileParsesAndCitesASourceForEveryNumber() throws {
        let paths = try files("hardware")
        #expect(paths.count >= 5)
        for path in paths {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            _ = try HardwareModel(json: data, path: path)
            let sources = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["sources"] as? [String: String])
            for field in HardwareModel.fields where !["name", "sources"].contains(field) {
                #expect((sources[field] ?? "").count > 10, "\(path): \(field) has no source")
            }
        }
        let names = Set(try paths.map { try HardwareModel(json: Data(contentsOf: URL(fileURLWithPath: $0)), path: $0).name })
        for gpu in ["H100", "H200", "A100", "L4", "RTX 4090"] { #expect(names.contains { $0.contains(gpu) }, "\(gpu)") }
    }

    @Test func everyWorkloadFileParses() throws {
        for path in try files("workloads") {
            let w = try WorkloadModel(json: Data(contentsOf: URL(fileURLWithPath: path)), path: path)
            #expect(w.heads % w.kvHeads == 0 && w.d > 0)
        }
    }

    @Test func aBrokenFileIsOneErrorNamingTheFileAndTheField() throws {
        let good = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: Repo.hardwareModel("h100-sxm"))) as? [String: Any])
        var missing = good
        missing.removeValue(forKey: "clock_hz")
        #expect(throws: ModelError.missingField(path: "x.json", field: "clock_hz")) {
            try HardwareModel(json: JSONSerialization.data(withJSONObject: missing), path: "x.json")
        }
        var wrong = good
        wrong["sms"] = "many"
        #expect(throws: ModelError.wrongType(path: "x.json", field: "sms", expected: "a positive integer (got \"many\")")) {
            try HardwareModel(json: JSONSerialization.data(withJSONObject: wrong), path: "x.json")
        }
        #expect(throws: ModelError.self) { try HardwareModel(json: Data("{\"name\": ".utf8), path: "x.json") }
        #expect(ModelError.missingField(path: "x.json", field: "sms").description == "x.json: missing field 'sms'")
    }
}

@Suite struct TimeEstimates {
    let h100: HardwareModel

    init() throws { h100 = try ModelFile.hardware(Repo.hardwareModel("h100-sxm").path) }

    func time(_ kind: ScheduleKind, _ p: AttentionProblem, _ br: Int = 128, _ bc: Int = 128) throws -> TimeEstimate.Breakdown {
        let r = Simulator.simulate(kind, p, capacity: h100.onChipPerBlock, tiles: TileRequest(br: br, bc: bc))
        return try #require(try TimeEstimate.estimate(r, p, h100))
    }

    @Test func fa3OverlapMakesItFasterThanFa2OnTheSameTiles() throws {
        let p = AttentionProblem(n: 4096, d: 128, batch: 4, heads: 16)
        #expect(try time(.fa3, p).seconds < time(.fa2, p).seconds)
    }

    @Test func oneCTAMoreThanTheSMsCostsASecondWave() throws {
        // 132 SMs; 1 head of N = 132·128 rows is one wave, 133·128 rows two.
        let one = try time(.fa2, AttentionProblem(n: 132 * 128, d: 64), 128, 128)
        let two = try time(.fa2, AttentionProblem(n: 133 * 128, d: 64), 128, 128)
        #expect(one.ctas == 132 && two.ctas == 133)
        #expect(two.seconds / one.seconds > 1.9)
    }

    @Test func nonCausalFa2TimeIsAtLeastItsTensorAndExpTime() throws {
        let p = AttentionProblem(n: 4096, d: 64, batch: 4, heads: 32)
        let flops = 4.0 * 4096 * 4096 * 64 * 128
        let scores = 4096.0 * 4096 * 128
        let floor = flops / 636e12 + scores / (16 * 1.83e9 * 132) + 3.5 * scores / (128 * 1.83e9 * 132)
        let t = try time(.fa2, p).seconds
        #expect(t >= floor && t < 1.2 * floor, "\(t) vs \(floor)")
    }

    @Test func causalHalvesTheWorkButNotTheCriticalPath() throws {
        let open = try time(.fa2, AttentionProblem(n: 16384, d: 128, heads: 16), 128, 64)
        let causal = try time(.fa2, AttentionProblem(n: 16384, d: 128, heads: 16, causal: true), 128, 64)
        #expect(causal.seconds < 0.75 * open.seconds && causal.seconds > 0.45 * open.seconds)
    }

    @Test func fp32HasNoTensorRateAndIsRefused() {
        #expect(throws: ModelError.self) { try h100.tensorFlops(.fp32) }
    }
}

@Suite struct RecordedTimeEstimates {
    /// Reports/gpu/time_estimates.csv holds, beside each measured H100 kernel time, the estimate
    /// the simulator gave; it must still be what the simulator says (no stale column).
    @Test func recordedEstimatesAreWhatTheModelSaysNow() throws {
        let h100 = try ModelFile.hardware(Repo.hardwareModel("h100-sxm").path)
        let table = try CSVTable(contentsOf: Repo.gpuReports.appendingPathComponent("time_estimates.csv"))
        #expect(table.rows.count >= 24)
        for row in table.rows {
            let kind = try row.value("schedule") { ScheduleKind(rawValue: $0) }
            let p = AttentionProblem(
                n: try row.int("N"), d: try row.int("d"), batch: try row.int("batch"),
                heads: try row.int("heads"), causal: try row.bool("causal"))
            // Rows name their pass (forward or backward) and, for fa3 kernels, the ring's stages.
            let pass = try row.value("pass") { Pass(rawValue: $0) }
            let stages = try row.int("stages")
            let tiles = TileRequest(br: try row.int("Br"), bc: try row.int("Bc"), stages: stages)
            let r = Simulator.simulate(kind, p, capacity: h100.onChipPerBlock, tiles: tiles, pass: pass)
            let breakdown = pass == .forward ? try TimeEstimate.estimate(r, p, h100) : try TimeEstimate.passEstimate(r, p, h100)
            let estimate = try #require(breakdown).seconds * 1e6
            #expect(try r.counts?.hbm.bytes == row.int("hbm_bytes"), "\(row)")
            #expect(try abs(estimate - row.double("estimated_us")) <= 0.05, "\(row)")
        }
    }
}
