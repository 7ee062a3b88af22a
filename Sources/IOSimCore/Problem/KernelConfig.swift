/// The configuration a schedule's kernel is built and launched with (FlashAttention calls these
/// its kernel traits): the tile shape, `br` rows of Q (row tile) by `bc` rows of K/V (column
/// tile); the K/V pipeline depth `stages` and the `warps` per thread block, which change its
/// footprint, its SRAM-side traffic or its time; and the work split that sets the grid, `splits`
/// (split-KV) and `ctas` (Lean Attention). Parameters named `tiles` hold one.
/// The Saha–Ye schedule uses square tiles, `br = bc = B`, and splits d in blocks of `bc`.
public struct KernelConfig: Hashable, Sendable, Codable, CustomStringConvertible {
    public var br: Int
    public var bc: Int
    /// The K/V pipeline depth (`--stages`, ``Schedule/pipelineStages``); schedules without a K/V
    /// pipeline ignore it.
    public var stages: Int
    /// Warps per thread block (`--warps`), for the SRAM-side partition of fa1 and fa2.
    public var warps: Int
    /// Split-KV's splits of each row tile's column tiles (`--splits`); other schedules ignore it.
    public var splits: Int
    /// Lean Attention's CTAs (`--ctas`; 0: one per row tile per head); other schedules ignore it.
    public var ctas: Int

    public init(br: Int, bc: Int, stages: Int = 2, warps: Int = 4, splits: Int = 1, ctas: Int = 0) {
        self.br = br
        self.bc = bc
        self.stages = stages
        self.warps = warps
        self.splits = splits
        self.ctas = ctas
    }

    public var description: String { "\(br)×\(bc)" }

    /// Number of row tiles ⌈n/br⌉ and of column tiles ⌈nk/bc⌉.
    public func tr(_ p: AttentionProblem) -> Int { (p.n + br - 1) / br }
    public func tc(_ p: AttentionProblem) -> Int { (p.nk + bc - 1) / bc }

    /// Rows of row tile i (the last one may be ragged).
    @inline(__always) public func rows(_ i: Int, _ p: AttentionProblem) -> Range<Int> { i * br..<min((i + 1) * br, p.n) }
    /// Rows of K/V in column tile j.
    @inline(__always) public func cols(_ j: Int, _ p: AttentionProblem) -> Range<Int> { j * bc..<min((j + 1) * bc, p.nk) }

    /// Tiles clamped to the problem (a tile larger than N is N).
    public func clamped(to p: AttentionProblem) -> KernelConfig {
        KernelConfig(br: min(br, p.n), bc: min(bc, p.nk), stages: stages, warps: warps, splits: splits, ctas: ctas)
    }

    /// The same mapping with another tile shape.
    public func with(br: Int, bc: Int) -> KernelConfig { KernelConfig(br: br, bc: bc, stages: stages, warps: warps, splits: splits, ctas: ctas) }
}
