import AttentionReference
import TestSupport
import Testing

@testable import IOSim

/// docs/counting-rules.md §12: the paged K/V layout (whole blocks and block-table reads) for fa2, split-kv and
/// lean, and vLLM's PagedAttention v1 and v2 kernels.
@Suite struct PagedLayout {
    static let capacity = 1 << 22
    static let masks: [AttentionMask] = [.none, .causal(.bottomRight), .slidingWindow(left: 40, right: 0, alignment: .bottomRight)]

    static func paged(_ p: AttentionProblem, blockSize: Int) -> AttentionProblem {
        var p = p
        (p.kvLayout, p.blockSize) = (.paged, blockSize)
        return p
    }

    /// Ragged Nk (a partly filled last block, one block, fewer keys than a block), several
    /// block sizes and tiles that are whole blocks, decode and prefill query counts.
    @Test(arguments: [1, 17, 100, 512, 1000, 4097])
    func pagedCountsEqualClosedFormPerKernelForRaggedLengths(nk: Int) throws {
        for (b, bc) in [(16, 64), (16, 16), (32, 96), (8, 128)] {
            for mask in Self.masks {
                for nq in [1, 5] {
                    let p = Self.paged(AttentionProblem(n: nq, nk: nk, d: 64, batch: 2, heads: 4, kvHeads: 2, mask: mask), blockSize: b)
                    for kind in [ScheduleKind.fa2, .fa3, .splitKV, .lean, .pagedV1, .pagedV2] {
                        let request = TileRequest(br: 64, bc: bc, splits: 3, ctas: 5)
                        let r = Simulator.simulate(kind, p, capacity: Self.capacity, tiles: request)
                        let counts = try #require(r.counts, "\(kind): \(r.reason ?? "")")
                        let t = try #require(r.tiles)
                        let expected = try ClosedForm.checkedTraffic(kind, p, t, capacity: Self.capacity)
                        #expect(counts.byTensor == expected.byTensor, "\(kind) b=\(b) Bc=\(bc) \(mask) Nq=\(nq)")
                        #expect(counts.kernels == expected.kernels, "\(kind) per kernel b=\(b) Bc=\(bc) \(mask) Nq=\(nq)")
                    }
                }
            }
        }
    }

    @Test func pagedFa2ReadsWholeBlocksAndTwoTableEntriesPerBlockPerRowTile() throws {
        // docs/counting-rules.md §12 by hand, unmasked: every row tile reads all ⌈Nk/b⌉ blocks of K and of V, and
        // the table once in each loop.
        let (nq, nk, d, b) = (200, 1000, 64, 16)
        let p = Self.paged(AttentionProblem(n: nq, nk: nk, d: d), blockSize: b)
        let contiguous = AttentionProblem(n: nq, nk: nk, d: d)
        let request = TileRequest(br: 64, bc: 128)
        let c = try #require(Simulator.simulate(.fa2, p, capacity: Self.capacity, tiles: request).counts)
        let plain = try #require(Simulator.simulate(.fa2, contiguous, capacity: Self.capacity, tiles: request).counts)
        let tr = (nq + 63) / 64, blocks = (nk + b - 1) / b
        #expect(c[.K].reads == tr * blocks * b * d && c[.V].reads == tr * blocks * b * d)
        #expect(c[.table] == Transfer(reads: 2 * tr * blocks, readBytes: 4 * 2 * tr * blocks))
        #expect(c[.Q] == plain[.Q] && c[.O] == plain[.O] && c[.LSE] == plain[.LSE])
        #expect(plain[.table].accesses == 0)
    }

    @Test func schedulesThatReadAContiguousCacheOnlyAreReportedNotRun() {
        let p = Self.paged(AttentionProblem(n: 64, nk: 300, d: 64), blockSize: 16)
        for kind in [ScheduleKind.standard, .fa1, .smallM] {
            let r = Simulator.simulate(kind, p, capacity: Self.capacity, tiles: TileRequest(br: 32, bc: 32))
            #expect(r.counts == nil && r.reason?.contains("contiguous") == true, "\(kind)")
        }
    }

    @Test func aColumnTileThatIsNotWholeBlocksIsRefusedWhenAskedForAndRoundedWhenChosen() throws {
        let p = Self.paged(AttentionProblem(n: 1, nk: 1000, d: 64), blockSize: 16)
        let asked = Simulator.simulate(.fa2, p, capacity: Self.capacity, tiles: TileRequest(br: 16, bc: 40))
        #expect(asked.counts == nil && asked.reason?.contains("multiple of the block size") == true)
        let chosen = Simulator.simulate(.fa2, p, capacity: Self.capacity, tiles: TileRequest(policy: .auto))
        let t = try #require(chosen.tiles)
        #expect(t.bc % 16 == 0 || t.bc == p.nk)
    }

