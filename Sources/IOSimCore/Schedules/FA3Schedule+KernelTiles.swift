/// FlashAttention-3's forward kernel tiles (`hopper/tile_size.h`, `tile_size_fwd_sm90`) by head
/// dimension, dtype and mask; Hopper only (docs/tiles.md, "Kernel tiles").
extension FA3Schedule {
    public static func kernelTiles(_ p: AttentionProblem, on target: KernelTarget) -> KernelTiles? {
        guard target == .sm90, let d = KernelTileTable.roundedHeadDim(p.d) else { return nil }
        let mask = KernelTileTable.maskKind(p)
        return fa3Forward(d: d, fp8: p.dtype == .fp8, causal: mask.causal, local: mask.local)
    }

    static func fa3Forward(d: Int, fp8: Bool, causal: Bool, local: Bool) -> KernelTiles {
        let (br, bc): (Int, Int)
        if fp8 {
            (br, bc) =
                switch d {
                case 32, 64: (192, 160)
                case 96: (192, 128)
                case 128: (128, 224)
                case 192: (128, 160)
                default: (128, local ? 64 : 128)
                }
        } else {
            (br, bc) =
                switch d {
                case 32, 64: (192, causal || local ? 128 : 192)
                case 96: (192, local ? 128 : 144)
                case 128: (128, causal || local ? 128 : 176)
                case 192: (128, local ? 96 : 112)
                default: (128, local ? 64 : 80)
                }
        }
        // One producer warpgroup beside Br/64 MMA warpgroups, 4 warps each.
        return KernelTiles(
            br: br, bc: bc, warps: 4 * (br / 64 + 1),
            source: "FlashAttention-3 tile_size_fwd_sm90 (hopper/tile_size.h, \(fp8 ? "fp8" : "16-bit"), hdim \(d))")
    }
}
