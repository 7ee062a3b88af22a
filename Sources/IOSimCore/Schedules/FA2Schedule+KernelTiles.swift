/// FlashAttention-2's forward kernel tiles (`flash_fwd_kernel`, `flash_fwd_launch_template.h`,
/// `run_mha_fwd_hdim*`, no dropout) by head dimension, mask and GPU (docs/tiles.md, "Kernel tiles").
extension FA2Schedule {
    public static func kernelTiles(_ p: AttentionProblem, on target: KernelTarget) -> KernelTiles? {
        guard let d = KernelTileTable.roundedHeadDim(p.d) else { return nil }
        let mask = KernelTileTable.maskKind(p)
        return fa2Forward(d: d, causal: mask.causal || mask.local, target: target)
    }

    static func fa2Forward(d: Int, causal: Bool, target: KernelTarget) -> KernelTiles {
        let sm8x = target == .sm8x
        let (br, bc, warps): (Int, Int, Int) =
            switch d {
            case 32, 64: (128, 128, 4)
            case 96: sm8x && causal ? (64, 64, 4) : (128, 64, 4)
            case 128: sm8x ? (causal ? (64, 64, 4) : (128, 32, 4)) : (128, 64, 4)
            case 192: (128, 64, 8)
            default: target == .sm80 ? (128, 64, 8) : (64, 64, 4)
            }
        return KernelTiles(
            br: br, bc: bc, warps: warps,
            source: "FlashAttention-2 flash_fwd_kernel, run_mha_fwd_hdim\(d) (flash_fwd_launch_template.h, \(target.rawValue))")
    }
}
