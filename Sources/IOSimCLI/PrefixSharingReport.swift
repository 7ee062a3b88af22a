import IOSim

/// The report's prefix-sharing sweep (docs/counting-rules.md §14; Notebooks/chunk_attention.ipynb draws it):
/// chunk-attn against paged-v1 and split-kv on one decode batch as the shared prefix grows, in the
/// setting of ChunkAttention's kernel benchmark (microsoft/chunk-attention
/// `tests/benchmark_chunk_attn.py`: 32 heads, d = 128, chunks of 64 tokens, fp16) with a batch of
/// 32 sequences: Llama 2 7B's attention shape (`Models/workloads/llama-2-7b.json`), one query row
/// per sequence, each sequence `own` tokens past the prefix, on the `h100-sxm` model with its M.
/// Each schedule gets what `iosim simulate --hardware h100-sxm` gives it, and the ratios are the
/// CLI's (`PrefixSharing`).
enum PrefixSharingReport {
    static let (batch, chunk) = (32, 64)
    static let prefixes = [512, 1024, 1536, 2048, 3072, 4096, 6144, 8192]
    /// Tokens of each sequence past the shared prefix (its question and the answer so far).
    static let own = [64, 512]

    static let header =
        "shared_prefix,own_tokens,Nk,batch,heads,d,chunk,dtype,chunk_attn_bytes,paged_v1_bytes,split_kv_bytes,"
        + "chunk_attn_time_s,paged_v1_time_s,split_kv_time_s,bytes_ratio_paged_v1,bytes_ratio_split_kv,time_ratio_paged_v1,time_ratio_split_kv"

    static func write(to dir: String, small: Bool) throws {
        let hw: HardwareModel, shape: WorkloadModel
        do { (hw, shape) = (try ModelFile.hardware("h100-sxm"), try ModelFile.workload("llama-2-7b")) } catch {
            throw RunFailure("the prefix-sharing sweep needs Models/hardware/h100-sxm.json and Models/workloads/llama-2-7b.json: \(error)")
        }
        var rows = [header]
        for own in own {
            for prefix in small ? [512, 1024, 2048, 4096, 8192] : prefixes {
                var p = AttentionProblem(n: 1, nk: prefix + own, d: shape.d, batch: batch, heads: shape.heads, kvHeads: shape.kvHeads)
                (p.sharedPrefix, p.chunk) = (prefix, chunk)
                let request = TileRequest(
                    policy: .optimal, splits: SplitKVHeuristic.splits(for: p, sms: hw.sms), ctas: 2 * hw.sms, policyExplicit: false)
                let results = [ScheduleKind.chunkAttn, .pagedV1, .splitKV].map {
                    Estimates.attach(Simulator.simulate($0, p, capacity: hw.onChipPerBlock, tiles: request), p, hw)
                }
                guard let ratios = PrefixSharing.ratios(results, p, capacity: hw.onChipPerBlock, request: request, hardware: hw),
                    let time = ratios.time,
                    results.allSatisfy({ $0.counts != nil && $0.timeEstimate != nil })
                else {
                    let why = results.compactMap { r in r.reason.map { "\(r.kind.rawValue): \($0)" } }.joined(separator: "; ")
                    throw RunFailure("the prefix-sharing sweep at P = \(prefix) cannot run: \(why)")
                }
                let bytes = results.map { String($0.counts!.hbm.bytes) }, seconds = results.map { "\($0.timeEstimate!.seconds)" }
                let r = (ratios.bytes + time).map { $0.1.map { "\($0)" } ?? "" }
                rows.append(
                    "\(prefix),\(own),\(p.nk),\(batch),\(p.heads),\(p.d),\(chunk),\(p.dtype.rawValue),"
                        + (bytes + seconds + r).joined(separator: ","))
            }
        }
        try ReportFiles.save(rows, dir + "/chunk_attention.csv")
    }
}
