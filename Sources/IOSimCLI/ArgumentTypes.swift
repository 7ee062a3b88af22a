import ArgumentParser
import AttentionReference
import Foundation
import IOSim

// Typed option values. An unknown value is the parser's own usage error (exit 64); the help
// lists the values from the types' cases, so a new case shows up there by itself.

extension DType: ExpressibleByArgument {
    /// Case-insensitive (`FP16` is `fp16`).
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--kv-layout`.
extension KVLayout: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--tiles`: each policy with what it picks, `optimal` (the default) first. `optimal`'s search
/// space is worded as in the README's "Tiles" bullet and `TilePolicy.optimal` (a test compares
/// the help with the README).
extension TilePolicy: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }

    public static var allValueStrings: [String] { [TilePolicy.optimal, .kernel, .auto, .paper].map(\.rawValue) }
    public static var allValueDescriptions: [String: String] {
        [
            TilePolicy.optimal.rawValue: "the feasible pair with the least HBM bytes by the closed forms (then the larger Br·Bc, "
                + "then the larger Br). Its search space: " + optimalSearchSpace,
            TilePolicy.kernel.rawValue: "the tiles and warps the real kernels launch with on the --hardware GPU (H100 without it): "
                + "FlashAttention-2's and -3's per d, dtype and mask, FA2's decode block_n, PyTorch's (FA2's) backward; "
                + "the paper's rule, else optimal, for schedules without such a kernel (docs/tiles.md).",
            TilePolicy.auto.rawValue: "the feasible pair of multiples of 16 (any positive integers when none fits) with the "
                + "largest Br·Bc, ties to the larger Br; small-m keeps Br = Bc, fa3 takes FA3's published tiles when they fit.",
            TilePolicy.paper.rawValue: "the paper's rule: Bc = ⌈M/4d⌉, Br = min(Bc, d) (M in elements) for fa1 and fa2, "
                + "FA3's published tiles for fa3, auto for the others; reported infeasible when it does not fit.",
        ]
    }

    /// The candidates `optimal` ranks (`TileChoice.optimal`, `TileChoice.gridSides(upTo:rows:)`).
    static let optimalSearchSpace =
        "below M = 4d² (bytes: 4·d²·size(dtype)) every pair of positive integers; "
        + "from 4d² on, for each side every multiple of 16 up to 2048 and, above 2048, the largest multiple of 16 "
        + "for each tile count ⌈N/B⌉, plus the best integer pair found at 4d²."
}

/// `bottom-right` and `top-left` on the command line (the reference's cases are `bottomRight`
/// and `topLeft`).
extension CausalAlignment: ExpressibleByArgument {
    public init?(argument: String) {
        guard let match = Self.allCases.first(where: { $0.argument == argument.lowercased() }) else { return nil }
        self = match
    }

    /// The command-line spelling.
    var argument: String {
        switch self {
        case .topLeft: "top-left"
        case .bottomRight: "bottom-right"
        }
    }

    public var defaultValueDescription: String { argument }
    public static var allValueStrings: [String] { allCases.map(\.argument) }
    public static var allValueDescriptions: [String: String] {
        [
            CausalAlignment.bottomRight.argument: "query row r sits at position r + Nk − Nq (FlashAttention ≥ 2.1, KV-cache decoding)",
            CausalAlignment.topLeft.argument: "query row r sits at position r (PyTorch's is_causal)",
        ]
    }
}

