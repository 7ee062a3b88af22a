import IOSim

/// The report's mask sweeps (docs/cli.md §2; Notebooks/masks.ipynb draws them), at N = 16384
/// (`small`: 4096), 8 heads, d = 128, fp16, on the `h100-sxm` model's M with each schedule's
/// kernel tiles, as `iosim --hardware h100-sxm` gives them:
/// - `mask_density.csv`: a random 128 × 128 block mask (half partial, half full, causal inside the
///   partial blocks; seeded) at non-empty-block densities 5%…100%: fa2's and flex's HBM bytes and
///   the mask-aware bound, with the visible-element fraction beside the block fraction (the FA1
///   paper's s);
/// - `packing.csv`: the same documents (lengths drawn around a mean, seeded) run as FlashAttention's
///   varlen kernel (fa2, `--packing varlen`) and as one sequence under a document mask (fa2 and
///   flex, `--packing mask`), causal, against the mean document length.
enum MaskReport {
    static func write(to dir: String, small: Bool) throws {
        let hw: HardwareModel
        do { hw = try ModelFile.hardware("h100-sxm") } catch { throw RunFailure("the mask sweeps need Models/hardware/h100-sxm.json: \(error)") }
        let (n, heads, d) = (small ? 4096 : 16384, 8, 128)
        let request = TileRequest(policy: .kernel, policyExplicit: false)
        var rng = Lcg(state: 27)
        func bytes(_ kind: ScheduleKind, _ p: AttentionProblem) throws -> (Int, Bound) {
            let r = Simulator.simulate(kind, p, capacity: hw.onChipPerBlock, tiles: request)
            guard let c = r.counts else { throw RunFailure("the mask sweep's \(kind.rawValue) cannot run: \(r.reason ?? "infeasible")") }
            return (c.hbm.bytes, r.bound)
        }
        var rows = ["density,visible_fraction,N,heads,d,fa2_bytes,flex_bytes,bound_bytes"]
        let blocks = n / 128
        for density in [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0] {
            let values = (0..<blocks * blocks).map { _ -> UInt8 in
                let x = rng.next()
                return x >= density ? 0 : x < density / 2 ? 1 : 2
            }
            let m = BlockMask(
                blockQ: 128, blockK: 128, rows: blocks, cols: blocks, batch: 1, heads: 1, queryHeads: heads, values: values,
                inner: .causal(.bottomRight))
            let p = AttentionProblem(n: n, d: d, heads: heads, mask: .blockSparse(m))
            let (fa2, bound) = try bytes(.fa2, p)
            let (flex, _) = try bytes(.flex, p)
            let visible = Double(bound.visiblePairs) / Double(heads * n * n)
            rows.append("\(density),\(visible),\(n),\(heads),\(d),\(fa2),\(flex),\(Int(bound.elements) * p.dtype.size)")
        }
        try ReportFiles.save(rows, dir + "/mask_density.csv")
        rows = ["mean_length,documents,N,heads,d,varlen_fa2_bytes,mask_fa2_bytes,mask_flex_bytes,bound_bytes"]
        for mean in [256, 512, 1024, 2048, 4096] {
            var docs: [Int] = []
            while docs.reduce(0, +) < n {
                let len = max(1, Int(Double(mean) * (0.25 + 1.5 * rng.next())))
                docs.append(min(len, n - docs.reduce(0, +)))
            }
            var p = AttentionProblem(n: n, d: d, heads: heads, mask: .structured(StructuredMask(base: .causal(.bottomRight), documents: docs)))
            p.packing = .varlen
            let (varlen, bound) = try bytes(.fa2, p)
            p.packing = .mask
            let (masked, _) = try bytes(.fa2, p)
            let (flex, _) = try bytes(.flex, p)
            rows.append("\(mean),\(docs.count),\(n),\(heads),\(d),\(varlen),\(masked),\(flex),\(Int(bound.elements) * p.dtype.size)")
        }
        try ReportFiles.save(rows, dir + "/packing.csv")
    }

    /// A seeded generator of doubles in [0, 1) (Knuth's MMIX LCG, top 53 bits), so that the
    /// report's masks are the same on every machine.
    struct Lcg {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
    }
}
