import IOSimChecking
import IOSimCore
import IOSimFormats
import IOSimTimeModel

public enum Simulator {
    /// Counts `kind` on `problem` under an SRAM of `capacity` bytes, executing every tile operation.
    public static func simulate(
        _ kind: ScheduleKind, _ problem: AttentionProblem, capacity: Int,
        tiles request: TileRequest = TileRequest(), pass: Pass = .forward
    ) -> ScheduleResult {
        if let refusal = kind.implementation(for: pass)?.masks.refusal(problem.mask, schedule: kind) {
            return ScheduleResult(kind: kind, bound: batchBound(problem, capacity: capacity, pass: pass), reason: refusal, pass: pass)
        }
        if let documents = problem.varlenParts {
            if pass == .training { return training(kind, problem, capacity: capacity, tiles: request) }
            return parts(kind, problem, documents, capacity: capacity, tiles: request, pass: pass, grid: true)
        }
        if let planes = problem.blockParts {
            if pass == .training { return training(kind, problem, capacity: capacity, tiles: request) }
            return parts(kind, problem, planes, capacity: capacity, tiles: request, pass: pass, grid: false)
        }
        if let groups = problem.lengthGroups, kind.implementation(for: pass)?.seesWholeBatch != true {
            return lengths(kind, problem, groups, capacity: capacity, tiles: request, pass: pass)
        }
        if pass == .training { return training(kind, problem, capacity: capacity, tiles: request) }
        let bound = batchBound(problem, capacity: capacity, pass: pass)
        guard let schedule = kind.implementation(for: pass) else {
            let why = kind.implementation == nil ? "is not a registered schedule" : "has no \(pass) schedule"
            return ScheduleResult(kind: kind, bound: bound, reason: "\(kind.rawValue) \(why)", pass: pass)
        }
        do {
            let p = problem.scheduled
            var request = request
            // `--stages` deeper than a kernel is built with gives its deepest (docs/cli.md §2).
            if let built = schedule.pipelineStages { request.stages = min(max(request.stages, built.lowerBound), built.upperBound) }
            let chosen = try TileChoice.choose(schedule, p, capacity: capacity, request)
            // A schedule with its own column tiles (chunk-attn's chunks) reads its own cache layout.
            let tiles: KernelConfig
            if let own = try schedule.columnTiles(chosen, p, requestedBc: request.bc) {
                tiles = own
            } else {
                tiles = try pagedTiles(schedule, p, capacity: capacity, request, chosen)
            }
            var machine = CountingMachine(problem: p, capacity: capacity, defaultKernel: kind.rawValue)
            try run(schedule, on: &machine, tiles: tiles)
            _ = try machine.counts.checkedHBM()
            return ScheduleResult(
                kind: kind, tiles: tiles, footprint: schedule.footprint(tiles, p, capacity: capacity),
                counts: machine.counts, bound: bound, pass: pass)
        } catch .countOverflow {
            return ScheduleResult(
                kind: kind, bound: bound, reason: SimulationError.countOverflow("\(kind.rawValue)'s counts").description, pass: pass)
        } catch {
            return ScheduleResult(kind: kind, bound: bound, reason: error.description, pass: pass)
        }
    }

    /// The forward, then the backward, each with its own tiles (chosen by the same request):
    /// counts added, kernels in launch order, bounds added.
    static func training(_ kind: ScheduleKind, _ problem: AttentionProblem, capacity: Int, tiles request: TileRequest) -> ScheduleResult {
        let f = simulate(kind, problem, capacity: capacity, tiles: request, pass: .forward)
        let b = simulate(kind, problem, capacity: capacity, tiles: request, pass: .backward)
        let bound = Bound(problem, capacityBytes: capacity, pass: .training)
        guard let fc = f.counts, let bc = b.counts, let ft = f.tiles, let fp = f.footprint, let bfp = b.footprint else {
            let why = f.reason.map { "forward: \($0)" } ?? b.reason.map { "backward: \($0)" } ?? "no tiles"
            return ScheduleResult(kind: kind, bound: bound, reason: why, pass: .training)
        }
        do {
            var r = ScheduleResult(
                kind: kind, tiles: ft, footprint: max(fp, bfp), counts: try fc.adding(bc), bound: bound, pass: .training)
            (r.backwardTiles, r.backwardFootprint, r.forwardCounts) = (b.tiles, bfp, fc)
            return r
        } catch {
            return ScheduleResult(
                kind: kind, bound: bound, reason: SimulationError.countOverflow("\(kind.rawValue)'s training counts").description, pass: .training)
        }
    }