    /// A real block table: the data machine stores each KV head's blocks in a shuffled physical
    /// order and finds them through the table; O is bitwise the contiguous layout's.
    @Test(arguments: [ScheduleKind.fa2, .splitKV, .lean])
    func shuffledBlockTableGivesBitwiseTheContiguousOutput(kind: ScheduleKind) throws {
        for dtype in [DType.fp32, .bf16] {
            let contiguous = AttentionProblem(n: 3, nk: 333, d: 32, batch: 2, heads: 4, kvHeads: 2, dtype: dtype, causal: true)
            let paged = Self.paged(contiguous, blockSize: 16)
            let inputs = AttentionInputs(contiguous.shape, seed: 11)
            let prec = dtype.precision
            let (q, k, v) = (prec.round(inputs.q), prec.round(inputs.k), prec.round(inputs.v))
            let tiles = KernelConfig(br: 16, bc: 32, splits: 3, ctas: 4)
            let a = try DataMode.run(kind, contiguous, capacity: Self.capacity, tiles: tiles, q: q, k: k, v: v)
            let b = try DataMode.run(kind, paged, capacity: Self.capacity, tiles: tiles, q: q, k: k, v: v)
            #expect(a.result.o.map(\.bitPattern) == b.result.o.map(\.bitPattern), "\(kind) \(dtype)")
            #expect(b.counts[.table].reads > 0 && a.counts[.table].reads == 0)
            // The table really is shuffled: K is not where the contiguous layout has it.
            let m = DataMachine<Float>(problem: paged, capacity: Self.capacity, q: q, k: k, v: v)
            #expect(m.blockTable.contains { $0 != Array(0..<$0.count) })
            #expect(m.blockTable.allSatisfy { $0.sorted() == Array(0..<$0.count) })
        }
    }
}

@Suite struct PagedAttentionKernels {
    static let capacity = 1 << 22

    @Test func pagedV1NonMaskedTotalsMatchTheDesignFormula() throws {
        // docs/counting-rules.md §12 (paged-v1): q once, every block of K and V whole, the table in both loops, O; no LSE.
        let (nk, d, b, batch, heads) = (1000, 128, 16, 3, 8)
        let p = AttentionProblem(n: 1, nk: nk, d: d, batch: batch, heads: heads, kvHeads: 2)
        let c = try #require(Simulator.simulate(.pagedV1, p, capacity: Self.capacity, tiles: TileRequest(policyExplicit: false)).counts)
        let blocks = (nk + b - 1) / b, inst = batch * heads
        #expect(c[.Q].reads == inst * d && c[.O].writes == inst * d && c[.LSE].accesses == 0)
        #expect(c[.K].reads == inst * blocks * b * d && c[.V].reads == inst * blocks * b * d)
        #expect(c[.table].reads == inst * 2 * blocks)
        #expect(c.kernels.map(\.name) == ["paged"] && c.kernels[0].ctas == inst)
    }

    @Test(arguments: [1, 511, 512, 513, 5000])
    func pagedV2PartitionsOf512TokensAndItsReduceMatchTheDesignFormula(nk: Int) throws {
        let (d, b, inst) = (64, 16, 4)
        let p = AttentionProblem(n: 1, nk: nk, d: d, heads: inst)
        // The kernel's tiles: one block per column tile.
        let c = try #require(Simulator.simulate(.pagedV2, p, capacity: Self.capacity, tiles: TileRequest(policyExplicit: false)).counts)
        let parts = (nk + 511) / 512, blocks = (nk + b - 1) / b
        let paged = try #require(c.kernels.first { $0.name == "paged" }), reduce = try #require(c.kernels.first { $0.name == "reduce" })
        #expect(paged.ctas == inst * parts && reduce.ctas == inst)
        #expect(paged.byTensor[Tensor.Q.rawValue].reads == inst * parts * d)
        #expect(paged.byTensor[Tensor.K.rawValue].reads == inst * blocks * b * d && paged.byTensor[Tensor.table.rawValue].reads == inst * 2 * blocks)
        // Partials in the dtype (fp16: 2 bytes), max_logits and exp_sums in fp32.
        #expect(paged.byTensor[Tensor.Opart.rawValue] == Transfer(writes: inst * parts * d, writeBytes: 2 * inst * parts * d))
        #expect(paged.byTensor[Tensor.LSEpart.rawValue] == Transfer(writes: inst * 2 * parts, writeBytes: 4 * inst * 2 * parts))
        #expect(reduce.byTensor[Tensor.Opart.rawValue].reads == inst * parts * d && reduce.byTensor[Tensor.O.rawValue].writes == inst * d)
        #expect(reduce.byTensor[Tensor.LSEpart.rawValue].reads == (parts == 1 ? 0 : inst * 2 * parts), "one partition: the reduce only copies")
    }

