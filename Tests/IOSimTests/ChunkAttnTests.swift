import Testing

@testable import IOSim

extension ScheduleKind {
    /// Whether the schedule models `p`: chunk-attn takes neither GQA nor a mask that hides a key
    /// from a query row (ChunkAttention's decode kernels have neither); flex does not pack GQA;
    /// every other schedule runs every problem of the generic grids.
    func models(_ p: AttentionProblem) -> Bool {
        switch self {
        case .chunkAttn: (try? ChunkAttnSchedule.check(p)) != nil
        case .flex: !(p.packGQA && p.heads > p.kvHeads)
        default: true
        }
    }
}

/// A batch of `lengths` (one problem per call, `--lengths` style) sharing `prefix` tokens.
func sharedBatch(
    _ lengths: [Int], prefix: Int, chunk: Int, nq: Int = 1, d: Int = 24, heads: Int = 3, dtype: DType = .fp16
) throws -> AttentionProblem {
    let l = try SequenceLengths(lengths)
    var p = AttentionProblem(n: nq, nk: l.max, d: d, batch: l.count, heads: heads, dtype: dtype)
    (p.lengthGroups, p.sharedPrefix, p.chunk) = (lengths.count > 1 ? l.groups : nil, prefix, chunk)
    try p.validate()
    return p
}

struct ChunkCase: CustomTestStringConvertible, Sendable {
    var lengths: [Int], prefix: Int, chunk: Int, nq: Int, br: Int
    var testDescription: String { "L=\(lengths) P=\(prefix) c=\(chunk) Nq=\(nq) Br=\(br)" }
}

/// Ragged lengths, L = P, P a multiple of c and not, P < c, one and several query rows.
let chunkCases: [ChunkCase] = [
    ChunkCase(lengths: [100, 130, 200], prefix: 70, chunk: 32, nq: 1, br: 64),
    ChunkCase(lengths: [128, 128, 300, 77], prefix: 64, chunk: 32, nq: 1, br: 64),
    ChunkCase(lengths: [96, 500], prefix: 96, chunk: 32, nq: 3, br: 2),
    ChunkCase(lengths: [50, 61, 1000], prefix: 40, chunk: 64, nq: 1, br: 64),
    ChunkCase(lengths: [1, 5, 9], prefix: 0, chunk: 4, nq: 2, br: 16),
    ChunkCase(lengths: [513], prefix: 512, chunk: 16, nq: 5, br: 4),
    ChunkCase(lengths: [700, 700, 700], prefix: 700, chunk: 7, nq: 1, br: 1),
]

@Suite struct ChunkAttnCounts {
    static let capacity = 1 << 22

    @Test(arguments: chunkCases)
    func executedCountsEqualTheClosedFormPerKernel(c: ChunkCase) throws {
        for dtype in [DType.fp16, .fp8] {
            let p = try sharedBatch(c.lengths, prefix: c.prefix, chunk: c.chunk, nq: c.nq, dtype: dtype)
            let r = Simulator.simulate(.chunkAttn, p, capacity: Self.capacity, tiles: TileRequest(br: c.br, bc: 16))
            let counts = try #require(r.counts, "\(r.reason ?? "")")
            let t = try #require(r.tiles)
            #expect(t.bc == min(c.chunk, p.nk), "the column tile is the chunk")
            let expected = try ClosedForm.checkedTraffic(.chunkAttn, p, t, capacity: Self.capacity)
            #expect(counts.byTensor == expected.byTensor, "\(dtype)")
            #expect(counts.kernels == expected.kernels, "\(dtype) per kernel")
            // Replaying uniform loops changes nothing.
            var slow = CountingMachine(problem: p, capacity: Self.capacity, replays: false)
            try Simulator.run(ChunkAttnSchedule.self, on: &slow, tiles: t)
            #expect(slow.counts == counts)
            #expect(counts.peakFootprint == r.footprint, "peak footprint is the documented formula")
        }
    }

