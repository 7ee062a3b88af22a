import Foundation
import ArgumentParser
import IOSim

/// Problem and schedule options shared by `simulate`, `sweep` and `verify`.
struct ProblemOptions: ParsableArguments {
    @Option(name: .customLong("N"), parsing: .unconditional, help: "Sequence length (rows of Q, and of K/V unless --Nk). K = 1024, M = 1024².")
    var n: String = "4096"
    @Option(name: .customLong("Nk"), parsing: .unconditional, help: "Rows of K and V (default: N).")
    var nk: String?
    @Option(name: .customLong("M"), parsing: .unconditional, help: "SRAM capacity: bytes, or B, KB, MB, GB (10³ⁿ), KiB, MiB, GiB (2¹⁰ⁿ). Default 100KB, or with --hardware its shared memory per block plus register file.")
    var m: String?
    @Option(parsing: .unconditional, help: "Head dimension (default 64, or the --model's).") var d: Int?
    @Option(parsing: .unconditional, help: "Batch size.") var batch: Int = 1
    @Option(parsing: .unconditional, help: "Query heads (default 1, or the --model's).") var heads: Int?
    @Option(name: .customLong("kv-heads"), parsing: .unconditional, help: "K/V heads (GQA/MQA); default: heads.") var kvHeads: Int?
    @Option(help: "fp16, bf16, fp32, fp64 or fp8 (e4m3 Q/K/V, bf16 O).") var dtype: String = "fp16"
    @Option(help: "all, standard, fa1, fa2, fa3 or small-m.") var schedule: String = "all"
    @Option(name: .customLong("Br"), parsing: .unconditional, help: "Row tile (rows of Q).") var br: Int?
    @Option(name: .customLong("Bc"), parsing: .unconditional, help: "Column tile (rows of K/V).") var bc: Int?
    @Option(help: "auto (largest feasible tiles), paper (the paper's rule) or optimal (least traffic).")
    var tiles: String = "auto"
    @Flag(help: "Causal mask (top-left); fully masked tile pairs are skipped.") var causal = false
    @Option(parsing: .unconditional, help: "FA3 K/V pipeline stages (its footprint holds this many K/V tile pairs).") var stages: Int = 2
    @Option(parsing: .unconditional, help: "Warps per thread block: fa1 splits K/V over them, fa2 splits Q (SRAM-side counts).") var warps: Int = 4
    @Option(help: "GPU model for time estimates: a name in Models/hardware (h100-sxm, h200, a100-80gb, l4, rtx-4090) or a .json path.")
    var hardware: String?
    @Option(help: "Workload model that fills --heads, --kv-heads and --d: a name in Models/workloads (llama-3-8b, llama-3-70b, mistral-7b, gpt-2-small) or a .json path.")
    var model: String?

    /// The hardware model, when `--hardware` is given.
    func hardwareModel() throws -> HardwareModel? {
        guard let hardware else { return nil }
        return try ModelFile.hardware(hardware)
    }

    /// The M text: as given, or the default (the hardware's on-chip memory per thread block, else 100KB).
    func mSpec() throws -> String {
        if let m { return m }
        if let hw = try hardwareModel() { return "\(hw.onChipPerBlock)B" }
        return "100KB"
    }
    func problem(n nOverride: Int? = nil) throws -> AttentionProblem {
        guard let dt = DType(rawValue: dtype.lowercased()) else {
            throw UsageError("unknown --dtype '\(dtype)'; use fp16, bf16, fp32, fp64 or fp8")
        }
        let n = try nOverride ?? Units.count(self.n, name: "N")
        let nk = try self.nk.map { try Units.count($0, name: "Nk") }
        for (name, v, limit) in [("stages", stages, Limits.maxStages), ("warps", warps, Limits.maxWarps)] {
            guard v > 0 else { throw UsageError("--\(name) must be a positive integer, got \(v)") }
            guard v <= limit else { throw UsageError("--\(name) is \(v), above iosim's limit of \(limit)") }
        }
        for (name, v) in [("Br", br), ("Bc", bc)] {
            guard let v else { continue }
            guard v > 0 else { throw UsageError("--\(name) must be a positive integer, got \(v)") }
            guard v <= Limits.maxSequence else { throw UsageError("--\(name) is \(v), above iosim's limit of \(Limits.maxSequence)") }
        }
        let workload = try model.map { try ModelFile.workload($0) }
        let p = AttentionProblem(n: n, nk: nk, d: d ?? workload?.d ?? 64, batch: batch, heads: heads ?? workload?.heads ?? 1,
                                 kvHeads: kvHeads ?? (heads == nil ? workload?.kvHeads : nil), dtype: dt, causal: causal)
        try p.validate()
        return p
    }

    /// The schedules named by `--schedule` (a name, a comma-separated list, or `all`), each once,
    /// in the report order of DESIGN §6 whatever order they were named in.
    func schedules() throws -> [ScheduleKind] {
        var chosen = Set<ScheduleKind>()
        let names = schedule.lowercased().split(separator: ",", omittingEmptySubsequences: false)
        for name in names.map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if name == "all" { chosen.formUnion(ScheduleKind.allCases); continue }
            guard let k = ScheduleKind(rawValue: name) else {
                let valid = (["all"] + ScheduleKind.allCases.map(\.rawValue)).joined(separator: ", ")
                throw UsageError("unknown --schedule '\(name)'; use one or more of \(valid), separated by commas")
            }
            chosen.insert(k)
        }
        return ScheduleKind.allCases.filter(chosen.contains)
    }

    func tileRequest() throws -> TileRequest {
        guard let policy = TilePolicy(rawValue: tiles.lowercased()) else {
            throw UsageError("unknown --tiles '\(tiles)'; use auto, paper or optimal")
        }
        return TileRequest(br: br, bc: bc, policy: policy, stages: stages, warps: warps)
    }

    func capacity(_ text: String? = nil) throws -> Int { try Units.bytes(text ?? mSpec()) }
}
