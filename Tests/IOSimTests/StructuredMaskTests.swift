import AttentionReference
import TestSupport
import Testing

@testable import IOSim

/// Sinks, prefixes and documents: live tiles, counts, closed forms, data mode and bounds, each
/// against an enumeration of the visible elements.
@Suite struct StructuredMasks {
    struct MaskCase: CustomTestStringConvertible, Sendable {
        var name: String, n: Int, nk: Int, mask: AttentionMask
        var testDescription: String { "\(name) N=\(n) Nk=\(nk)" }
    }

    static func s(_ base: AttentionMask, sinks: Int = 0, prefix: Int = 0, docs: [Int] = []) -> AttentionMask {
        .structured(StructuredMask(base: base, sinkTokens: sinks, prefix: prefix, documents: docs))
    }

    static let docs = [130, 1, 47, 200, 9, 113]  // 500 tokens: ragged against every tile
    static let cases: [MaskCase] = [
        MaskCase(name: "sinks 4 + window 40", n: 500, nk: 500, mask: s(.slidingWindow(left: 39, right: 0, alignment: .bottomRight), sinks: 4)),
        MaskCase(name: "sinks 70 + two-sided window", n: 500, nk: 500, mask: s(.slidingWindow(left: 20, right: 30, alignment: .topLeft), sinks: 70)),
        MaskCase(name: "prefix 150 causal", n: 500, nk: 500, mask: s(.causal(.bottomRight), prefix: 150)),
        MaskCase(
            name: "prefix 9 + sinks 3 + window 17", n: 500, nk: 500,
            mask: s(.slidingWindow(left: 16, right: 0, alignment: .topLeft), sinks: 3, prefix: 9)),
        MaskCase(
            name: "sinks 8 + window 30, Nq < Nk", n: 97, nk: 500, mask: s(.slidingWindow(left: 29, right: 0, alignment: .bottomRight), sinks: 8)),
        MaskCase(
            name: "sinks 8 + window 30, Nq > Nk top-left", n: 500, nk: 97, mask: s(.slidingWindow(left: 29, right: 0, alignment: .topLeft), sinks: 8)),
        MaskCase(name: "prefix 20 causal, Nq < Nk", n: 97, nk: 500, mask: s(.causal(.bottomRight), prefix: 20)),
        // Decode shapes, where lean, paged-v1/v2 and chunk-attn run: sinks far from the window,
        // and sinks the window reaches.
        MaskCase(name: "decode sinks 4 + window 64", n: 1, nk: 700, mask: s(.slidingWindow(left: 63, right: 0, alignment: .bottomRight), sinks: 4)),
        MaskCase(
            name: "decode 16 rows sinks 40 + window 300", n: 16, nk: 333,
            mask: s(.slidingWindow(left: 299, right: 0, alignment: .bottomRight), sinks: 40)),
        MaskCase(name: "documents", n: 500, nk: 500, mask: s(.none, docs: docs)),
        MaskCase(name: "documents causal", n: 500, nk: 500, mask: s(.causal(.bottomRight), docs: docs)),
        MaskCase(
            name: "documents window 33 + sinks 5", n: 500, nk: 500,
            mask: s(.slidingWindow(left: 32, right: 0, alignment: .bottomRight), sinks: 5, docs: docs)),
        MaskCase(name: "documents prefix 64 causal", n: 500, nk: 500, mask: s(.causal(.topLeft), prefix: 64, docs: docs)),
    ]
    static let tiles = [KernelConfig(br: 16, bc: 16), KernelConfig(br: 48, bc: 80), KernelConfig(br: 128, bc: 32), KernelConfig(br: 7, bc: 3)]

    static func problem(_ c: MaskCase, heads: Int = 4, kvHeads: Int = 1, pack: Bool = false) -> AttentionProblem {
        AttentionProblem(n: c.n, nk: c.nk, heads: heads, kvHeads: kvHeads, mask: c.mask, packGQA: pack)
    }

    @Test(arguments: cases)
    func liveTilesAreExactlyThePairsHoldingAVisibleElement(c: MaskCase) {
        for pack in [false, true] {
            let p = Self.problem(c, pack: pack).scheduled
            for t in Self.tiles {
                // live[i][j]: some row of tile i sees some key of tile j.
                var live = [[Bool]](repeating: [Bool](repeating: false, count: t.tc(p)), count: t.tr(p))
                for i in 0..<t.tr(p) {
                    for r in t.rows(i, p) { for key in p.visibleColumns(row: r) { live[i][key / t.bc] = true } }
                }
                var pairs = 0, kvRows = 0, liveRows = 0
                for i in 0..<t.tr(p) {
                    let want = (0..<t.tc(p)).filter { live[i][$0] }
                    #expect(Array(t.liveColumnTiles(i, p)) == want, "\(c.name) pack=\(pack) \(t) row tile \(i)")
                    pairs += want.count
                    kvRows += want.reduce(0) { $0 + t.cols($1, p).count }
                    if !want.isEmpty { liveRows += t.rows(i, p).count }
                }
                for j in 0..<t.tc(p) {
                    #expect(Array(t.liveRowTiles(j, p)) == (0..<t.tr(p)).filter { live[$0][j] }, "\(c.name) pack=\(pack) \(t) column tile \(j)")
                }
                let sums = LiveSums(t, p)
                #expect([sums.pairs, sums.kvRows, sums.liveQRows] == [pairs, kvRows, liveRows], "\(c.name) pack=\(pack) \(t)")
            }
        }
    }

