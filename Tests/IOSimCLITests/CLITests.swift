import Foundation
import IOSim
import NpyIO
import Testing

@testable import IOSimCLI

@Suite struct CommandLineContract {
    @Test func helpListsEveryFlagOfTheContract() {
        let help = IOSimCommand.helpMessage(for: Simulate.self)
        for flag in [
            "--N", "--Nk", "--M", "--d", "--batch", "--heads", "--kv-heads", "--dtype", "--schedule",
            "--Br", "--Bc", "--tiles", "--causal", "--window", "--alignment", "--pack-gqa", "--stages", "--warps", "--hardware",
            "--model", "--format", "--mode",
        ] {
            #expect(help.contains(flag + " "), "\(flag)")
        }
        #expect(IOSimCommand.helpMessage().contains("iosim --N 4096 --M 100KB"))
    }

    @Test func jsonOutputHasTheContractFieldNames() throws {
        let p = AttentionProblem(n: 1000, d: 64, heads: 2)
        let r = Simulator.simulate(.fa2, p, capacity: 100_000)
        let text = JSON.object([("problem", Render.problem(p, capacity: 100_000)), ("results", .array([Render.result(r)]))]).text
        let obj = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        let problem = obj["problem"] as! [String: Any]
        #expect(Set(problem.keys) == ["N", "Nk", "d", "batch", "heads", "kv_heads", "dtype", "causal", "M_bytes", "M_elements"])
        let result = (obj["results"] as! [[String: Any]])[0]
        for key in ["schedule", "Br", "Bc", "footprint_bytes", "hbm", "sram", "bound", "ratio", "feasible"] {
            #expect(result[key] != nil, "\(key)")
        }
        let hbm = result["hbm"] as! [String: Any]
        #expect(Set(hbm.keys) == ["reads", "writes", "read_bytes", "write_bytes", "by_tensor"])
        #expect(Set((hbm["by_tensor"] as! [String: Any]).keys) == ["Q", "K", "V", "O", "LSE"])
        #expect((result["bound"] as! [String: Any])["regime"] as? String == "M>=d^2")
        let infeasible = Render.result(Simulator.simulate(.fa2, p, capacity: 10, tiles: TileRequest()))
        #expect(infeasible.text.contains("\"feasible\": false") && infeasible.text.contains("\"reason\""))
    }

    func iosim(_ args: [String]) throws -> (Int32, String, String) {
        let r = CLI.run(args)
        return (r.status, r.out, r.err)
    }

    @Test(arguments: [
        ["--N", "0"], ["--N", "12.5"], ["--M", "100XB"], ["--schedule", "fa9"], ["--dtype", "fp4"],
        ["--heads", "3", "--kv-heads", "2"], ["--tiles", "best"], ["--format", "xml"],
        ["--schedule", "fa2", "--Br", "4096", "--Bc", "4096"],
        ["attention", "--q", "/nonexistent.npy", "--k", "k", "--v", "v", "--out", "o.npy"],
    ])
    func badInputGivesOneLineOnStderrAndANonZeroExit(args: [String]) throws {
        let (status, _, err) = try iosim(args)
        #expect(status != 0)
        #expect(err.split(separator: "\n").count == 1, "\(err)")
        #expect(err.hasPrefix("iosim: "))
    }