/// `--format` of `simulate`.
enum OutputFormat: String, CaseIterable, ExpressibleByArgument {
    case table, json, csv
    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--format` of `sweep`: rows only (a table per point would not be a sweep).
enum RowFormat: String, CaseIterable, ExpressibleByArgument {
    case csv, json
    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--mode` of `simulate`.
enum SimulationMode: String, CaseIterable, ExpressibleByArgument {
    /// Counts only, no values.
    case count
    /// Values move through the simulated SRAM too, and the result is checked against the reference.
    case data
    init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--inputs` of `verify`: the distribution of the seeded random Q, K and V (IOSim's
/// `InputDistribution`; what each is and why: `Verify`'s discussion and the README).
extension Pass: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

extension InputDistribution: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `--schedule`: `all`, a schedule name, or a comma-separated list of them; parsed here only.
struct ScheduleSelection: Sendable {
    /// The chosen schedules, each once, in the registry's (report) order whatever order they were named in.
    var kinds: [ScheduleKind]
    /// Whether `all` was among the names (verify then needs at least one schedule checked, not every one).
    var includesAll: Bool
    /// The schedules named one by one (not through `all` or `decode`): one that cannot run the
    /// asked `--pass` is an error, where a group just leaves it out.
    var named: Set<ScheduleKind> = []
    /// `paged` was named: vLLM's choice between paged-v1 and paged-v2, made for the problem by
    /// ``resolvingPaged(_:)``.
    var pagedChoice = false

    static let all = ScheduleSelection(kinds: ScheduleKind.prefill, includesAll: true)

    /// Every name `--schedule` takes, from the registry: `all` (the prefill schedules), `decode`
    /// (fa2 and the decode schedules) and each schedule.
    static var names: [String] { ["all", "decode", "paged"] + ScheduleKind.allCases.map(\.rawValue) }

    /// Help of `--schedule`, listing the registry's names.
    static var help: ArgumentHelp {
        ArgumentHelp(
            "\(names.joined(separator: ", ")), or several separated by commas (default: all, the prefill schedules; decode: fa2 and the decode schedules; paged: paged-v1 or paged-v2 by vLLM's rule).",
            valueName: "schedule")
    }

    /// Parses `--schedule`'s value; an unknown name is a usage error that lists the valid ones.
    @Sendable static func parse(_ text: String) throws -> ScheduleSelection {
        var chosen = Set<ScheduleKind>(), all = false, named = Set<ScheduleKind>(), paged = false
        for name in text.lowercased().split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if name == "all" { chosen.formUnion(ScheduleKind.prefill); all = true; continue }
            if name == "decode" { chosen.formUnion(ScheduleKind.decode); all = true; continue }
            if name == "paged" { paged = true; continue }
            guard let k = ScheduleKind(rawValue: name) else {
                throw ValidationError("unknown schedule '\(name)'; use one or more of \(names.joined(separator: ", ")), separated by commas")
            }
            chosen.insert(k)
            named.insert(k)
        }
        return ScheduleSelection(kinds: ScheduleKind.allCases.filter(chosen.contains), includesAll: all, named: named, pagedChoice: paged)
    }

    /// Whether `kind` is chosen, or may be once `paged` is resolved.
    func mayRun(_ kind: ScheduleKind) -> Bool {
        kinds.contains(kind) || (pagedChoice && (kind == .pagedV1 || kind == .pagedV2))
    }

    /// `paged` replaced by vLLM's choice for `problem` (``PagedAttentionChoice``); unchanged
    /// without `paged`, or without a problem (a bad one is reported on its own).
    func resolvingPaged(_ problem: AttentionProblem?, maxLength: Int? = nil) -> ScheduleSelection {
        guard pagedChoice, let problem else { return self }
        let v = PagedAttentionChoice.kind(sequences: problem.batch, heads: problem.heads, maxLength: maxLength ?? problem.nk)
        var s = self
        s.kinds = ScheduleKind.allCases.filter { kinds.contains($0) || $0 == v }
        s.named.insert(v)
        s.pagedChoice = false
        return s
    }

    /// The chosen schedules that run `pass`, in report order (`all` under `--pass backward` is
    /// standard, fa1, fa2). A schedule named on its own that has no such pass is a usage error.
    func kinds(for pass: Pass) throws -> [ScheduleKind] {
        guard pass != .forward else { return kinds }
        if let k = kinds.first(where: { named.contains($0) && !$0.supports(pass) }) {
            let have = ScheduleKind.backward.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("\(k.rawValue) has no backward schedule; --pass \(pass) runs \(have)")
        }
        let chosen = kinds.filter { $0.supports(pass) }
        guard !chosen.isEmpty else {
            throw ValidationError(
                "none of the chosen schedules has a backward; --pass \(pass) runs \(ScheduleKind.backward.map(\.rawValue).joined(separator: ", "))")
        }
        return chosen
    }
}
