import ArgumentParser
import AttentionReference
import Foundation
import IOSim
import Testing

@testable import IOSimCLI

/// The help's lists come from their registries, so a new schedule, dtype or model file shows up
/// without touching a help string.
@Suite struct HelpLists {
    @Test(arguments: ["simulate", "sweep", "verify"])
    func helpListsEveryScheduleHardwareAndModelName(command: String) throws {
        let r = CLI.run([command, "--help"])
        #expect(r.status == 0)
        // The help wraps at 80 columns: compare without line breaks and indentation.
        let help = r.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        let names =
            ScheduleKind.allCases.map(\.rawValue) + ModelFile.available(kind: "hardware")
            + ModelFile.available(kind: "workloads") + DType.allCases.map(\.rawValue) + TilePolicy.allCases.map(\.rawValue)
            + ["top-left", "bottom-right"]
        #expect(ModelFile.available(kind: "hardware").contains("h100-sxm") && ModelFile.available(kind: "workloads").contains("llama-3-8b"))
        for name in names { #expect(help.contains(name), "\(command) --help lacks \(name)") }
    }

    @Test func scheduleHelpIsTheRegistry() {
        #expect(ScheduleSelection.names == ["all", "decode", "paged"] + ScheduleKind.allCases.map(\.rawValue))
        #expect(ScheduleSelection.help.abstract.contains(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")))
    }

    @Test func verifyHelpSaysWhatEachInputChoiceIs() throws {
        let help = CLI.run(["verify", "--help"]).out
        for choice in InputDistribution.allCases { #expect(help.contains("  \(choice.rawValue)  "), "\(choice)") }
        #expect(help.contains("rescale"))
    }
}

/// Typed options parse case-insensitively, the schedule list is parsed in one place, and the
/// masks map to the reference's `AttentionMask`.
@Suite struct TypedOptions {
    @Test func valuesParseCaseInsensitively() {
        #expect(DType(argument: "FP16") == .fp16 && TilePolicy(argument: "Optimal") == .optimal)
        #expect(OutputFormat(argument: "JSON") == .json && SimulationMode(argument: "Data") == .data)
        #expect(CausalAlignment(argument: "Top-Left") == .topLeft && CausalAlignment(argument: "bottom-right") == .bottomRight)
        #expect(CausalAlignment(argument: "topLeft") == nil, "the command line spells it top-left")
        #expect(InputDistribution(argument: "normal") == .normal && RowFormat(argument: "table") == nil)
    }

    @Test func scheduleSelectionParsesListsInReportOrderOnceEach() throws {
        #expect(try ScheduleSelection.parse("fa2,fa1").kinds == [.fa1, .fa2])
        #expect(try ScheduleSelection.parse(" FA2 , fa2").kinds == [.fa2])
        let all = try ScheduleSelection.parse("fa2,all")
        #expect(all.kinds == ScheduleKind.prefill && all.includesAll)
        #expect(try ScheduleSelection.parse("decode").kinds == [.fa2, .splitKV, .lean, .pagedV1, .pagedV2])
        #expect(!ScheduleKind.prefill.contains(.splitKV), "all is the prefill schedules (docs/cli.md §2)")
        #expect(!(try ScheduleSelection.parse("fa3")).includesAll)
        #expect(throws: ValidationError.self) { try ScheduleSelection.parse("fa2,") }
    }

    @Test func windowAndAlignmentBuildTheReferencesMask() throws {
        func mask(_ args: [String]) throws -> AttentionMask { try Simulate.parse(args).options.mask() }
        #expect(try mask([]) == .none)
        #expect(try mask(["--causal"]) == .causal(.bottomRight))
        #expect(try mask(["--causal", "--alignment", "top-left"]) == .causal(.topLeft))
        #expect(try mask(["--window", "64"]) == .slidingWindow(left: 63, right: 0, alignment: .bottomRight))
        #expect(try mask(["--window", "1", "--alignment", "top-left"]) == .slidingWindow(left: 0, right: 0, alignment: .topLeft))
        // Two-sided windows: each flag alone leaves its other side unbounded; --causal bounds the right at 0.
        let far = MaskFlags.unbounded
        #expect(try mask(["--window-left", "8", "--window-right", "3"]) == .slidingWindow(left: 8, right: 3, alignment: .bottomRight))
        #expect(try mask(["--window-left", "8"]) == .slidingWindow(left: 8, right: far, alignment: .bottomRight))
        #expect(try mask(["--window-right", "0"]) == .slidingWindow(left: far, right: 0, alignment: .bottomRight))
        #expect(try mask(["--causal", "--window-left", "63"]) == mask(["--window", "64"]))
        for bad in [["--window", "4", "--window-left", "2"], ["--causal", "--window-right", "2"], ["--window-left", "-1"]] {
            #expect(throws: (any Error).self, "\(bad)") { try mask(bad) }
        }
        let p = try Simulate.parse(["--N", "64", "--heads", "4", "--kv-heads", "2", "--pack-gqa"]).options.problem()
        #expect(p.packGQA && p.heads == 4 && p.kvHeads == 2)
        #expect(try Attention.parse(["--q", "q", "--k", "k", "--v", "v", "--out", "o"]).alignment == nil, "attention's default is top-left")
    }
}

/// The library's problem errors are structured and name no flag; the CLI words them with flags.
@Suite struct ErrorWording {
    static let bad: [AttentionProblem] = [
        AttentionProblem(n: 0), AttentionProblem(n: 64, nk: 0), AttentionProblem(n: 64, d: Limits.maxHeadDim + 1),
        AttentionProblem(n: 64, batch: 0), AttentionProblem(n: 64, heads: 6, kvHeads: 4),
        AttentionProblem(n: 64, kvHeads: 0), AttentionProblem(n: 64, mask: .slidingWindow(left: -1, right: 0, alignment: .bottomRight)),
        AttentionProblem(n: 64, mask: .slidingWindow(left: Limits.maxSequence, right: 0, alignment: .topLeft)),
        AttentionProblem(n: 64, mask: .boolean(Array(repeating: true, count: 64 * 64))),
        AttentionProblem(n: 1 << 20, batch: 1_000_000, heads: 1_000_000),
    ]

    @Test(arguments: bad)
    func libraryErrorsNameNoFlagsAndTheCLIWordsThemWithFlags(p: AttentionProblem) {
        do {
            try p.validate()
            Issue.record("accepted \(p)")
        } catch {
            #expect(!error.description.contains("--"), "\(error.description)")
            #expect(!error.description.contains("\n"))
            let usage = Wording.usage(error).message
            if error != .unsupportedMask { #expect(usage.contains("--"), "\(usage)") }
        }
    }

    @Test func structuredCasesCarryTheParameterValueAndLimit() {
        #expect(throws: SimulationError.notPositive(parameter: .nk, value: 0)) { try AttentionProblem(n: 64, nk: 0).validate() }
        #expect(throws: SimulationError.outOfRange(parameter: .d, value: 16385, limit: Limits.maxHeadDim)) {
            try AttentionProblem(n: 64, d: 16385).validate()
        }
        #expect(throws: SimulationError.headsNotDivisible(heads: 6, kvHeads: 4)) {
            try AttentionProblem(n: 64, heads: 6, kvHeads: 4, packGQA: true).validate()
        }
        #expect(Wording.usage(.notPositive(parameter: .kvHeads, value: 0)).message == "--kv-heads must be a positive integer, got 0")
        #expect(Wording.usage(.invalidWindow(left: -1, right: 0, limit: 10)).message == "--window must be a positive integer, got 0")
    }

    /// Data mode's memory refusal is a structured case: the library's text names no flag, the
    /// command line's names them, and the run exits 1 with that one line.
    @Test func dataModeMemoryIsWordedByTheCLI() throws {
        let error = SimulationError.dataModeMemory(schedule: .fa2, neededBytes: 3.5e12, availableBytes: 8_000_000_000)
        #expect(!error.description.contains("--"))
        #expect(
            Wording.message(error)
                == "data mode for fa2 would need about 3500000 MB, more than the 8000 MB this process may use now (half the machine's memory, free memory, ulimit -v/-d and cgroup limits); use a smaller --N, --batch or --heads"
        )
        let r = CLI.run(["--N", "64K", "--batch", "512", "--heads", "512", "--mode", "data"])
        #expect(
            r.status == 1 && r.err.hasPrefix("iosim: data mode for standard would need about ")
                && r.err.hasSuffix("use a smaller --N, --batch or --heads\n"), "\(r.err)")
    }
}