    @Test func kernelsAndTheirGridsFollowTheSharedChunks() throws {
        // P = 70, c = 32: 2 shared chunks; P = 31 < c: none, one kernel.
        let shared = try #require(Simulator.simulate(.chunkAttn, try sharedBatch([100, 130, 200], prefix: 70, chunk: 32), capacity: 1 << 22).counts)
        #expect(shared.kernels.map(\.name) == ["chunk-first", "sequence-first"])
        #expect(shared.kernels.map(\.ctas) == [3 * 2, 3 * 3])
        let none = try #require(Simulator.simulate(.chunkAttn, try sharedBatch([100, 130, 200], prefix: 31, chunk: 32), capacity: 1 << 22).counts)
        #expect(none.kernels.map(\.name) == ["sequence-first"])
        #expect(none[.Opart].accesses == 0 && none[.LSEpart].accesses == 0)
    }

    @Test func countsFollowTheDesignSums() throws {
        // docs/counting-rules.md §14 by hand: H = 3, d = 24, n = 3 sequences of 100, 130, 200 tokens, P = 70,
        // c = 32: S = 2 shared chunks; own chunks ⌈(L − 64)/32⌉ = 2, 3, 5.
        let (h, d, n, s, c) = (3, 24, 3, 2, 32), own = 2 + 3 + 5
        let counts = try #require(Simulator.simulate(.chunkAttn, try sharedBatch([100, 130, 200], prefix: 70, chunk: c), capacity: 1 << 22).counts)
        let (k0, k1) = (counts.kernels[0].byTensor, counts.kernels[1].byTensor)
        func first(_ t: Tensor) -> Transfer { k0[t.rawValue] }
        func second(_ t: Tensor) -> Transfer { k1[t.rawValue] }
        #expect(first(.K).reads == h * s * c * d && first(.V).reads == h * s * c * d)
        #expect(first(.Q).reads == h * s * n * d && first(.Opart).writes == h * s * n * d && first(.LSEpart).writes == 2 * h * s * n)
        #expect(first(.Opart).writeBytes == 2 * h * s * n * d, "partials in the dtype")
        #expect(second(.K).reads == h * own * c * d, "own chunks read whole")
        #expect(second(.Opart).reads == h * n * s * d && second(.LSEpart).reads == 2 * h * n * s && second(.Q).reads == h * n * d)
        #expect(second(.O).writes == h * n * d && second(.LSE).writes == 0)
    }

    @Test func withoutASharedChunkItReadsWhatPagedV1ReadsInBlocksOfAChunkLessTheTable() throws {
        // P = 0: every sequence's cache is read in whole chunks, as paged-v1 reads it in whole
        // blocks of the same size, but without a block table; and never less than Q, K, V and O
        // once per sequence.
        for (lengths, c) in [([100, 130, 200], 32), ([1000], 64), ([5, 17], 16)] {
            var p = try sharedBatch(lengths, prefix: 0, chunk: c)
            let chunk = try #require(Simulator.simulate(.chunkAttn, p, capacity: 1 << 22).counts)
            p.blockSize = c
            let paged = try #require(Simulator.simulate(.pagedV1, p, capacity: 1 << 22, tiles: TileRequest(br: 64, bc: c)).counts)
            #expect(chunk.hbm.bytes == paged.hbm.bytes - paged[.table].readBytes, "\(lengths)")
            let compulsory = 2 * p.heads * p.d * (lengths.reduce(0, +) * 2 + 2 * lengths.count)
            #expect(chunk.hbm.bytes >= compulsory)
        }
    }

    @Test func sharingSavesTheOtherSequencesReadsOfTheSharedChunks() throws {
        // paged-v1 (blocks of c) reads each shared chunk once per sequence; chunk-attn once per head.
        let (lengths, c) = ([300, 400, 500, 600], 32)
        for prefix in [32, 100, 300] {
            var p = try sharedBatch(lengths, prefix: prefix, chunk: c)
            let chunk = try #require(Simulator.simulate(.chunkAttn, p, capacity: 1 << 22).counts)
            p.blockSize = c
            let paged = try #require(Simulator.simulate(.pagedV1, p, capacity: 1 << 22, tiles: TileRequest(br: 64, bc: c)).counts)
            let saved = (lengths.count - 1) * p.heads * (prefix / c) * c * p.d
            #expect(paged[.K].reads - chunk[.K].reads == saved && paged[.V].reads - chunk[.V].reads == saved, "P = \(prefix)")
        }
    }

