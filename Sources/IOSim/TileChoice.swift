/// How tiles are picked when `--Br`/`--Bc` do not fix both (DESIGN §4).
public enum TilePolicy: String, CaseIterable, Sendable, Codable {
    /// The feasible pair of multiples of 16 (any positive integers when none fits), not above N
    /// rounded up to 16, with the largest Br·Bc; ties go to the larger Br.
    case auto
    /// The paper's rule where one exists (FA1: Bc = ⌈M/4d⌉, Br = min(Bc, d), M in elements; used for
    /// fa1 and fa2), else `auto`. It may be infeasible under the footprint, and is reported so.
    case paper
    /// The feasible pair (multiples of 16) with the least HBM bytes, ranked by the closed forms;
    /// ties go to the larger Br·Bc, then the larger Br.
    case optimal
}

/// A request for tiles: explicit sizes, a policy for the rest.
public struct TileRequest: Hashable, Sendable {
    public var br: Int?
    public var bc: Int?
    public var policy: TilePolicy

    public init(br: Int? = nil, bc: Int? = nil, policy: TilePolicy = .auto) {
        self.br = br
        self.bc = bc
        self.policy = policy
    }
}

public enum TileChoice {
    /// The tiles `kind` runs with under M = `capacity` bytes, clamped to the problem, or
    /// `.infeasible` naming the footprint and M.
    public static func choose(_ schedule: any Schedule.Type, _ p: AttentionProblem, capacity: Int,
                              _ request: TileRequest) throws(SimulationError) -> Tiles {
        func footprint(_ t: Tiles) -> Int { schedule.footprint(t, p, capacity: capacity) }
        func checked(_ t: Tiles, _ what: String) throws(SimulationError) -> Tiles {
            let f = footprint(t)
            guard f <= capacity else {
                throw .infeasible("\(what) tiles \(t.clamped(to: p)) need \(f) bytes of SRAM, more than M = \(capacity) bytes")
            }
            return t.clamped(to: p)
        }
        if let br = request.br, let bc = request.bc { return try checked(Tiles(br: br, bc: bc), "the requested") }
        if request.policy == .paper, request.br == nil, request.bc == nil, schedule.kind == .fa1 || schedule.kind == .fa2 {
            let mElems = capacity / p.dtype.size
            let bc = (mElems + 4 * p.d - 1) / (4 * p.d)
            return try checked(Tiles(br: min(bc, p.d), bc: bc), "the paper's")
        }
        let brMax = roundUp16(p.n), bcMax = roundUp16(p.nk)
        if request.policy == .optimal, schedule.kind != .fa3, schedule.kind != .smallM {
            if let t = optimal(schedule, p, capacity: capacity, fixedBr: request.br, fixedBc: request.bc,
                               brMax: brMax, bcMax: bcMax) { return t.clamped(to: p) }
        }
        for step in [16, 1] {
            if let t = largest(step: step, fixedBr: request.br, fixedBc: request.bc, brMax: brMax, bcMax: bcMax, fits: { footprint($0) <= capacity }) {
                return t.clamped(to: p)
            }
        }
        let smallest = Tiles(br: request.br ?? 1, bc: request.bc ?? 1)
        throw .infeasible("even \(smallest) tiles need \(footprint(smallest)) bytes of SRAM, more than M = \(capacity) bytes")
    }

    static func roundUp16(_ n: Int) -> Int { (n + 15) / 16 * 16 }

    /// The fitting pair on the `step` grid with the largest area (ties: larger Br). Footprints grow
    /// with each tile side, so for each Br the best Bc is found by bisection.
    static func largest(step: Int, fixedBr: Int?, fixedBc: Int?, brMax: Int, bcMax: Int,
                        fits: (Tiles) -> Bool) -> Tiles? {
        let brs = fixedBr.map { [$0] } ?? Array(stride(from: step, through: brMax, by: step))
        var best: Tiles?
        for br in brs {
            let bc: Int
            if let fixedBc {
                guard fits(Tiles(br: br, bc: fixedBc)) else { continue }
                bc = fixedBc
            } else {
                guard fits(Tiles(br: br, bc: step)) else { continue }
                var lo = 1, hi = bcMax / step  // multiples: lo fits
                while lo < hi {
                    let mid = (lo + hi + 1) / 2
                    if fits(Tiles(br: br, bc: mid * step)) { lo = mid } else { hi = mid - 1 }
                }
                bc = lo * step
            }
            if best == nil || br * bc >= best!.br * best!.bc { best = Tiles(br: br, bc: bc) }
        }
        return best
    }

    static func optimal(_ schedule: any Schedule.Type, _ p: AttentionProblem, capacity: Int,
                        fixedBr: Int?, fixedBc: Int?, brMax: Int, bcMax: Int) -> Tiles? {
        var best: (bytes: Int, tiles: Tiles)?
        for br in fixedBr.map({ [$0] }) ?? Array(stride(from: 16, through: brMax, by: 16)) {
            for bc in fixedBc.map({ [$0] }) ?? Array(stride(from: 16, through: bcMax, by: 16)) {
                let t = Tiles(br: br, bc: bc)
                guard schedule.footprint(t, p, capacity: capacity) <= capacity else { break }
                guard let c = ClosedForm.traffic(schedule.kind, p, t, capacity: capacity) else { return nil }
                let bytes = c.hbm.bytes
                if best == nil || bytes < best!.bytes
                    || (bytes == best!.bytes && (br * bc, br) > (best!.tiles.br * best!.tiles.bc, best!.tiles.br)) {
                    best = (bytes, t)
                }
            }
        }
        return best?.tiles
    }
}
