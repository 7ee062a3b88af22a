import Dispatch
import IOSimChecking
import IOSimCore
import IOSimFormats
import IOSimTimeModel
import Synchronization

/// How tiles are picked when `--Br`/`--Bc` do not fix both (docs/tiles.md).
public enum TilePolicy: String, CaseIterable, Sendable, Codable {
    /// The feasible pair of multiples of 16 (any positive integers when none fits), not above N
    /// rounded up to 16, with the largest Br·Bc; ties go to the larger Br.
    case auto
    /// The paper's rule where one exists (FA1: Bc = ⌈M/4d⌉, Br = min(Bc, d), M in elements, used for
    /// fa1 and fa2; FA3: its published tile table), else `auto`. It may be infeasible under the
    /// footprint, and is reported so.
    case paper
    /// The feasible pair with the least HBM bytes, ranked by the closed forms (ties go to the
    /// larger Br·Bc, then the larger Br), over this search space: below M = 4d² (in bytes,
    /// 4·d²·size(dtype)) every pair of positive integers; from 4d² on, ``TileChoice/gridSides(upTo:rows:)``
    /// for each side (every multiple of 16 up to 2048, and above 2048 the largest multiple of 16
    /// for each tile count ⌈N/B⌉) plus the best integer pair found at 4d², which still fits.
    case optimal
    /// The tiles and warps of the real kernel the schedule is modelled on, for the GPU
    /// (``Schedule/kernelTiles(_:on:)``: FlashAttention-2's and -3's launch code, FA2's decode block_n,
    /// PyTorch's backward); schedules without one use their own kernel tiles, else the paper's
    /// rule when it fits, else `optimal`. Reported infeasible when the kernel's tiles do not fit M.
    case kernel
}

/// A request for tiles: explicit sizes, a policy for the rest.
public struct TileRequest: Hashable, Sendable {
    public var br: Int?
    public var bc: Int?
    public var policy: TilePolicy
    /// FA3 pipeline stages and warps per thread block, carried into the chosen ``KernelConfig``.
    public var stages: Int
    public var warps: Int
    /// Split-KV's splits and Lean Attention's CTAs, carried into the chosen ``KernelConfig``.
    public var splits: Int
    public var ctas: Int
    /// Whether the policy was asked for: schedules with a kernel's own tiles (split-kv) use them
    /// unless it was.
    public var policyExplicit: Bool
    /// The GPU whose kernel tiles `kernel` looks up (H100 unless a hardware model says otherwise).
    public var target: KernelTarget
    /// Whether `warps` was asked for: `kernel` otherwise takes the kernel's warps.
    public var warpsExplicit: Bool

    public init(
        br: Int? = nil, bc: Int? = nil, policy: TilePolicy = .auto, stages: Int = 2, warps: Int = 4,
        splits: Int = 1, ctas: Int = 0, policyExplicit: Bool = true, target: KernelTarget = .sm90, warpsExplicit: Bool = true
    ) {
        self.target = target
        self.warpsExplicit = warpsExplicit
        self.br = br
        self.bc = bc
        self.policy = policy
        self.stages = stages
        self.warps = warps
        self.splits = splits
        self.ctas = ctas
        self.policyExplicit = policyExplicit
    }

    /// A tile shape with this request's stages and warps.
    func tiles(_ br: Int, _ bc: Int) -> KernelConfig { KernelConfig(br: br, bc: bc, stages: stages, warps: warps, splits: splits, ctas: ctas) }
}

