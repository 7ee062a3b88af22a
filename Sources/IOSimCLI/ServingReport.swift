import Foundation
import IOSim

/// The report's KV-cache memory sweeps (docs/cli.md §7; Notebooks/serving.ipynb draws them). Rows are
/// `kv-memory`'s CSV rows, so `iosim kv-memory --format csv` with the same options gives each one.
enum ServingReport {
    /// The model of the Paged-FlexAttention paper.
    static let model = "llama-2-7b"
    /// The block sizes of the utilization sweep.
    static let blockSizes = [1, 8, 16, 32, 64, 128, 256]
    /// The lengths generator: log-uniform between `shortest` and `longest` tokens, SplitMix64 seeded with `seed`.
    static let (seed, shortest, longest): (UInt64, Int, Int) = (16, 16, 8192)

    static func write(to dir: String, small: Bool) throws {
        let workload: WorkloadModel
        do { workload = try ModelFile.workload(model) } catch { throw RunFailure("the serving sweeps need \(model): \(error)") }
        guard let layers = workload.layers else { throw RunFailure("\(model) has no 'layers' field") }
        let shape = KVCacheShape(layers: layers, kvHeads: workload.kvHeads, d: workload.d, dtype: .fp16)
        let perToken = try Wording.running { try shape.bytesPerToken() }

        // (a) Utilization against the block size for a batch of generated lengths. The lengths are
        // written beside the CSV, so `iosim kv-memory --lengths data/serving_lengths.txt` repeats it.
        let values = lengths(count: small ? 200 : 1000)
        try ReportFiles.save(values.map(String.init), dir + "/serving_lengths.txt")
        let batch = try SequenceLengths(values)
        var rows = [KVMemory.csvHeader]
        for b in blockSizes {
            // reserve holds the generator's longest length (the engine's context limit), pow2 starts at 2048.
            let p = KVCachePolicyParameters(maxLength: longest, blockSize: b, initial: 2048)
            rows += try csvRows(batch, shape, p, perToken: perToken, name: workload.name)
        }
        try ReportFiles.save(rows, dir + "/kv_utilization_vs_block.csv")

        // (b) One sequence's bytes against its length: every 16th length, and each side of each
        // pow2 step so that the steps are drawn where they fall.
        let top = small ? 8192 : 16384
        var ls = Set(stride(from: 16, through: top, by: 16)).union([1])
        for s in KVCacheMemory.pow2Steps(initial: 2048, upTo: top) { ls.formUnion([s.length - 1, s.length]) }
        rows = [KVMemory.csvHeader]
        for l in ls.sorted() {
            let one = try SequenceLengths([l])
            rows += try csvRows(
                one, shape, KVCachePolicyParameters(maxLength: top, blockSize: 16, initial: 2048), perToken: perToken, name: workload.name)
        }
        try ReportFiles.save(rows, dir + "/kv_pow2_vs_length.csv")
        try decodeVsLength(to: dir, small: small, workload)
    }

    /// The decode batch of the paged-decode sweep: enough sequences that vLLM's rule takes v1 up
    /// to 8192 tokens (sequences · heads > 512) and v2 beyond.
    static let decodeBatch = 32

    /// (c) paged-v1, paged-v2 and split-kv over a contiguous and a paged cache: HBM bytes and the
    /// h100-sxm time estimate against the context length, with vLLM's choice at each length.
    static func decodeVsLength(to dir: String, small: Bool, _ w: WorkloadModel) throws {
        let hw: HardwareModel
        do { hw = try ModelFile.hardware("h100-sxm") } catch { throw RunFailure("the serving decode sweep needs h100-sxm: \(error)") }
        let nks = small ? [1024, 8192, 16384, 131_072] : (10...17).map { 1 << $0 }
        let runs: [(ScheduleKind, KVLayout)] = [(.pagedV1, .paged), (.pagedV2, .paged), (.splitKV, .contiguous), (.splitKV, .paged)]
        var rows = [
            "schedule,layout,model,batch,heads,kv_heads,Nq,Nk,d,dtype,block_size,Br,Bc,splits,ctas,hbm_read_bytes,hbm_write_bytes,"
                + "time_estimate_s,vllm_choice,hardware"
        ]
        for nk in nks {
            var p = AttentionProblem(n: 1, nk: nk, d: w.d, batch: decodeBatch, heads: w.heads, kvHeads: w.kvHeads, dtype: .fp16)
            let choice = PagedAttentionChoice.kind(sequences: decodeBatch, heads: w.heads, maxLength: nk)
            for (kind, layout) in runs {
                p.kvLayout = layout
                let splits = SplitKVHeuristic.splits(for: p, sms: hw.sms)
                let request = TileRequest(policy: .optimal, splits: splits, policyExplicit: false)
                let r = Simulator.simulate(kind, p, capacity: hw.onChipPerBlock, tiles: request)
                guard let c = r.counts, let t = r.tiles, let e = try TimeEstimate.estimate(r, p, hw) else {
                    throw RunFailure("the serving decode sweep's \(kind.rawValue) at Nk \(nk) cannot run: \(r.reason ?? "no time estimate")")
                }
                let ctas = c.kernels.first?.ctas ?? 0
                rows.append(
                    "\(kind.rawValue),\(layout.rawValue),\(w.name),\(decodeBatch),\(p.heads),\(p.kvHeads),1,\(nk),\(p.d),fp16,\(p.blockSize),"
                        + "\(t.br),\(t.bc),\(kind == .splitKV ? t.splits : 1),\(ctas),\(c.hbm.readBytes),\(c.hbm.writeBytes),\(e.seconds),"
                        + "\(choice.rawValue),\(hw.name)")
            }
        }
        try ReportFiles.save(rows, dir + "/serving_decode_vs_nk.csv")
    }

    static func csvRows(
        _ lengths: SequenceLengths, _ shape: KVCacheShape, _ p: KVCachePolicyParameters, perToken: Int, name: String
    ) throws -> [String] {
        let usage: [KVCacheUsage]
        do { usage = try KVCacheMemory.usage(lengths, shape: shape, p) } catch { throw RunFailure(KVMemory.message(error)) }
        let problem = KVMemoryProblem(model: name, shape: shape, lengths: lengths, parameters: p, bytesPerToken: perToken)
        return usage.map { KVMemory.csvRow(problem, $0) }
    }

    /// `count` lengths, log-uniform in [shortest, longest]: L = ⌊shortest · (longest/shortest)^u⌋
    /// with u uniform in [0, 1) from SplitMix64 (Steele, Lea and Flood 2014; u from the top 53 bits).
    static func lengths(count: Int) -> [Int] {
        var state = seed
        let ratio = Double(longest) / Double(shortest)
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let u = Double(z >> 11) / Double(1 << 53)
            return min(longest, Int(Double(shortest) * pow(ratio, u)))
        }
    }
}