    @Test(arguments: [ScheduleKind.pagedV1, .pagedV2])
    func pagedKernelsMatchTheReferenceOnDecodeWithGQAAndRaggedLengths(kind: ScheduleKind) throws {
        for (nk, dtype) in [(1, DType.fp32), (700, .fp16), (1300, .bf16), (1100, .fp64)] {
            let p = AttentionProblem(n: 1, nk: nk, d: 32, batch: 2, heads: 4, kvHeads: 2, dtype: dtype)
            let inputs = AttentionInputs(p.shape, seed: UInt64(nk))
            let prec = dtype.precision
            let out = try DataMode.run(
                kind, p, capacity: Self.capacity, tiles: KernelConfig(br: 64, bc: 16), q: prec.round(inputs.q), k: prec.round(inputs.k),
                v: prec.round(inputs.v))
            let report = try Equivalence.checkForward(
                candidate: out.result, q: inputs.q, k: inputs.k, v: inputs.v, shape: p.shape, precision: prec)
            #expect(report.passed, "\(kind) Nk=\(nk) \(dtype): \(report)")
        }
    }

    @Test func vllmPicksV1ForShortOrManySequencesAndV2Otherwise() {
        // vllm/attention/ops/paged_attn.py: use_v1 = max_len ≤ 8192 and (partitions == 1 or seqs·heads > 512).
        #expect(PagedAttentionChoice.kind(sequences: 1, heads: 8, maxLength: 512) == .pagedV1)
        #expect(PagedAttentionChoice.kind(sequences: 1, heads: 8, maxLength: 513) == .pagedV2)
        #expect(PagedAttentionChoice.kind(sequences: 64, heads: 8, maxLength: 8192) == .pagedV2, "512 pairs is not more than 512")
        #expect(PagedAttentionChoice.kind(sequences: 64, heads: 9, maxLength: 8192) == .pagedV1)
        #expect(PagedAttentionChoice.kind(sequences: 64, heads: 8, maxLength: 4096) == .pagedV2, "512 pairs is not more than 512")
        #expect(PagedAttentionChoice.kind(sequences: 1000, heads: 32, maxLength: 8193) == .pagedV2)
    }
}

/// docs/counting-rules.md §13, `--lengths`: each sequence its own Nk; counts are the per-sequence counts summed.
@Suite struct VariableLengths {
    @Test func variableLengthCountsAreThePerSequenceClosedFormsSummed() throws {
        let lengths = [1, 700, 700, 513, 4097, 700]
        var p = AttentionProblem(n: 1, nk: lengths.max()!, d: 64, batch: lengths.count, heads: 4, kvHeads: 2)
        p.lengthGroups = try SequenceLengths(lengths).groups
        let tiles = KernelConfig(br: 64, bc: 16, splits: 3)
        for kind in [ScheduleKind.fa2, .splitKV, .pagedV1, .pagedV2] {
            let r = Simulator.simulate(kind, p, capacity: 1 << 22, tiles: TileRequest(br: 64, bc: 16, splits: 3))
            let c = try #require(r.counts, "\(kind): \(r.reason ?? "")")
            var want = [Transfer](repeating: Transfer(), count: Tensor.allCases.count)
            var ctas: [String: Int] = [:]
            for length in lengths {
                let one = AttentionProblem(n: 1, nk: length, d: 64, heads: 4, kvHeads: 2)
                let e = try ClosedForm.checkedTraffic(kind, one, tiles, capacity: 1 << 22)
                for i in want.indices { want[i] = want[i] + e.byTensor[i] }
            }
            // CTAs are those of one launch per distinct length (split-kv's combine takes a few
            // rows of its whole batch per CTA, so its grid is per launch, not per sequence).
            for length in Set(lengths) {
                let count = lengths.filter { $0 == length }.count
                let group = AttentionProblem(n: 1, nk: length, d: 64, batch: count, heads: 4, kvHeads: 2)
                for k in try ClosedForm.checkedTraffic(kind, group, tiles, capacity: 1 << 22).kernels { ctas[k.name, default: 0] += k.ctas }
            }
            #expect(c.byTensor == want, "\(kind)")
            #expect(Dictionary(uniqueKeysWithValues: c.kernels.map { ($0.name, $0.ctas) }) == ctas, "\(kind) CTAs")
        }
    }
}