    @Test(arguments: cases)
    func visibleSumsCountTheVisibleElements(c: MaskCase) {
        let p = Self.problem(c)
        var pairs = 0, rows = 0
        var keys = Set<Int>()
        for r in 0..<c.n {
            let seen = Array(p.visibleColumns(row: r))
            pairs += seen.count
            if !seen.isEmpty { rows += 1 }
            keys.formUnion(seen)
        }
        let v = VisibleSums(p)
        #expect([v.pairs, v.liveRows, v.liveKeys] == [pairs, rows, keys.count], "\(c.name)")
    }

    @Test(arguments: cases)
    func everyScheduleTakingTheMaskCountsItsClosedForm(c: MaskCase) throws {
        let p = Self.problem(c, heads: 2, kvHeads: 2)
        for kind in ScheduleKind.allCases where kind.models(p) {
            for t in Self.tiles.prefix(3) {
                let r = Simulator.simulate(kind, p, capacity: 1 << 22, tiles: TileRequest(br: t.br, bc: t.bc))
                if let refusal = kind.implementation?.masks.refusal(p.mask, schedule: kind) {
                    #expect(r.counts == nil && r.reason == refusal && refusal.contains("sink-token masks only"), "\(kind)")
                    continue
                }
                guard let counts = r.counts else { continue }  // infeasible for its own reasons (decode shapes)
                let expected = try #require(ClosedForm.traffic(kind, p, r.tiles!, capacity: 1 << 22), "\(kind)")
                #expect(counts.byTensor == expected.byTensor, "\(kind) \(t) \(c.name)")
                #expect(counts.kernels == expected.kernels, "\(kind) \(t) \(c.name) per kernel")
            }
        }
    }

    /// The decode schedules that take sinks (lean's stream, vLLM's paged partitions, split-kv)
    /// read the sinks' tiles and the window's, nothing in the gap between them: K rows read equal
    /// the rows of the tile pairs that hold a visible element, found element by element (Nk a
    /// multiple of the tiles, so paged reads have no tail). Lean with few CTAs splits a row's
    /// units across the gap.
    @Test(arguments: [4, 100, 600])
    func decodeSchedulesReadTheSinksAndTheWindowNotTheGap(sinks: Int) throws {
        let mask = Self.s(.slidingWindow(left: 511, right: 0, alignment: .bottomRight), sinks: sinks)
        for n in [1, 3] {
            let p = AttentionProblem(n: n, nk: 4096, d: 64, heads: 2, mask: mask)
            for (kind, ctas) in [(ScheduleKind.lean, 0), (.lean, 3), (.pagedV1, 0), (.pagedV2, 0), (.splitKV, 0)] {
                var request = TileRequest(br: 16, bc: 16)
                request.ctas = ctas
                let r = Simulator.simulate(kind, p, capacity: 1 << 22, tiles: request)
                let counts = try #require(r.counts, "\(kind): \(r.reason ?? "")"), t = try #require(r.tiles)
                var rows = 0
                for i in 0..<t.tr(p) {
                    for j in 0..<t.tc(p) where t.rows(i, p).contains(where: { r in p.visibleColumns(row: r).contains { t.cols(j, p).contains($0) } })
                    {
                        rows += t.cols(j, p).count
                    }
                }
                #expect(counts.byTensor[Tensor.K.rawValue].reads == 2 * rows * 64, "\(kind) ctas \(ctas) n \(n) sinks \(sinks)")
                let closed = try #require(ClosedForm.traffic(kind, p, t, capacity: 1 << 22))
                #expect(counts.byTensor == closed.byTensor && counts.kernels == closed.kernels, "\(kind) ctas \(ctas)")
            }
        }
    }

    @Test(arguments: cases.filter { $0.n == $0.nk })
    func scheduleOutputsPassTheToleranceRuleUnderTheMask(c: MaskCase) throws {
        let n = 200
        // The same structure on a shorter sequence (documents scaled to add up to 200).
        var mask = c.mask
        if case let .structured(s) = c.mask, !s.documents.isEmpty {
            mask = Self.s(s.base, sinks: s.sinkTokens, prefix: s.prefix, docs: [60, 1, 19, 80, 9, 31])
        }
        let p = AttentionProblem(n: n, d: 24, heads: 2, dtype: .fp32, mask: mask)
        let shape = AttentionShape(batch: 1, heads: 2, nq: n, d: 24)
        let (q, k, v) = AttentionInputs(shape, seed: 5).qkv
        for kind in ScheduleKind.allCases where kind.models(p) && kind.implementation?.masks == .every {
            let out = try DataMode.run(kind, p, capacity: 1 << 22, tiles: KernelConfig(br: 32, bc: 16), q: q, k: k, v: v)
            let report = try Equivalence.checkForward(candidate: out.result, q: q, k: k, v: v, shape: shape, mask: mask, precision: .fp32)
            #expect(report.passed, "\(kind) \(c.name): \(report)")
        }
    }
}
