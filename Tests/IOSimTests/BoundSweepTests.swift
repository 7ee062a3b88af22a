import Testing

@testable import IOSim

/// No schedule moves less than the lower bound: a sweep over every schedule, pass, mask, GQA
/// layout, sharing option and M asserts ratio ≥ 1 for every result that runs (the mask-aware
/// bound, docs/counting-rules.md §9; before it, a window gave 0.17 and chunk-attn's shared prefix
/// 0.24).
@Suite struct BoundSweep {
    static let masks: [AttentionMask] = [
        .none, .causal(.bottomRight), .causal(.topLeft),
        .slidingWindow(left: 63, right: 0, alignment: .bottomRight), .slidingWindow(left: 15, right: 0, alignment: .topLeft),
        .slidingWindow(left: 200, right: 0, alignment: .bottomRight),
        .slidingWindow(left: 20, right: 30, alignment: .bottomRight), .slidingWindow(left: 30, right: Limits.maxSequence - 1, alignment: .topLeft),
    ]

    struct Case: CustomTestStringConvertible, Sendable {
        var problem: AttentionProblem
        var capacity: Int
        var testDescription: String {
            let p = problem
            return "Nq=\(p.nq) Nk=\(p.nk) d=\(p.d) h=\(p.heads)/\(p.kvHeads) pack=\(p.packGQA) mask=\(p.mask) prefix=\(p.sharedPrefix) M=\(capacity)"
        }
    }

    static var cases: [Case] {
        var out: [Case] = []
        for (nq, nk) in [(300, 300), (1, 1000), (64, 900), (700, 250)] {
            for mask in masks {
                for (heads, kvHeads, pack) in [(1, 1, false), (4, 2, false), (4, 2, true)] {
                    for capacity in [16_384, 100_000] {
                        out.append(
                            Case(
                                problem: AttentionProblem(n: nq, nk: nk, d: 64, batch: 2, heads: heads, kvHeads: kvHeads, mask: mask, packGQA: pack),
                                capacity: capacity))
                    }
                }
            }
        }
        // A prefix shared by the batch (chunk-attn reads its chunks once per head).
        for prefix in [0, 256, 500] {
            var p = AttentionProblem(n: 1, nk: 600, d: 64, batch: 8, heads: 4, mask: .causal(.bottomRight))
            (p.sharedPrefix, p.chunk) = (prefix, 64)
            out.append(Case(problem: p, capacity: 100_000))
        }
        return out
    }

    @Test(arguments: cases)
    func noScheduleMovesLessThanTheBound(c: Case) {
        for pass in [Pass.forward, .backward, .training] {
            for kind in ScheduleKind.allCases where kind.supports(pass) {
                let r = Simulator.simulate(kind, c.problem, capacity: c.capacity, pass: pass)
                guard let ratio = r.ratio else { continue }
                #expect(ratio >= 1, "\(kind) \(pass): ratio \(ratio), bound \(r.bound.elements)")
            }
        }
    }
}
