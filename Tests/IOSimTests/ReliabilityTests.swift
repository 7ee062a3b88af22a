import AttentionReference
import Foundation
import TestSupport
import Testing

@testable import IOSim

/// Issue 12's simulator-side findings, one test per item.
@Suite struct SimulatorLimits {
    @Test(arguments: [
        AttentionProblem(n: Limits.maxSequence + 1),
        AttentionProblem(n: 4096, d: Limits.maxHeadDim + 1),
        AttentionProblem(n: 4096, batch: Limits.maxBatchOrHeads + 1),
        AttentionProblem(n: 1 << 20, batch: 1_000_000, heads: 1_000_000),
    ])
    func problemsBeyondTheLimitsAreRefusedWithOneLine(p: AttentionProblem) {
        #expect(throws: SimulationError.self) { try p.validate() }
        do { try p.validate() } catch { #expect(!error.description.contains("\n") && error.description.count > 20) }
    }

    @Test func countsThatLeaveInt64AreReportedNotTrapped() throws {
        // fa2's SRAM-side bytes at N = 1M over 10⁶ heads pass 2⁶³; the standard schedule's N² terms too.
        let p = AttentionProblem(n: 1 << 20, batch: 1000, heads: 1000)
        try p.validate()
        for kind in ScheduleKind.allCases where kind != .lean {
            let r = Simulator.simulate(kind, p, capacity: 100_000)
            #expect(!r.feasible && r.reason!.contains("2^63"), "\(kind)")
        }
        // lean enumerates its row tiles head by head and refuses before it would take hours.
        #expect(Simulator.simulate(.lean, p, capacity: 100_000).reason?.contains("row tile") == true)
        #expect(ClosedForm.traffic(.standard, p, KernelConfig(br: 64, bc: 64), capacity: 100_000) == nil)
    }

    @Test func identicalInstancesCostOneInstance() throws {
        let one = AttentionProblem(n: 1000, d: 64)
        let many = AttentionProblem(n: 1000, d: 64, batch: 30, heads: 40, kvHeads: 8)
        // lean's CTAs cross head boundaries: its instances are not identical (tested on its own).
        for kind in ScheduleKind.allCases where kind != .lean && kind.models(many) {
            let tiles = try TileChoice.choose(kind.implementation!, one, capacity: 100_000, TileRequest())
            var a = CountingMachine(problem: one, capacity: 100_000)
            var b = CountingMachine(problem: many, capacity: 100_000)
            var c = CountingMachine(problem: many, capacity: 100_000, replays: false)
            try Simulator.run(kind.implementation!, on: &a, tiles: tiles)
            try Simulator.run(kind.implementation!, on: &b, tiles: tiles)
            try Simulator.run(kind.implementation!, on: &c, tiles: tiles)
            #expect(b.executedLoads == a.executedLoads, "\(kind)")
            #expect(b.counts == c.counts, "\(kind)")
            #expect(b.counts.byTensor == (a.counts * 1200).byTensor && b.counts.sram == a.counts.sram * 1200, "\(kind)")
        }
    }

    @Test(arguments: [(1, DType.fp16), (7, .fp64), (255, .fp16)])
    func paperRuleGivingZeroTilesIsInfeasible(m: Int, dtype: DType) {
        let p = AttentionProblem(n: 4096, dtype: dtype)
        for kind in [ScheduleKind.fa1, .fa2] {
            let r = Simulator.simulate(kind, p, capacity: m, tiles: TileRequest(policy: .paper))
            #expect(!r.feasible && r.reason!.contains("paper"), "\(kind): \(r.reason ?? "")")
        }
    }
}

@Suite struct ModelFileValidation {
    /// Models/hardware/h100-sxm.json, edited.
    static func h100(_ edit: (String) -> String) throws -> Data {
        Data(edit(try String(contentsOf: Repo.hardwareModel("h100-sxm"), encoding: .utf8)).utf8)
    }

