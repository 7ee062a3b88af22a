import Foundation
import Testing

/// Exit codes: 64 (the argument parser's EX_USAGE) for every mistake on the command line, be it
/// found by the parser (a typed option's unknown value) or by a command's `validate()`; 1 for a
/// failed check and for failures found while running. Either way one line on stderr.
@Suite struct ExitCodes {
    static func oneLine(_ r: (status: Int32, out: String, err: String), status: Int32) -> Bool {
        r.status == status && r.err.split(separator: "\n").count == 1 && r.err.hasPrefix("iosim: ")
            && !r.err.contains("Usage:") && !r.err.contains("Error:")
    }

    @Test(arguments: [
        ["--dtype", "fp4"], ["--tiles", "best"], ["--format", "xml"], ["--mode", "fast"], ["--alignment", "middle"],
        ["--schedule", "fa9"], ["--schedule", "fa2,bogus"], ["sweep", "--format", "table"], ["verify", "--inputs", "gaussian"],
        ["verify", "--alignment", "left"], ["attention", "--q", "q", "--k", "k", "--v", "v", "--out", "o", "--alignment", "x"],
    ])
    func unknownValuesOfTypedOptionsAreUsageErrors(args: [String]) throws {
        let r = try Repo.run(args)
        #expect(Self.oneLine(r, status: 64), "\(args): \(r.status) \(r.err)")
        #expect(r.err.contains("invalid"), "\(r.err)")
    }

    @Test func anUnknownScheduleIsRefusedWithTheRegistrysNames() throws {
        let r = try Repo.run(["--schedule", "fa2,bogus"])
        #expect(r.status == 64 && r.err.contains("'bogus'") && r.err.contains("small-m"), "\(r.err)")
    }

    @Test(arguments: [
        ["--window", "0"], ["--window", "-3"], ["--window", "16777217"], ["--Nk", "0"], ["--N", "0"], ["--N", "12.5"],
        ["--heads", "8", "--kv-heads", "3", "--pack-gqa"], ["--heads", "3", "--kv-heads", "2"], ["--warps", "-1"],
        ["--stages", "9223372036854775800"], ["--Br", "0"], ["--d", "0"], ["--batch", "0"], ["--M", "-100KB"],
        ["--M", "100XB"], ["--N", "9223372036854775807"], ["--N", "1M", "--batch", "1000000", "--heads", "1000000"],
        ["--schedule", "small-m", "--d", "4294967296", "--M", "999999GB"],
        ["sweep", "--N", "1...9223372036854775807"], ["sweep", "--N", "1K...4K", "--Nk", "0"], ["sweep", "--M", "1KB...x"],
        ["verify", "--window", "0"], ["verify", "--N", "300", "--Nk", "0"],
        ["attention", "--q", "q", "--k", "k", "--v", "v", "--out", "o", "--scale", "nan"],
        ["fp8-error", "--d", "80"], ["fp8-error", "--N", "0"],
    ])
    func validateRefusalsAreUsageErrors(args: [String]) throws {
        let r = try Repo.run(args)
        #expect(Self.oneLine(r, status: 64), "\(args): \(r.status) \(r.err)")
    }

    @Test func usageErrorsNameTheFlag() throws {
        #expect(try Repo.run(["--window", "0"]).err == "iosim: --window must be a positive integer, got 0\n")
        #expect(try Repo.run(["--d", "0"]).err == "iosim: --d must be a positive integer, got 0\n")
        #expect(
            try Repo.run(["--heads", "8", "--kv-heads", "3", "--pack-gqa"]).err
                == "iosim: --heads (8) must be a multiple of --kv-heads (3)\n")
        #expect(try Repo.run(["--Nk", "0"]).err.hasPrefix("iosim: --Nk must be a positive integer"))
        #expect(try Repo.run(["--d", "20000"]).err == "iosim: --d is 20000, above iosim's limit of 16384\n")
    }

    @Test(arguments: [
        ["--M", "1", "--tiles", "paper"], ["--M", "7", "--dtype", "fp64", "--tiles", "paper", "--schedule", "fa2"],
        ["--hardware", "no-such-gpu"], ["--model", "no-such-model"],
        ["--N", "64K", "--batch", "512", "--heads", "512", "--mode", "data"],
        ["attention", "--q", "/nonexistent.npy", "--k", "k", "--v", "v", "--out", "o.npy"],
    ])
    func runtimeFailuresExitOne(args: [String]) throws {
        let r = try Repo.run(args)
        #expect(Self.oneLine(r, status: 1), "\(args): \(r.status) \(r.err)")
    }

    @Test func verifyThatChecksNothingExitsOne() throws {
        let r = try Repo.run(["verify", "--N", "200", "--M", "1KiB", "--d", "80", "--schedule", "fa1,fa3"])
        #expect(Self.oneLine(r, status: 1) && r.err.contains("nothing was checked"), "\(r.err)")
    }

    @Test func verifyOfANamedScheduleThatCannotRunExitsOne() throws {
        let r = try Repo.run(["verify", "--N", "200", "--M", "1KiB", "--d", "80", "--schedule", "fa1"])
        #expect(r.status == 1 && r.out.contains("not checked"), "\(r.out) \(r.err)")
    }

    /// small-m subtracts no row maximum: under outlier inputs its exp overflows fp16, so it cannot
    /// produce the reference's values. verify reports that schedule as failed, checks the others,
    /// and exits 1.
    @Test func verifyWithAFailingScheduleExitsOneAndStillChecksTheOthers() throws {
        let r = try Repo.run(["verify", "--N", "1000", "--M", "64KiB", "--inputs", "outliers", "--schedule", "fa2,small-m"])
        #expect(r.status == 1, "\(r.out) \(r.err)")
        #expect(r.out.contains("fa2 (tiles") && r.out.contains("PASS"), "\(r.out)")
        #expect(r.out.contains("small-m (tiles") && r.out.contains("FAIL"), "\(r.out)")
        // A run longer than two seconds (a loaded machine) shows its progress on stderr first.
        #expect(r.err.hasSuffix("\niosim: verify failed for small-m\n") || r.err == "iosim: verify failed for small-m\n", "\(r.err)")
    }

    @Test func verifyThatPassesExitsZero() throws {
        let r = try Repo.run(["verify", "--N", "300", "--d", "64", "--M", "64KiB", "--dtype", "fp16", "--causal"])
        #expect(r.status == 0, "\(r.out) \(r.err)")
    }

    @Test func helpAndVersionExitZero() throws {
        for args in [["--help"], ["verify", "--help"], ["--version"]] {
            let r = try Repo.run(args)
            #expect(r.status == 0 && r.err.isEmpty, "\(args)")
        }
    }

    @Test func exitCodesAreDocumentedInTheRootHelpAndTheReadme() throws {
        let help = try Repo.run(["--help"]).out
        #expect(help.contains("64  a usage error") && help.contains("1   a failed check"))
        let readme = try String(contentsOf: Repo.root.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("**64**") && readme.contains("**1**"))
    }
}