public enum TileChoice {
    /// The tiles `kind` runs with under M = `capacity` bytes, clamped to the problem, or
    /// `.infeasible` naming the footprint and M.
    public static func choose(
        _ schedule: any Schedule.Type, _ problem: AttentionProblem, capacity: Int,
        _ request: TileRequest
    ) throws(SimulationError) -> KernelConfig {
        let p = problem.scheduled
        func footprint(_ t: KernelConfig) -> Int { schedule.footprint(t, p, capacity: capacity) }
        func checked(_ t: KernelConfig, _ what: String) throws(SimulationError) -> KernelConfig {
            // FA1's rule gives Bc = 0 when M holds fewer than 4d elements.
            guard t.br > 0, t.bc > 0 else {
                throw .infeasible("\(what) rule gives \(t) tiles at M = \(capacity) bytes (fewer than 4d = \(4 * p.d) elements)")
            }
            let f = footprint(t)
            guard f <= capacity else {
                throw .infeasible("\(what) tiles \(t.clamped(to: p)) need \(f) bytes of SRAM, more than M = \(capacity) bytes")
            }
            return t.clamped(to: p)
        }
        if let br = request.br, let bc = request.bc { return try checked(request.tiles(br, bc), "the requested") }
        let paper = request.br == nil && request.bc == nil ? schedule.paperTiles(p, capacity: capacity) : nil
        if request.policy == .paper, let t = paper { return try checked(request.tiles(t.br, t.bc), "the paper's") }
        if request.policy == .kernel {
            if let k = schedule.kernelTiles(p, on: request.target) {
                var r = request
                if !r.warpsExplicit { r.warps = k.warps }
                return try checked(r.tiles(r.br ?? k.br, r.bc ?? k.bc), "the kernel's")
            }
            if let t = schedule.kernelTiles(p) { return try checked(request.tiles(request.br ?? t.br, request.bc ?? t.bc), "the kernel's") }
            if let t = paper, footprint(request.tiles(t.br, t.bc)) <= capacity { return request.tiles(t.br, t.bc).clamped(to: p) }
        }
        // A schedule modelled on one kernel runs that kernel's tiles unless a policy was asked
        // for (or they do not fit: then the policy chooses).
        if !request.policyExplicit, let t = schedule.kernelTiles(p),
            footprint(request.tiles(request.br ?? t.br, request.bc ?? t.bc)) <= capacity
        {
            return request.tiles(request.br ?? t.br, request.bc ?? t.bc).clamped(to: p)
        }
        // FA3's auto tiles are its published defaults whenever they fit.
        if request.policy == .auto, schedule.autoPrefersPaperTiles, let t = paper, footprint(request.tiles(t.br, t.bc)) <= capacity {
            return request.tiles(t.br, t.bc).clamped(to: p)
        }
        let brMax = roundUp16(p.n), bcMax = roundUp16(p.nk)
        if request.policy == .optimal || request.policy == .kernel,
            let t = optimal(schedule, p, capacity: capacity, request, brMax: brMax, bcMax: bcMax)
        {
            return t.clamped(to: p)
        }
        for step in [16, 1] {
            if let t = largest(
                step: step, request, square: schedule.squareTiles, brMax: brMax, bcMax: bcMax,
                fits: { footprint($0) <= capacity })
            {
                return t.clamped(to: p)
            }
        }
        let smallest = request.tiles(request.br ?? 1, request.bc ?? 1)
        throw .infeasible("even \(smallest) tiles need \(footprint(smallest)) bytes of SRAM, more than M = \(capacity) bytes")
    }

