import Foundation
import Testing

/// Issue 12's command-line findings: each bad input is one line on stderr and a non-zero exit
/// (64 for a usage error, 1 for a failure while running), with no trap and no backtrace; each
/// silent success that checked nothing now fails.
@Suite struct CommandLineReliability {
    static func oneLineFailure(_ r: (status: Int32, out: String, err: String), status: Int32 = 1) -> Bool {
        r.status == status && r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("iosim: ")
            && !r.err.contains("Fatal error") && !r.err.contains("Stack dump")
    }

    @Test(arguments: [
        ["--N", "9223372036854775807"], ["--N", "9007199254740993K"], ["--N", "1M", "--batch", "1000000", "--heads", "1000000"],
        ["sweep", "--N", "1...9223372036854775807"], ["--stages", "9223372036854775800"], ["--warps", "-1"],
        ["--M", "-100KB"], ["--M", "9223372036854775807"], ["--schedule", "small-m", "--d", "4294967296", "--M", "999999GB"],
        ["--schedule", "fa2,bogus"],
    ])
    func boundaryValuesAreOneLineUsageErrorsNotATrap(args: [String]) throws {
        let r = try Repo.run(args)
        #expect(Self.oneLineFailure(r, status: 64), "\(args): \(r.status) \(r.err)")
    }

    @Test(arguments: [
        ["--M", "1", "--tiles", "paper"], ["--M", "7", "--dtype", "fp64", "--tiles", "paper", "--schedule", "fa2"],
        ["--N", "64K", "--batch", "512", "--heads", "512", "--mode", "data"],
    ])
    func problemsThatCannotRunGiveOneLineAndExitOne(args: [String]) throws {
        let r = try Repo.run(args)
        #expect(Self.oneLineFailure(r), "\(args): \(r.status) \(r.err)")
    }

    @Test func limitMessagesNameTheLimit() throws {
        #expect(try Repo.run(["--M", "9223372036854775807"]).err.contains("1PiB"))
        #expect(try Repo.run(["--N", "9223372036854775807"]).err.contains("16777216"))
        #expect(try Repo.run(["--warps", "-1"]).err.contains("positive"))
    }

    @Test func millionsOfIdenticalHeadsAtOneMillionTokensAreCounted() throws {
        let r = try Repo.run(["--N", "1M", "--batch", "100", "--heads", "100", "--format", "json", "--schedule", "fa2"])
        #expect(r.status == 0 && r.out.contains("\"feasible\": true"), "\(r.err)")
    }

    @Test func verifyThatCheckedNothingFails() throws {
        let r = try Repo.run(["verify", "--N", "200", "--M", "1KiB", "--d", "80", "--schedule", "fa1"])
        #expect(r.status != 0 && r.out.contains("not checked"), "\(r.out) \(r.err)")
    }

    @Test func missingTensorRateKeepsTheCountsAndSaysWhyPerRow() throws {
        for (hw, dtype) in [("h100-sxm", "fp32"), ("a100-80gb", "fp8")] {
            let r = try Repo.run(["--N", "1024", "--hardware", hw, "--dtype", dtype, "--format", "json"])
            #expect(r.status == 0, "\(r.err)")
            #expect(r.out.contains("\"hbm\"") && r.out.contains("\"time_estimate_error\""), "\(hw) \(dtype)")
            #expect(!r.out.contains("time_estimates cover"))
        }
        let fp16 = try Repo.run(["--N", "1024", "--hardware", "h100-sxm", "--format", "json"])
        #expect(fp16.out.contains("time_estimate_s") && !fp16.out.contains("time_estimate_error"))
    }

    @Test func scheduleListsComeInReportOrderOnceEach() throws {
        func names(_ list: String) throws -> [String] {
            let r = try Repo.run(["--N", "512", "--schedule", list, "--format", "csv"])
            return r.out.split(separator: "\n").dropFirst().map { String($0.split(separator: ",")[0]) }
        }
        #expect(try names("fa2,fa1") == ["fa1", "fa2"])
        #expect(try names("fa2,fa2") == ["fa2"])
        #expect(try names("fa2,all") == ["standard", "fa1", "fa2", "fa3", "small-m"])
        #expect(try Repo.run(["--schedule", "bogus"]).err.contains("small-m"))
    }

    @Test func modelsHardwareAndVersionWorkFromAnyFolder() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Repo.run(["--N", "1024", "--model", "llama-3-8b", "--hardware", "h100-sxm"], in: dir)
        #expect(r.status == 0 && r.out.contains("heads=32"), "\(r.err)")
        let v = try Repo.run(["--version"], in: dir)
        #expect(v.status == 0 && v.out.first?.isNumber == true)
    }

    @Test func reportWithABadGPUFolderFailsInOneLineAndLeavesNothing() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out")
        let r = try Repo.run(["report", "--small", "--out", out.path, "--gpu", dir.appendingPathComponent("nope").path])
        #expect(Self.oneLineFailure(r) && r.err.contains("traffic.csv"), "\(r.err)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: out.path))?.isEmpty ?? true)
    }

    @Test func reportIntoAFileSaysSo() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("x")
        try Data("keep".utf8).write(to: file)
        let r = try Repo.run(["report", "--small", "--out", file.path])
        #expect(Self.oneLineFailure(r) && r.err.contains("is a file"), "\(r.err)")
        #expect(try Data(contentsOf: file) == Data("keep".utf8))
    }

    @Test func malformedHardwareFileNamesTheLine() throws {
        let dir = try Repo.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("hw.json")
        try Data("{\n \"name\": \"x\",\n \"sms\": true,\n".utf8).write(to: file)
        let r = try Repo.run(["--N", "512", "--hardware", file.path])
        #expect(Self.oneLineFailure(r) && r.err.contains("line"), "\(r.err)")
    }
}