    @Test func otherSchedulesReadThePrefixOncePerSequenceAsBefore() throws {
        for kind in [ScheduleKind.fa2, .splitKV, .lean, .pagedV1, .pagedV2] {
            let without = try sharedBatch([300, 400, 500], prefix: 0, chunk: 64)
            let with = try sharedBatch([300, 400, 500], prefix: 256, chunk: 32)
            let a = Simulator.simulate(kind, without, capacity: 1 << 22), b = Simulator.simulate(kind, with, capacity: 1 << 22)
            #expect(a.counts != nil && a.counts == b.counts, "\(kind)")
        }
    }

    @Test func gqaAndMasksThatHideKeysAreOutsideChunkAttention() throws {
        var gqa = try sharedBatch([300], prefix: 64, chunk: 32, heads: 4)
        gqa.kvHeads = 2
        #expect(Simulator.simulate(.chunkAttn, gqa, capacity: 1 << 22).reason?.contains("no GQA") == true)
        var causal = try sharedBatch([300, 200], prefix: 64, chunk: 32, nq: 4)
        causal.mask = .causal(.bottomRight)
        #expect(Simulator.simulate(.chunkAttn, causal, capacity: 1 << 22).reason?.contains("no mask") == true)
        // Decode under a causal mask hides nothing: one query row at the end of its cache.
        causal.n = 1
        #expect(Simulator.simulate(.chunkAttn, causal, capacity: 1 << 22).feasible)
    }

    @Test func aPrefixLongerThanASequenceOrAZeroChunkIsRefused() throws {
        #expect(throws: SimulationError.sharedPrefixTooLong(prefix: 101, length: 100)) { try sharedBatch([300, 100], prefix: 101, chunk: 32) }
        #expect(throws: SimulationError.negativePrefix(-1)) { try sharedBatch([300], prefix: -1, chunk: 32) }
        #expect(throws: SimulationError.notPositive(parameter: .chunk, value: 0)) { try sharedBatch([300], prefix: 0, chunk: 0) }
    }
}

@Suite struct ChunkAttnTime {
    @Test func theEstimateCoversExactlyTheCountedBytesKernelByKernel() throws {
        let hw = try ModelFile.hardware("h100-sxm")
        for prefix in [0, 1024, 2048] {
            let p = try sharedBatch(Array(repeating: prefix + 512, count: 32), prefix: prefix, chunk: 64, d: 128, heads: 32)
            let r = Simulator.simulate(.chunkAttn, p, capacity: 1 << 20)
            let t = try #require(try TimeEstimate.estimate(r, p, hw))
            let counts = try #require(r.counts)
            #expect(t.hbmBytes == Double(counts.hbm.bytes), "P = \(prefix)")
            #expect(t.ctas == counts.kernels.reduce(0) { $0 + $1.ctas })
        }
    }

    @Test func aLongerSharedPrefixShortensChunkAttnButNotPagedV1() throws {
        let hw = try ModelFile.hardware("h100-sxm")
        var last: (chunk: Double, paged: Double)?
        for prefix in [0, 1024, 4096] {
            let p = try sharedBatch(Array(repeating: 4608, count: 32), prefix: prefix, chunk: 64, d: 128, heads: 32)
            let chunk = try #require(try TimeEstimate.estimate(Simulator.simulate(.chunkAttn, p, capacity: 1 << 20), p, hw)).seconds
            let paged = try #require(try TimeEstimate.estimate(Simulator.simulate(.pagedV1, p, capacity: 1 << 20), p, hw)).seconds
            if let last {
                #expect(chunk < last.chunk, "P = \(prefix)")
                #expect(paged == last.paged)
            }
            last = (chunk, paged)
        }
    }
}
