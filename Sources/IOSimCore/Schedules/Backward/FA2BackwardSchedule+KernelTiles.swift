/// FlashAttention-2's backward kernel tiles, the ones PyTorch's flash backward runs
/// (`flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel`, `flash_bwd_launch_template.h`), by head dimension
/// and the shared memory a block may opt into (docs/tiles.md, "Kernel tiles").
extension FA2BackwardSchedule {
    public static func kernelTiles(_ p: AttentionProblem, on target: KernelTarget) -> KernelTiles? {
        KernelTileTable.roundedHeadDim(p.d).map { fa2Backward(d: $0, target: target) }
    }

    static func fa2Backward(d: Int, target: KernelTarget) -> KernelTiles {
        let smem = target.smemOptIn
        let (br, bc): (Int, Int) =
            switch d {
            case 32: (128, 128)
            case 64: smem >= 144 * 1024 ? (128, 128) : (64, 128)
            case 96: (64, 128)
            case 128: smem >= 144 * 1024 ? (64, 128) : (64, 64)
            case 192: (64, 64)
            default: smem >= 144 * 1024 ? (64, 64) : (64, 32)
            }
        return KernelTiles(
            br: br, bc: bc, warps: 8,
            source: "FlashAttention-2 flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel, run_mha_bwd_hdim\(d) "
                + "(flash_bwd_launch_template.h, \(smem / 1024) KiB opt-in)")
    }
}
