import AttentionReference
import TestSupport
import Testing

@testable import IOSim

/// Block masks (`--block-mask`): live tiles, counts, closed forms, data mode and bounds against an
/// enumeration of the visible elements; per-head planes add up; the H100's FlexAttention kernel on
/// the benchmark's random and per-head block masks.
@Suite struct BlockMasks {
    /// A random table of `planes` planes (values 0–2 with the given odds of empty and full).
    static func table(planes: Int, rows: Int, cols: Int, seed: UInt64, empty: Double = 0.5, full: Double = 0.25) -> [UInt8] {
        var g = SeededGenerator(seed: seed)
        return (0..<planes * rows * cols).map { _ in
            let x = Double.random(in: 0..<1, using: &g)
            return x < empty ? 0 : x < empty + full ? 2 : 1
        }
    }

    static func mask(_ n: Int, _ nk: Int, bq: Int, bk: Int, planes: (Int, Int) = (1, 1), heads: Int = 1, inner: AttentionMask, seed: UInt64)
        -> BlockMask
    {
        let (rows, cols) = ((n + bq - 1) / bq, (nk + bk - 1) / bk)
        return BlockMask(
            blockQ: bq, blockK: bk, rows: rows, cols: cols, batch: planes.0, heads: planes.1, queryHeads: heads,
            values: table(planes: planes.0 * planes.1, rows: rows, cols: cols, seed: seed), inner: inner)
    }

    static let inners: [AttentionMask] = [
        .none, .causal(.bottomRight), .slidingWindow(left: 40, right: 0, alignment: .topLeft),
        .structured(StructuredMask(base: .causal(.bottomRight), sinkTokens: 5, documents: [100, 37, 163])),
    ]

    @Test(arguments: 0..<inners.count)
    func liveTilesAndVisibleSumsAreThoseOfTheVisibleElements(inner: Int) {
        let (n, nk) = (300, Self.inners[inner].hasStructure ? 300 : 233)
        for (bq, bk) in [(64, 32), (50, 70)] {
            let p = AttentionProblem(n: n, nk: nk, mask: .blockSparse(Self.mask(n, nk, bq: bq, bk: bk, inner: Self.inners[inner], seed: 9)))
            var visible = [[Bool]](repeating: [Bool](repeating: false, count: nk), count: n)
            var pairs = 0
            guard case let .blockSparse(m) = p.mask else { return }
            for r in 0..<n {
                // The rule written out: full blocks show everything, partial ones the inner mask's keys.
                let inner = Self.inners[inner].keyRuns(row: r, nq: n, nk: nk)!
                for c in 0..<nk {
                    let v = m.value(plane: 0, row: r / bq, col: c / bk)
                    visible[r][c] = v == 2 || (v == 1 && inner.contains(c))
                    if visible[r][c] { pairs += 1 }
                }
                // The reference hides exactly the rest.
                var row = [Double](repeating: 0, count: nk)
                row.withUnsafeMutableBufferPointer { m.hide($0.baseAddress!, plane: 0, row: r, nq: n, nk: nk) }
                #expect((0..<nk).allSatisfy { (row[$0] == 0) == visible[r][$0] }, "row \(r)")
            }
            let v = VisibleSums(p)
            #expect(v.pairs == pairs && v.liveRows == visible.filter { $0.contains(true) }.count, "\(bq)×\(bk)")
            #expect(v.liveKeys == (0..<nk).filter { c in visible.contains { $0[c] } }.count)
            // Packed GQA rows (3 query heads over one K/V head, one shared plane): packed row R is
            // query row R / 3, so its keys are that row's.
            var packed = p
            (packed.heads, packed.kvHeads, packed.packGQA) = (3, 1, true)
            for (q, g) in [(p, 1), (packed.scheduled, 3)] {
                for t in [KernelConfig(br: 16, bc: 16), KernelConfig(br: 48, bc: 80), KernelConfig(br: 7, bc: 3)] {
                    for i in 0..<t.tr(q) {
                        let want = (0..<t.tc(q)).filter { j in t.rows(i, q).contains { r in t.cols(j, q).contains { visible[r / g][$0] } } }
                        #expect(Array(t.liveColumnTiles(i, q)) == want, "\(bq)×\(bk) \(t) g \(g) row tile \(i)")
                    }
                    for j in 0..<t.tc(q) {
                        let want = (0..<t.tr(q)).filter { i in t.rows(i, q).contains { r in t.cols(j, q).contains { visible[r / g][$0] } } }
                        #expect(Array(t.liveRowTiles(j, q)) == want, "\(bq)×\(bk) \(t) g \(g) column tile \(j)")
                    }
                    let sums = LiveSums(t, q)
                    let pairs = (0..<t.tr(q)).reduce(0) { $0 + t.liveColumnTiles($1, q).count }
                    #expect(sums.pairs == pairs, "\(bq)×\(bk) \(t) g \(g) live pairs")
                }
            }
        }
    }