    @Test func mainJobEchoesTheResolvedMAndEverySchedule() throws {
        let (status, out, _) = try iosim(["--N", "4096", "--M", "100KB"])
        #expect(status == 0)
        #expect(out.contains("M = 100KB = 100000 bytes"))
        for s in ["standard", "fa1", "fa2", "fa3", "small-m"] { #expect(out.contains(s)) }
    }

    @Test func modelFillsHeadsKVHeadsAndDAndHardwareAddsATimeEstimate() throws {
        let (status, out, err) = try iosim([
            "--N", "2048", "--model", "llama-3-8b", "--hardware", "h100-sxm",
            "--schedule", "fa2,fa3", "--format", "json",
        ])
        #expect(status == 0, "\(err)")
        let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        let problem = obj["problem"] as! [String: Any]
        #expect(problem["heads"] as? Int == 32 && problem["kv_heads"] as? Int == 8 && problem["d"] as? Int == 128)
        #expect(problem["M_bytes"] as? Int == 232_448 + 262_144, "H100 shared memory per block + register file")
        for r in obj["results"] as! [[String: Any]] { #expect((r["time_estimate_s"] as? Double ?? 0) > 0) }
        let (plain, text, _) = try iosim(["--N", "2048", "--schedule", "fa2", "--format", "json"])
        #expect(plain == 0 && !text.contains("time_estimate_s"))
    }

    @Test func sweepCarriesEveryScheduleAndTheTimeColumn() throws {
        let (status, out, _) = try iosim(["sweep", "--N", "1K,2K", "--M", "100KB", "--hardware", "h100-sxm"])
        #expect(status == 0)
        let lines = out.split(separator: "\n").map(String.init)
        let header = lines[0].split(separator: ",").map(String.init)
        let time = try #require(header.firstIndex(of: "time_estimate_s"))
        #expect(header.last == "pass")
        let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(rows.count == 2 * ScheduleKind.prefill.count)
        for kind in ScheduleKind.prefill { #expect(rows.contains { $0[0] == kind.rawValue }) }
        for row in rows where row[1] == "true" { #expect((Double(row[time]) ?? 0) > 0 && row.last == "forward", "\(row)") }
    }

    @Test(arguments: [["--hardware", "no-such-gpu"], ["--model", "no-such-model"]])
    func unknownOrUnusableModelsAreOneLineErrors(args: [String]) throws {
        let (status, _, err) = try iosim(args)
        #expect(status != 0 && err.split(separator: "\n").count == 1 && err.hasPrefix("iosim: "), "\(err)")
    }

    @Test func uncheckedDataModeCountsEqualCountMode() throws {
        let args = ["--N", "300", "--d", "40", "--M", "64KiB", "--schedule", "fa1,fa2", "--format", "csv"]
        let (s1, counted, _) = try iosim(args)
        let (s2, data, _) = try iosim(args + ["--mode", "data", "--no-check"])
        #expect(s1 == 0 && s2 == 0)
        #expect(counted == data && counted.split(separator: "\n").count == 3)
    }

    @Test func attentionCommandWritesOAndLSEOrNothing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("iosim-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let q = NpyArray(shape: [1, 2, 5, 4], data: (0..<40).map { Double($0 % 7) / 7 })
        let k = NpyArray(shape: [1, 1, 6, 4], data: (0..<24).map { Double($0 % 5) / 5 })
        let v = NpyArray(shape: [1, 1, 6, 3], data: (0..<18).map { Double($0) })
        try AtomicFiles.write([(dir + "/q.npy", Npy.encode(q)), (dir + "/k.npy", Npy.encode(k)), (dir + "/v.npy", Npy.encode(v))])
        let (ok, _, _) = try iosim([
            "attention", "--q", dir + "/q.npy", "--k", dir + "/k.npy", "--v", dir + "/v.npy",
            "--out", dir + "/o.npy", "--lse", dir + "/l.npy", "--causal",
        ])
        #expect(ok == 0)
        #expect(try AtomicFiles.readNpy(dir + "/o.npy").shape == [1, 2, 5, 3])
        #expect(try AtomicFiles.readNpy(dir + "/l.npy").shape == [1, 2, 5])
        let (bad, _, err) = try iosim([
            "attention", "--q", dir + "/q.npy", "--k", dir + "/v.npy", "--v", dir + "/v.npy",
            "--out", dir + "/o2.npy",
        ])
        #expect(bad != 0 && err.contains("d ="))
        #expect(!FileManager.default.fileExists(atPath: dir + "/o2.npy"))
    }
}