    /// Variable lengths (docs/counting-rules.md §13): each distinct length runs once, as a problem whose batch
    /// is the sequences of that length (its instances are identical, so the counting machine
    /// replays one), and the counts add up: tensors summed, kernels merged by name with their
    /// CTAs summed, bounds summed. Tiles are chosen per length; the result shows the longest
    /// length's. A length a schedule cannot run makes the schedule infeasible, naming it.
    static func lengths(
        _ kind: ScheduleKind, _ problem: AttentionProblem, _ groups: [SequenceLengths.Group], capacity: Int,
        tiles request: TileRequest, pass: Pass
    ) -> ScheduleResult {
        let total = batchBound(problem, capacity: capacity, pass: pass)
        var results: [ScheduleResult] = []
        for g in groups {
            var p = problem
            (p.lengthGroups, p.nk, p.batch) = (nil, g.length, g.count)
            results.append(simulate(kind, p, capacity: capacity, tiles: request, pass: pass))
        }
        if let bad = zip(groups, results).first(where: { $0.1.counts == nil }) {
            return ScheduleResult(kind: kind, bound: total, reason: "length \(bad.0.length): \(bad.1.reason ?? "infeasible")", pass: pass)
        }
        do {
            var counts = TrafficCounts()
            for r in results { counts = try merged(counts, r.counts!) }
            let longest = results[groups.indices.max { groups[$0].length < groups[$1].length }!]
            var r = ScheduleResult(kind: kind, tiles: longest.tiles, footprint: longest.footprint, counts: counts, bound: total, pass: pass)
            r.footprint = results.compactMap(\.footprint).max()
            r.perLength = results
            return r
        } catch {
            let why = SimulationError.countOverflow("\(kind.rawValue)'s counts").description
            return ScheduleResult(kind: kind, bound: total, reason: why, pass: pass)
        }
    }

    /// The bound of a problem, summed over its lengths' groups under `--lengths` (as ``lengths``
    /// adds them) for a schedule that runs the whole batch at once.
    static func batchBound(_ problem: AttentionProblem, capacity: Int, pass: Pass) -> Bound {
        guard let groups = problem.lengthGroups else {
            return Bound(problem, capacityBytes: capacity, pass: pass).sharingPrefix(problem, sequences: problem.batch)
        }
        let parts = groups.map { g in
            var p = problem
            (p.lengthGroups, p.nk, p.batch) = (nil, g.length, g.count)
            return Bound(p, capacityBytes: capacity, pass: pass)
        }
        return Bound.sum(parts).sharingPrefix(problem, sequences: groups.reduce(0) { $0 + $1.count })
    }

    /// Two batches' counts as one launch: tensors added, kernels of the same name merged (CTAs
    /// added), the larger peak footprint.
    static func merged(_ a: TrafficCounts, _ b: TrafficCounts) throws(SimulationError) -> TrafficCounts {
        var r = a
        for i in r.byTensor.indices { r.byTensor[i] = try .checkedSum(a.byTensor[i], b.byTensor[i]) }
        for k in b.kernels {
            guard let i = r.kernels.firstIndex(where: { $0.name == k.name }) else {
                r.kernels.append(k)
                continue
            }
            r.kernels[i].ctas = try Int.checkedAdd(r.kernels[i].ctas, k.ctas)
            for t in k.byTensor.indices { r.kernels[i].byTensor[t] = try .checkedSum(r.kernels[i].byTensor[t], k.byTensor[t]) }
        }
        r.sram = try .checkedSum(a.sram, b.sram)
        r.peakFootprint = max(a.peakFootprint, b.peakFootprint)
        _ = try r.checkedHBM()
        return r
    }

    /// Under `--kv-layout paged` (docs/counting-rules.md §12): only schedules that stream K/V through the paged
    /// loads run, and column tiles are whole blocks. Requested tiles must be (Bc a multiple of
    /// the block size, or one tile over all of Nk); chosen tiles are rounded down to whole
    /// blocks (at least one), which only shrinks the footprint unless a block exceeds the tile.
    static func pagedTiles(
        _ schedule: any Schedule.Type, _ p: AttentionProblem, capacity: Int, _ request: TileRequest, _ chosen: KernelConfig
    ) throws(SimulationError) -> KernelConfig {
        let entry = ScheduleRegistry.entry(schedule.kind, schedule.pass)
        guard let b = entry?.alwaysPaged == true ? p.blockSize : p.pagedBlockSize else { return chosen }
        guard entry?.readsPagedCache == true else {
            let paged = ScheduleRegistry.entries.filter(\.readsPagedCache).map(\.kind.rawValue).joined(separator: ", ")
            throw .infeasible("\(schedule.kind.rawValue) reads a contiguous K/V cache only (paged layouts: \(paged))")
        }
        guard chosen.bc % b != 0, chosen.bc < p.nk else { return chosen }
        if request.bc != nil {
            throw .invalid("Bc = \(chosen.bc) is not a multiple of the block size \(b): a paged load reads whole blocks")
        }
        let t = chosen.with(br: chosen.br, bc: max(b, chosen.bc / b * b)).clamped(to: p)
        let f = schedule.footprint(t, p, capacity: capacity)
        guard f <= capacity else { throw .infeasible("one block of \(b) keys per tile needs \(f) bytes of SRAM, more than M = \(capacity) bytes") }
        return t
    }

    /// Runs a schedule on the counting machine, through the registry's specialised loop.
    static func run(_ s: any Schedule.Type, on m: inout CountingMachine, tiles: KernelConfig) throws(SimulationError) {
        guard let e = ScheduleRegistry.entry(s.kind, s.pass) else { throw .invalid("\(s.kind) is not a registered schedule") }
        try e.countRun(&m, tiles)
    }
}