    static func roundUp16(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    /// The fitting pair on the `step` grid with the largest area (ties: larger Br); `square` keeps
    /// Br = Bc. Footprints grow with each tile side, so for each Br the best Bc is found by bisection.
    static func largest(
        step: Int, _ r: TileRequest, square: Bool, brMax: Int, bcMax: Int,
        fits: (KernelConfig) -> Bool
    ) -> KernelConfig? {
        if square, r.br == nil, r.bc == nil {
            var best: KernelConfig?
            for b in stride(from: step, through: min(brMax, bcMax), by: step) {
                guard fits(r.tiles(b, b)) else { break }
                best = r.tiles(b, b)
            }
            return best
        }
        let brs = r.br.map { [$0] } ?? Array(stride(from: step, through: brMax, by: step))
        var best: KernelConfig?
        for br in brs {
            let bc: Int
            if let fixedBc = r.bc {
                guard fits(r.tiles(br, fixedBc)) else { continue }
                bc = fixedBc
            } else {
                guard fits(r.tiles(br, step)) else { continue }
                var lo = 1, hi = bcMax / step  // multiples: lo fits
                while lo < hi {
                    let mid = (lo + hi + 1) / 2
                    if fits(r.tiles(br, mid * step)) { lo = mid } else { hi = mid - 1 }
                }
                bc = lo * step
            }
            if best == nil || br * bc >= best!.br * best!.bc { best = r.tiles(br, bc) }
        }
        return best
    }

    /// The least-traffic feasible pair. Below M = 4d² (tiles of a few rows, where a step of 16
    /// costs a large share of the traffic) every integer pair is searched; above, the multiples of
    /// 16 and the best integer pair found at 4d², which still fits — so the chosen traffic never
    /// grows with M, across the switch too.
    static func optimal(
        _ schedule: any Schedule.Type, _ p: AttentionProblem, capacity: Int, _ r: TileRequest,
        brMax: Int, bcMax: Int
    ) -> KernelConfig? {
        let threshold = 4 * p.d * p.d * p.dtype.size
        // Sinks, prefixes and documents have no O(log) closed form: every side from 1 up would
        // cost minutes at long N, so their search keeps to the grid (docs/tiles.md), every side
        // only when no grid tile fits.
        if p.mask.hasStructure {
            return optimal(schedule, p, capacity: capacity, r, step: 16, brMax: brMax, bcMax: bcMax)
                ?? optimal(schedule, p, capacity: capacity, r, step: 1, brMax: brMax, bcMax: bcMax)
        }
        if capacity < threshold {
            return optimal(schedule, p, capacity: capacity, r, step: 1, brMax: brMax, bcMax: bcMax)
        }
        let key = FineKey(kind: schedule.kind, pass: schedule.pass, problem: p, request: r)
        let fine =
            fineCache.withLock { $0[key] }
            ?? {
                let t = optimal(schedule, p, capacity: threshold - 1, r, step: 1, brMax: brMax, bcMax: bcMax)
                fineCache.withLock { $0[key] = t }
                return t
            }()
        let candidates = [optimal(schedule, p, capacity: capacity, r, step: 16, brMax: brMax, bcMax: bcMax), fine]
            .compactMap { $0 }
        guard !candidates.isEmpty else { return optimal(schedule, p, capacity: capacity, r, step: 1, brMax: brMax, bcMax: bcMax) }
        let worst = (Int.max, 0, 0)
        return candidates.min { (rank(schedule, p, $0, capacity) ?? worst) < (rank(schedule, p, $1, capacity) ?? worst) }
    }

    /// How `optimal` orders feasible tiles: least HBM bytes (by the closed form), then the larger
    /// Br·Bc, then the larger Br. Nil where the schedule has no closed form.
    static func rank(_ schedule: any Schedule.Type, _ p: AttentionProblem, _ t: KernelConfig, _ capacity: Int) -> (Int, Int, Int)? {
        // One instance ranks as all of them do (every instance moves the same bytes), and costs
        // no multiplications: the search evaluates thousands of candidates.
        var one = p.scheduled
        (one.batch, one.heads, one.kvHeads) = (1, 1, 1)
        guard let bytes = ClosedForm.instanceBytes(schedule, one, t, capacity: capacity) else { return nil }
        return (bytes, -t.br * t.bc, -t.br)
    }

    struct FineKey: Hashable, Sendable {
        var kind: ScheduleKind
        var pass: Pass
        var problem: AttentionProblem
        var request: TileRequest
    }

    /// Best integer pairs at M = 4d², by schedule and problem (sweeps ask for them at every M).
    static let fineCache = Mutex<[FineKey: KernelConfig?]>([:])

    /// The best pair on one search grid: every positive integer side (`step` 1) or
    /// ``gridSides(upTo:rows:)`` (`step` 16). Footprints grow with each side, so a side that does not
    /// fit ends its loop.
    static func optimal(
        _ schedule: any Schedule.Type, _ p: AttentionProblem, capacity: Int, _ r: TileRequest,
        step: Int, brMax: Int, bcMax: Int
    ) -> KernelConfig? {
        typealias Ranked = (rank: (Int, Int, Int), tiles: KernelConfig)
        func sides(_ fixed: Int?, _ upper: Int, _ rows: Int) -> [Int] {
            if let fixed { return [fixed] }
            return step == 1 ? Array(1...upper) : gridSides(upTo: upper, rows: rows)
        }
        let bcs = sides(r.bc, bcMax, p.nk), brs = sides(r.br, brMax, p.n)
        // The best Bc for one Br; nil when no pair fits (footprints grow with Bc: the first
        // that does not fit ends the row).
        @Sendable func bestRow(_ br: Int) -> Ranked? {
            var best: Ranked?
            for bc in bcs {
                let t = r.tiles(br, bc)
                guard schedule.footprint(t, p, capacity: capacity) <= capacity else { break }
                guard let k = rank(schedule, p, t, capacity) else { continue }
                if best == nil || k < best!.rank { best = (k, t) }
            }
            return best
        }
        // The rows are independent and the ranking is a total order, so rows evaluated in
        // parallel (long masked problems cost a closed form per pair) choose the same tiles.
        let rows = Mutex([Ranked?](repeating: nil, count: brs.count))
        let workers = brs.count > 8 ? 2 : 1
        DispatchQueue.concurrentPerform(iterations: workers) { part in
            for k in stride(from: part, to: brs.count, by: workers) {
                let row = bestRow(brs[k])
                rows.withLock { $0[k] = row }
            }
        }
        return rows.withLock { $0 }.compactMap { $0 }.min { $0.rank < $1.rank }?.tiles
    }

    /// The tile sides `optimal` tries from M = 4d² on: every multiple of 16 up to 2048, and above
    /// it, for each tile count ⌈rows/B⌉, the largest multiple of 16 (≤ `upper`) with that count —
    /// counts depend on a large side mostly through its tile count, and N = 1M would otherwise
    /// give 65536² pairs.
    public static func gridSides(upTo upper: Int, rows: Int) -> [Int] {
        var sides = Array(stride(from: 16, through: min(upper, 2048), by: 16))
        var lastCount = -1
        for b in stride(from: upper / 16 * 16, to: 2048, by: -16) {
            let count = (rows + b - 1) / b
            if count != lastCount { sides.append(b) }
            lastCount = count
        }
        return sides.sorted()
    }
}
