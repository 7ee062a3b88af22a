/// FlashAttention-2's choice of the number of KV splits for its `splitkv` path (flash-attention,
/// `csrc/flash_attn/flash_api.cpp`: `num_splits_heuristic`, called from `set_params_splitkv`),
/// as the `split-kv` schedule's default (`--splits`, docs/cli.md §2): enough splits that the CTAs fill the
/// SMs in nearly whole waves, no more.
public enum SplitKVHeuristic {
    /// FA2's K/V block (`block_n`) for head dimension d: 256 up to 64, 128 up to 128, 64 above.
    public static func blockN(d: Int) -> Int { d <= 64 ? 256 : d <= 128 ? 128 : 64 }

    /// The splits FA2 picks for `problem` (its packed view when `packGQA`: KV heads, g·Nq rows)
    /// on a GPU with `sms` SMs.
    public static func splits(for problem: AttentionProblem, sms: Int) -> Int {
        let p = problem.scheduled
        let mBlocks = (p.n + 63) / 64
        let nBlocks = (p.nk + blockN(d: p.d) - 1) / blockN(d: p.d)
        return splits(batchHeadsMBlocks: p.batch * p.heads * mBlocks, slots: 2 * sms, nBlocks: nBlocks, maxSplits: 128)
    }

    /// The heuristic itself. `slots` is twice the SM count (two CTAs per SM). One split when the
    /// CTAs already fill 80% of the slots; otherwise, among split counts that change the blocks
    /// per split, the smallest whose wave efficiency (waves / ⌈waves⌉) is within 85% of the best.
    public static func splits(batchHeadsMBlocks work: Int, slots: Int, nBlocks: Int, maxSplits: Int) -> Int {
        guard Double(work) < 0.8 * Double(slots) else { return 1 }
        let limit = min(maxSplits, slots, nBlocks)
        guard limit >= 1 else { return 1 }
        func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
        func eligible(_ s: Int) -> Bool { s == 1 || ceilDiv(nBlocks, s) != ceilDiv(nBlocks, s - 1) }
        let efficiency = (1...limit).map { s -> Double in
            guard eligible(s) else { return 0 }
            let waves = Double(work * s) / Double(slots)
            return waves / waves.rounded(.up)
        }
        let best = efficiency.max() ?? 0
        for s in 1...limit where eligible(s) && efficiency[s - 1] >= 0.85 * best { return s }
        return 1
    }
}