    @Test(arguments: 0..<inners.count)
    func everyScheduleTakingBlockMasksCountsItsClosedFormAndComputesTheReference(inner: Int) throws {
        let n = 300
        let m = Self.mask(n, n, bq: 64, bk: 32, inner: Self.inners[inner], seed: 3)
        // Unpacked, and 2 query heads packed over one K/V head (one shared plane).
        for pack in [false, true] {
            let p = AttentionProblem(n: n, d: 24, heads: 2, kvHeads: pack ? 1 : 2, dtype: .fp32, mask: .blockSparse(m), packGQA: pack)
            let shape = AttentionShape(batch: 1, heads: 2, kvHeads: pack ? 1 : 2, nq: n, nk: n, d: 24)
            let (q, k, v) = AttentionInputs(shape, seed: 2).qkv
            for kind in ScheduleKind.allCases where kind.models(p) && kind.implementation?.masks == .every && !(pack && kind == .flex) {
                let r = Simulator.simulate(kind, p, capacity: 1 << 22, tiles: TileRequest(br: 32, bc: 48))
                guard let counts = r.counts else { continue }
                let expected = try #require(ClosedForm.traffic(kind, p, r.tiles!, capacity: 1 << 22), "\(kind)")
                #expect(counts.byTensor == expected.byTensor && counts.kernels == expected.kernels, "\(kind) inner \(inner)")
                let out = try DataMode.run(kind, p, capacity: 1 << 22, tiles: KernelConfig(br: 32, bc: 48), q: q, k: k, v: v)
                let report = try Equivalence.checkForward(candidate: out.result, q: q, k: k, v: v, shape: shape, mask: p.mask, precision: .fp32)
                #expect(report.passed, "\(kind) inner \(inner) pack \(pack): \(report)")
            }
        }
    }

    /// One plane per query head: the counts are those of each head run alone, and the bound's
    /// visible pairs the sum over heads; K_live is the union over a K/V head's group, so no
    /// schedule falls below the bound.
    @Test func perHeadPlanesAddUpAndStayAboveTheBound() throws {
        let (n, heads) = (256, 4)
        let m = Self.mask(n, n, bq: 64, bk: 64, planes: (1, heads), heads: heads, inner: .causal(.bottomRight), seed: 11)
        let p = AttentionProblem(n: n, d: 32, heads: heads, kvHeads: 2, mask: .blockSparse(m))
        let t = TileRequest(br: 32, bc: 32)
        for kind in [ScheduleKind.fa2, .fa1, .fa3, .splitKV, .flex, .standard] {
            let whole = try #require(Simulator.simulate(kind, p, capacity: 1 << 20, tiles: t).counts, "\(kind)")
            var reads = 0
            for h in 0..<heads {
                let one = AttentionProblem(n: n, d: 32, mask: .blockSparse(m.single(h)))
                reads += try #require(Simulator.simulate(kind, one, capacity: 1 << 20, tiles: t).counts).hbm.reads
            }
            #expect(whole.hbm.reads == reads, "\(kind)")
            let r = Simulator.simulate(kind, p, capacity: 1 << 20, tiles: t)
            #expect(Double(r.counts!.hbm.accesses) >= r.bound.elements, "\(kind) below its bound")
        }
        var pairs = 0
        for h in 0..<heads { pairs += VisibleSums(AttentionProblem(n: n, mask: .blockSparse(m.single(h)))).pairs }
        #expect(Bound(p, capacityBytes: 1 << 20).visiblePairs == pairs)
    }
}
