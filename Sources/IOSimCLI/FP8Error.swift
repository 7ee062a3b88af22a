import ArgumentParser
import IOSim

/// `iosim fp8-error`: FlashAttention-3's fp8 accuracy experiment on the fa3 schedule's data mode.
struct FP8Error: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fp8-error",
        abstract: "RMSE of fp8 fa3 against the fp64 reference: per-tensor scales, block scales, block scales + Hadamard.",
        discussion: """
            Inputs have outlier features as in the FlashAttention-3 paper (§4.3): N(0,1) plus, for 0.1% of
            entries, N(0,10²). The paper reports 2.4e-2 (per-tensor fp8) and 9.1e-3 (block quantization +
            incoherent processing), 2.6× lower.
            Example: iosim fp8-error --N 1024 --d 128
            """
    )

    @Option(name: .customLong("N"), help: "Sequence length.") var n: Int = 1024
    @Option(help: "Head dimension (a power of two, for the Hadamard transform).") var d: Int = 128
    @Option(help: "Heads.") var heads: Int = 1
    @Option(name: .customLong("Br"), help: "Row tile (rows of Q per scale).") var br: Int = 128
    @Option(name: .customLong("Bc"), help: "Column tile (rows of K/V per scale).") var bc: Int = 128
    @Option(help: "Seed of the inputs.") var seed: UInt64 = 0

    /// The experiment's problem (fp8, one batch), checked against iosim's limits.
    var problem: AttentionProblem { AttentionProblem(n: n, d: d, heads: heads, dtype: .fp8) }

    func validate() throws {
        for (name, v) in [("N", n), ("d", d), ("heads", heads), ("Br", br), ("Bc", bc)] {
            try Wording.checkPositive(name, v, limit: Limits.maxSequence)
        }
        do { try problem.validate() } catch { throw Wording.usage(error) }
        guard d & (d - 1) == 0 else { throw ValidationError("--d must be a power of two (for the Hadamard transform), got \(d)") }
    }

    func run() throws {
        let r = try Wording.running {
            try DataMode.checkMemory(.fa3, problem)
            return try FP8Experiment.run(
                n: n, d: d, heads: heads, tiles: KernelConfig(br: br, bc: bc), seed: seed, progress: Progress.timed("fp8-error, three fa3 runs"))
        }
        Console.print("fp8 (e4m3) fa3, N=\(n) d=\(d) heads=\(heads) tiles \(br)×\(bc), inputs with 0.1% outliers (std 10)")
        Console.print("RMSE per-tensor scale:          \(r.perTensor)")
        Console.print("RMSE block scales:              \(r.block)   (\(Render.fixed(r.perTensor / r.block, 2))× lower)")
        Console.print("RMSE block scales + Hadamard:   \(r.blockHadamard)   (\(Render.fixed(r.perTensor / r.blockHadamard, 2))× lower; paper: 2.6×)")
    }
}
