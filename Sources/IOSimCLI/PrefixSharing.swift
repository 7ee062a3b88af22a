import IOSim

/// chunk-attn beside the schedules that read a shared prefix once per sequence, on the same batch
/// (docs/counting-rules.md §14: the tool reports the ratio, so that ChunkAttention's 3.2–4.8×
/// kernel speedup at 1024–4096 shared tokens can be set beside it): paged-v1's and split-kv's HBM bytes, and with
/// `--hardware` their estimated times, divided by chunk-attn's (docs/output.md).
enum PrefixSharing {
    /// The schedules chunk-attn is compared with, in this order.
    static let baselines: [ScheduleKind] = [.pagedV1, .splitKV]

    /// Each baseline's ratio to chunk-attn (nil where the baseline cannot run or has no estimate).
    struct Ratios {
        var bytes: [(ScheduleKind, Double?)]
        /// nil without `--hardware`.
        var time: [(ScheduleKind, Double?)]?
    }

    /// The ratios when chunk-attn ran; a baseline that is not among `results` is simulated with the
    /// same problem, M and tile request (and estimated on `hardware`).
    static func ratios(
        _ results: [ScheduleResult], _ p: AttentionProblem, capacity: Int, request: TileRequest, hardware: HardwareModel?
    ) -> Ratios? {
        guard let chunk = results.first(where: { $0.kind == .chunkAttn }), let c = chunk.counts, c.hbm.bytes > 0 else { return nil }
        var bytes: [(ScheduleKind, Double?)] = [], time: [(ScheduleKind, Double?)] = []
        for kind in baselines {
            let r =
                results.first { $0.kind == kind } ?? Estimates.attach(Simulator.simulate(kind, p, capacity: capacity, tiles: request), p, hardware)
            bytes.append((kind, r.counts.map { Double($0.hbm.bytes) / Double(c.hbm.bytes) }))
            let seconds = r.timeEstimate.flatMap { a in chunk.timeEstimate.map { a.seconds / $0.seconds } }
            time.append((kind, seconds))
        }
        return Ratios(bytes: bytes, time: hardware == nil ? nil : time)
    }

    /// The fields chunk-attn's JSON result gains: `chunk_attn_ratio` and, with `--hardware`,
    /// `chunk_attn_time_ratio`, each `{"paged-v1": x, "split-kv": y}` (null where one cannot run).
    static func json(_ r: Ratios) -> [(String, JSON)] {
        func object(_ xs: [(ScheduleKind, Double?)]) -> JSON { .object(xs.map { ($0.0.rawValue, $0.1.map(JSON.double) ?? .double(.nan)) }) }
        return [("chunk_attn_ratio", object(r.bytes))] + (r.time.map { [("chunk_attn_time_ratio", object($0))] } ?? [])
    }

    /// The line under the table.
    static func line(_ r: Ratios, _ p: AttentionProblem) -> String {
        func list(_ xs: [(ScheduleKind, Double?)]) -> String {
            xs.map { "\($0.0.rawValue) \($0.1.map { Render.fixed($0, 2) + "×" } ?? "–")" }.joined(separator: ", ")
        }
        let shared = ChunkAttnSchedule.sharedChunks(p)
        var s =
            "chunk-attn: \(shared) shared chunks of \(p.chunk) tokens (\(shared * p.chunk) of the \(p.sharedPrefix) prefix tokens) read once per head; "
            + "HBM bytes of the others over chunk-attn's: " + list(r.bytes)
        if let t = r.time { s += "; estimated time: " + list(t) }
        return s
    }
}