    static func replacing(_ field: String, with value: String) -> (String) -> String {
        { text in
            // The first occurrence only: the sources object names the fields again.
            guard let r = text.range(of: #""\#(field)"\s*:\s*[^,}\n]+"#, options: .regularExpression) else { return text }
            return text.replacingCharacters(in: r, with: "\"\(field)\": \(value)")
        }
    }

    @Test func unchangedFileParses() throws {
        #expect(try HardwareModel(json: try Self.h100 { $0 }, path: "h100").sms == 132)
    }

    @Test(arguments: [
        ("sms", "true"), ("sms", "999999999999999"), ("sms", "1e8"), ("clock_hz", "1e300"),
        ("l2_bytes", "false"), ("sms", "132.5"), ("sms", "-1"),
    ])
    func outOfRangeOrBooleanFieldsAreRefusedNamingTheField(field: String, value: String) throws {
        let json = try Self.h100(Self.replacing(field, with: value))
        do {
            _ = try HardwareModel(json: json, path: "h100.json")
            Issue.record("accepted \(field) = \(value)")
        } catch {
            #expect(error.description.contains("'\(field)'"), "\(error)")
        }
    }

    @Test func malformedJSONSaysWhere() {
        do {
            _ = try HardwareModel(json: Data("{\n  \"name\": \"x\",\n  \"sms\": tru\n}".utf8), path: "hw.json")
            Issue.record("accepted")
        } catch {
            #expect(error.description.contains("line 3"), "\(error)")
        }
    }

    @Test func duplicateKeysAreRefused() {
        #expect(throws: StrictJSON.SyntaxError.self) { try StrictJSON.parse(Array(#"{"sms": 1, "sms": 2}"#.utf8)) }
    }

    @Test func workloadHeadDimensionAboveTheLimitIsRefused() {
        let json = #"{"name": "x", "heads": 8, "kv_heads": 8, "d": 1e14, "sources": {}}"#
        #expect(throws: ModelError.self) { try WorkloadModel(json: Data(json.utf8), path: "w.json") }
    }

    @Test func missingTensorRateIsReportedPerScheduleWithCounts() throws {
        let hw = try HardwareModel(json: try Self.h100 { $0 }, path: "h100")
        #expect(throws: ModelError.self) { try hw.tensorFlops(.fp32) }
        do { _ = try hw.tensorFlops(.fp32) } catch { #expect(error.description.contains("gives fp16, bf16")) }
    }
}

@Suite struct OptimalTileSearch {
    /// Every pair of the documented space (docs/tiles.md, TilePolicy.optimal), ranked as `optimal` ranks.
    static func bruteForce(_ kind: ScheduleKind, _ p: AttentionProblem, _ m: Int) -> KernelConfig? {
        let s = kind.implementation!, r = TileRequest(policy: .optimal)
        let fine = 4 * p.d * p.d * p.dtype.size
        var pairs: [(Int, Int)] = []
        func grid(_ cap: Int, fineSides: Bool) {
            let brs = fineSides ? Array(1...p.n) : TileChoice.gridSides(upTo: (p.n + 15) / 16 * 16, rows: p.n)
            let bcs = fineSides ? Array(1...p.nk) : TileChoice.gridSides(upTo: (p.nk + 15) / 16 * 16, rows: p.nk)
            for br in brs { for bc in bcs where s.footprint(r.tiles(br, bc), p, capacity: cap) <= cap { pairs.append((br, bc)) } }
        }
        if m < fine {
            grid(m, fineSides: true)
        } else {
            grid(m, fineSides: false)
            // plus the best integer pair at 4d² (which fits at m too)
            var best: (Int, Int)?
            var fineRank: (Int, Int, Int)?
            for br in 1...p.n {
                for bc in 1...p.nk where s.footprint(r.tiles(br, bc), p, capacity: fine - 1) <= fine - 1 {
                    let k = TileChoice.rank(s, p, r.tiles(br, bc), fine - 1)!
                    if fineRank == nil || k < fineRank! { (fineRank, best) = (k, (br, bc)) }
                }
            }
            if let best { pairs.append(best) }
        }
        return pairs.map { r.tiles($0.0, $0.1) }.min { TileChoice.rank(s, p, $0, m)! < TileChoice.rank(s, p, $1, m)! }?.clamped(to: p)
    }

    @Test(arguments: [(300, 8, 2000, false), (300, 8, 2000, true), (200, 16, 30_000, true), (90, 16, 9000, false), (90, 16, 1500, true)])
    func noTileOfTheDocumentedSpaceBeatsTheAnswer(n: Int, d: Int, m: Int, causal: Bool) throws {
        let p = AttentionProblem(n: n, d: d, causal: causal)
        // chunk-attn's column tile is its chunk (`--chunk`), and flex's K/V tile the mask's
        // 128-key block (its --Bc changes no count), both outside the documented pair space.
        for kind in ScheduleKind.allCases where kind != .chunkAttn && kind != .flex {
            let got = try TileChoice.choose(kind.implementation!, p, capacity: m, TileRequest(policy: .optimal))
            let want = try #require(Self.bruteForce(kind, p, m))
            let s = kind.implementation!
            #expect(TileChoice.rank(s, p, got, m)! <= TileChoice.rank(s, p, want, m)!, "\(kind): \(got) vs \(want)")
        }
    }

    @Test func gridSidesKeepTheLargestSideOfEachTileCount() {
        let sides = TileChoice.gridSides(upTo: 4096, rows: 4096)
        #expect(sides.prefix(128) == ArraySlice(stride(from: 16, through: 2048, by: 16)))
        #expect(sides.suffix(2) == [4080, 4096])
    }

    static let masks: [AttentionMask] = [
        .causal(.topLeft), .causal(.bottomRight),
        .slidingWindow(left: 36, right: 0, alignment: .bottomRight),
        .slidingWindow(left: 99, right: 0, alignment: .topLeft),
        // Two-sided windows, and each side alone (the other unbounded: --window-left, --window-right).
        .slidingWindow(left: 20, right: 30, alignment: .bottomRight), .slidingWindow(left: 40, right: 25, alignment: .topLeft),
        .slidingWindow(left: 30, right: Limits.maxSequence - 1, alignment: .bottomRight),
        .slidingWindow(left: Limits.maxSequence - 1, right: 10, alignment: .topLeft),
    ]

    @Test(arguments: [(1000, 1000), (1000, 333), (333, 1000), (7, 1), (1, 7), (130, 17)])
    func liveSumsEqualAnEnumerationOfTheMasksColumns(n: Int, nk: Int) {
        for mask in Self.masks {
            for pack in [false, true] {
                let p = AttentionProblem(n: n, nk: nk, heads: 4, kvHeads: 1, mask: mask, packGQA: pack).scheduled
                for t in [KernelConfig(br: 16, bc: 16), KernelConfig(br: 48, bc: 80), KernelConfig(br: 128, bc: 32), KernelConfig(br: 7, bc: 3)] {
                    var pairs = 0, kvRows = 0, entries = 0, qRows = 0, liveRows = 0
                    for i in 0..<t.tr(p) {
                        let rows = t.rows(i, p)
                        let seen = rows.map { p.visibleColumns(row: $0) }.filter { !$0.isEmpty }
                        guard let lo = seen.map(\.lowerBound).min(), let hi = seen.map(\.upperBound).max() else { continue }
                        let live = (0..<t.tc(p)).filter { t.cols($0, p).overlaps(lo..<hi) }
                        let covered = t.cols(live.last!, p).upperBound - t.cols(live.first!, p).lowerBound
                        pairs += live.count; kvRows += covered; entries += rows.count * covered
                        qRows += rows.count * live.count; liveRows += rows.count
                    }
                    let s = LiveSums(t, p)
                    let got = [s.pairs, s.kvRows, s.entries, s.qRowsByPair, s.liveQRows], want = [pairs, kvRows, entries, qRows, liveRows]
                    #expect(got == want, "\(mask) pack=\(pack) \(t)")
                    var columns = 0, qRowsOfLiveColumns = 0
                    for j in 0..<t.tc(p) {
                        let liveI = (0..<t.tr(p)).filter { i in
                            t.rows(i, p).contains { r in t.cols(j, p).contains { p.visibleColumns(row: r).contains($0) } }
                        }
                        #expect(t.liveRowTiles(j, p) == TileRuns((liveI.first ?? 0)..<((liveI.last ?? -1) + 1)), "\(mask) \(t) j=\(j)")
                        if !liveI.isEmpty { columns += 1 }
                        qRowsOfLiveColumns += liveI.map { t.rows($0, p).count }.reduce(0, +)
                    }
                    let c = LiveSums.Columns(t, p)
                    #expect(c.count == columns && c.qRows == qRowsOfLiveColumns, "\(mask) pack=\(pack) \(t)")
                }
            }
        }
    }

    @Test func floorSumEqualsTheLoop() {
        for n in [0, 1, 5, 100] {
            for m in [1, 3, 16, 97] {
                for a in [0, 1, 16, 100] {
                    for b in [0, 15, 200] {
                        #expect(floorSum(n, m, a, b) == (0..<n).map { (a * $0 + b) / m }.reduce(0, +))
                    }
                }
            }
        }
    }
}

/// Core v2 (docs/counting-rules.md §4–§5): masks other than top-left causal, Nq ≠ Nk and GQA packing, per kernel.
@Suite struct MaskedCountsEqualClosedForms {
    static let masks: [AttentionMask] = [
        .none, .causal(.topLeft), .causal(.bottomRight),
        .slidingWindow(left: 63, right: 0, alignment: .bottomRight),
        .slidingWindow(left: 200, right: 0, alignment: .topLeft),
        .slidingWindow(left: 20, right: 30, alignment: .bottomRight),
        .slidingWindow(left: 30, right: Limits.maxSequence - 1, alignment: .topLeft),
        .slidingWindow(left: Limits.maxSequence - 1, right: 10, alignment: .bottomRight),
    ]

    @Test(arguments: [(1, 7), (127, 127), (1000, 333), (333, 1000), (1023, 4097), (4097, 1000)])
    func everyScheduleCountsEqualClosedFormPerKernelUnderEveryMask(n: Int, nk: Int) throws {
        for mask in Self.masks {
            for pack in [false, true] {
                for d in [16, 59] {
                    let p = AttentionProblem(
                        n: n, nk: nk, d: d, batch: 2, heads: 4, kvHeads: 2,
                        dtype: d == 59 ? .fp8 : .fp16, mask: mask, packGQA: pack)
                    for kind in ScheduleKind.allCases where kind.models(p) {
                        for t in [KernelConfig(br: 16, bc: 16), KernelConfig(br: 48, bc: 80)] {
                            let r = Simulator.simulate(kind, p, capacity: 1 << 22, tiles: TileRequest(br: t.br, bc: t.bc))
                            let counts = try #require(r.counts, "\(kind): \(r.reason ?? "")")
                            let expected = try #require(ClosedForm.traffic(kind, p, t, capacity: 1 << 22))
                            #expect(counts.byTensor == expected.byTensor, "\(kind) \(mask) pack=\(pack) \(t)")
                            #expect(counts.kernels == expected.kernels, "\(kind) \(mask) pack=\(pack) \(t) per kernel")
                            let summed = counts.kernels.reduce(Transfer()) { $0 + $1.hbm }
                            #expect(summed == counts.hbm, "kernels sum to the totals")
                        }
                    }
                }
            }
        }
    }

    @Test func packingLoadsKVOncePerKVHeadPerRowTile() throws {
        // Decode-like: Nq = 1, 8 query heads share 2 KV heads; packed, K/V are read per KV head.
        let plain = AttentionProblem(n: 1, nk: 4096, d: 128, heads: 8, kvHeads: 2)
        var packed = plain
        packed.packGQA = true
        let t = TileRequest(br: 64, bc: 128)
        let a = try #require(Simulator.simulate(.fa2, plain, capacity: 1 << 22, tiles: t).counts)
        let b = try #require(Simulator.simulate(.fa2, packed, capacity: 1 << 22, tiles: t).counts)
        #expect(a[.K].reads == 8 * 4096 * 128 && b[.K].reads == 2 * 4096 * 128)
        #expect(a[.Q].reads == b[.Q].reads && a[.O].writes == b[.O].writes)
    }

    @Test func rowsThatSeeNoKeyLoadNothing() throws {
        // Bottom-right causal with Nq > Nk: the first Nq − Nk rows see nothing.
        let p = AttentionProblem(n: 1000, nk: 100, d: 64, causal: true)
        let c = try #require(Simulator.simulate(.fa2, p, capacity: 1 << 22, tiles: TileRequest(br: 100, bc: 50)).counts)
        #expect(c[.Q].reads == 100 * 64 && c[.O].writes == 1000 * 64 && c[.LSE].writes == 1000)
    }
}
