import ArgumentParser
import IOSim

/// Problem and schedule options shared by `simulate`, `sweep` and `verify`.
struct ProblemOptions: ParsableArguments {
    @Option(name: .customLong("N"), help: "Sequence length (rows of Q, and of K/V unless --Nk). K = 1024, M = 1024².")
    var n: String = "4096"
    @Option(name: .customLong("Nk"), help: "Rows of K and V (default: N).")
    var nk: String?
    @Option(name: .customLong("M"), help: "SRAM capacity: bytes, or B, KB, MB, GB (10³ⁿ), KiB, MiB, GiB (2¹⁰ⁿ).")
    var m: String = "100KB"
    @Option(help: "Head dimension.") var d: Int = 64
    @Option(help: "Batch size.") var batch: Int = 1
    @Option(help: "Query heads.") var heads: Int = 1
    @Option(name: .customLong("kv-heads"), help: "K/V heads (GQA/MQA); default: heads.") var kvHeads: Int?
    @Option(help: "fp16, bf16, fp32, fp64 or fp8 (e4m3 Q/K/V, bf16 O).") var dtype: String = "fp16"
    @Option(help: "all, standard, fa1, fa2, fa3 or small-m.") var schedule: String = "all"
    @Option(name: .customLong("Br"), help: "Row tile (rows of Q).") var br: Int?
    @Option(name: .customLong("Bc"), help: "Column tile (rows of K/V).") var bc: Int?
    @Option(help: "auto (largest feasible tiles), paper (the paper's rule) or optimal (least traffic).")
    var tiles: String = "auto"
    @Flag(help: "Causal mask (top-left); fully masked tile pairs are skipped.") var causal = false
    @Option(help: "FA3 K/V pipeline stages (its footprint holds this many K/V tile pairs).") var stages: Int = 2
    @Option(help: "Warps per thread block: fa1 splits K/V over them, fa2 splits Q (SRAM-side counts).") var warps: Int = 4

    func problem(n nOverride: Int? = nil) throws -> AttentionProblem {
        guard let dt = DType(rawValue: dtype.lowercased()) else {
            throw UsageError("unknown --dtype '\(dtype)'; use fp16, bf16, fp32, fp64 or fp8")
        }
        let n = try nOverride ?? Units.count(self.n, name: "N")
        let nk = try self.nk.map { try Units.count($0, name: "Nk") }
        for (name, v) in [("stages", stages), ("warps", warps)] where v <= 0 {
            throw UsageError("--\(name) must be a positive integer, got \(v)")
        }
        for (name, v) in [("Br", br), ("Bc", bc)] { if let v, v <= 0 { throw UsageError("--\(name) must be a positive integer, got \(v)") } }
        let p = AttentionProblem(n: n, nk: nk, d: d, batch: batch, heads: heads, kvHeads: kvHeads, dtype: dt, causal: causal)
        try p.validate()
        return p
    }

    func schedules() throws -> [ScheduleKind] {
        if schedule.lowercased() == "all" { return ScheduleKind.allCases }
        var out: [ScheduleKind] = []
        for name in schedule.lowercased().split(separator: ",") {
            guard let k = ScheduleKind(rawValue: String(name)) else {
                throw UsageError("unknown --schedule '\(name)'; use all, standard, fa1, fa2, fa3 or small-m")
            }
            out.append(k)
        }
        return out
    }

    func tileRequest() throws -> TileRequest {
        guard let policy = TilePolicy(rawValue: tiles.lowercased()) else {
            throw UsageError("unknown --tiles '\(tiles)'; use auto, paper or optimal")
        }
        return TileRequest(br: br, bc: bc, policy: policy, stages: stages, warps: warps)
    }

    func capacity(_ text: String? = nil) throws -> Int { try Units.bytes(text ?? m) }
}
