/// FlexAttention's forward (prefill) kernel as PyTorch compiles it (Dong et al., "Flex Attention:
/// A Programming Model for Generating Optimized Attention Kernels", arXiv 2412.05496; measured on
/// the H100 with PyTorch 2.11: Reports/gpu/README.md, "Masks: FlexAttention and varlen"). One CTA
/// per BLOCK_M query rows (`--Br`) per head. Each CTA reads its row's entries of the block mask,
/// loads its Q tile (also when its row has no non-empty block), walks the non-empty 128-key blocks
/// of its 128-row mask row and loads each block's K and V whole, however few of its elements are
/// visible, and writes O and the LSE (written whenever grad mode is on, PyTorch's default, even
/// when nothing returns it). BLOCK_N (`--Bc`) splits a block's loads and changes no count.
///
/// Footprint: fa2's with Br = BLOCK_M and a whole 128-key block resident (iosim loads a block as
/// one tile; the kernel streams it in BLOCK_N-row pieces through its 3-stage pipeline, which holds
/// at least as much at BLOCK_N = 64). Only named (not in `all`), forward only;
/// the block mask comes from the problem's mask, as `create_block_mask` builds it at 128 × 128.
public enum FlexSchedule: Schedule {
    public static let kind = ScheduleKind.flex
    public static var family: ScheduleFamily { .namedOnly }

    public static func footprint(_ tiles: KernelConfig, _ p: AttentionProblem, capacity: Int) -> Int {
        Footprint.fa2(tiles.with(br: tiles.br, bc: blocks(p).bc).clamped(to: p), p)
    }

    /// The tiles the generated kernel was measured with on the H100 (fp16; its config table,
    /// `h100_default_flex_config`): d ≤ 64: 128 × 128, 4 warps; d ≤ 128: 128 × 64, 8 warps; above,
    /// 64 × 32, 4 warps.
    public static func kernelTiles(_ p: AttentionProblem) -> KernelConfig? {
        p.d <= 64
            ? KernelConfig(br: 128, bc: 128, warps: 4) : p.d <= 128 ? KernelConfig(br: 128, bc: 64, warps: 8) : KernelConfig(br: 64, bc: 32, warps: 4)
    }

    public static func kernelTiles(_ p: AttentionProblem, on target: KernelTarget) -> KernelTiles? {
        kernelTiles(p).map {
            KernelTiles(br: $0.br, bc: $0.bc, warps: $0.warps, source: "PyTorch 2.11 flex_attention, h100_default_flex_config (measured)")
        }
    }

    /// The block mask as the kernel walks it: Bq × Bk blocks (`--mask-block`, default 128 × 128).
    static func blocks(_ p: AttentionProblem) -> KernelConfig {
        if case let .blockSparse(m) = p.mask { return KernelConfig(br: m.blockQ, bc: m.blockK) }
        return KernelConfig(br: p.maskBlockQ, bc: p.maskBlockK)
    }

    /// Refuses what the kernel does not do: packed GQA rows (one CTA per query head).
    static func check(_ p: AttentionProblem, _ t: KernelConfig) throws(SimulationError) {
        if p.packFactor > 1 { throw .infeasible("flex runs one CTA per query head; it does not pack GQA (drop --pack-gqa)") }
    }

    /// The non-empty blocks a CTA with query rows `rows` walks: those of its 128-row mask row. The
    /// kernel needs BLOCK_M to divide 128, so that a CTA lies in one mask row; for another BLOCK_M
    /// iosim lets the CTA walk the blocks of every mask row its rows fall in (docs/counting-rules.md
    /// §4): the union of their non-empty blocks (sinks, a prefix and documents leave gaps).
    static func liveBlocks(_ rows: Range<Int>, _ p: AttentionProblem) -> TileRuns {
        let b = blocks(p), bq = b.br
        let mine = rows.lowerBound / bq...(rows.upperBound - 1) / bq
        // A block-mask file: every block it marks non-empty, whether or not the inner mask shows
        // anything inside (the kernel reads the table, not the elements).
        if case let .blockSparse(m) = p.mask {
            return TileRuns(mine.flatMap { a in m.nonEmpty(plane: 0, row: a).map { Int($0)..<Int($0) + 1 } })
        }
        if mine.count == 1 { return b.liveColumnTiles(mine.lowerBound, p) }
        return TileRuns(mine.flatMap { b.liveColumnTiles($0, p).runs })
    }

    public static func run<Machine: TileMachine>(_ m: inout Machine, tiles t: KernelConfig) throws(SimulationError) {
        let p = m.problem, d = 0..<p.d
        try check(p, t)
        m.kernel(kind.rawValue, ctas: t.tr(p) * p.instances)
        try m.uniform(0..<p.instances) { m, inst throws(SimulationError) in
            let kv = p.kvInstance(inst)
            for i in 0..<t.tr(p) {
                let rows = t.rows(i, p), live = liveBlocks(rows, p)
                // Its row's kv_num_blocks and full_kv_num_blocks, then one index per block it visits.
                try m.fetch(.table, elements: 2 + live.count, format: .int32)
                try m.load(.Q, instance: inst, rows: rows, cols: d, format: .input, into: .q)
                try m.startRows(rows.count)
                if !live.isEmpty { try m.attend(blocks(p), kvInstance: kv, rows: rows, columnTiles: live, table: false) }
                m.free(.q)
                try m.finishRows(instance: inst, rows: rows, lse: true)
            }
        }
    }
}

extension ScheduleKind {
    public static let flex = ScheduleKind(named: "flex")
}
