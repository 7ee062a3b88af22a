import AttentionReference

/// Which branch of a kernel library's launch code a GPU takes: FlashAttention picks tiles by
/// architecture and by the shared memory a block may opt into (docs/tiles.md, "Kernel tiles").
public enum KernelTarget: String, Sendable, Hashable, CaseIterable {
    /// Hopper (H100, H200): wgmma and TMA, 227 KiB per block, 228 KiB per SM. FA3's kernels;
    /// FlashAttention-2's non-sm8x branches with ≥ 192 KiB per SM.
    case sm90
    /// A100 (sm80): 163 KiB per block, 164 KiB per SM.
    case sm80
    /// sm86/sm89 (RTX 30/40, L4, A10): 99 KiB per block — FlashAttention-2's `is_sm8x` branches.
    case sm8x

    /// The target a hardware model describes: wgmma/TMA ⇒ sm90; else ≥ 144 KiB of shared memory
    /// per block ⇒ sm80; else sm8x.
    public init(_ hw: HardwareModel) {
        if hw.hasWgmmaTMA {
            self = .sm90
        } else {
            self = hw.smemPerBlock >= 144 * 1024 ? .sm80 : .sm8x
        }
    }

    /// Shared memory a block may opt into, the figure FlashAttention-2's backward branches on.
    var smemOptIn: Int {
        switch self {
        case .sm90: 227 * 1024
        case .sm80: 163 * 1024
        case .sm8x: 99 * 1024
        }
    }
}

/// The tiles (and warps) a real kernel launches with, and where that is written.
public struct KernelTiles: Sendable, Equatable {
    public var br: Int
    public var bc: Int
    public var warps: Int
    /// The kernel and the launch code that fixes these tiles, for tables and docs.
    public var source: String
}

/// The tile tables of the kernels iosim's schedules are modelled on, read from their launch code
/// (FlashAttention at commit 0251105a, 2026-08; PyTorch's flash backend builds the same files):
///
/// - fa2 forward: `flash_fwd_launch_template.h`, `run_mha_fwd_hdim*` (no dropout);
/// - split-kv and lean (decode): FA2's `flash_fwd_splitkv_kernel`, Br = 64, Bc = block_n;
/// - fa2 backward (PyTorch's `flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel`): `flash_bwd_launch_template.h`,
///   branching on the block's shared-memory opt-in;
/// - fa3 forward (Hopper only): `hopper/tile_size.h`, `tile_size_fwd_sm90`.
///
/// Head dimensions are rounded up as the kernels' `HEADDIM_SWITCH` does (32, 64, 96, 128, 192,
/// 256); above 256 no kernel exists (nil).
public enum KernelTileTable {
    /// The tiles of the kernel `kind` is modelled on for `pass`, or nil where iosim models no
    /// single kernel (standard, fa1, small-m; paged-v1/v2 and chunk-attn keep their own
    /// ``Schedule/kernelTiles(_:)``) or the kernel does not run (FA3 off Hopper, d > 256).
    public static func lookup(_ kind: ScheduleKind, pass: Pass, _ p: AttentionProblem, target: KernelTarget) -> KernelTiles? {
        guard let d = roundedHeadDim(p.d) else { return nil }
        var causal = false, local = false
        switch p.mask {
        case .causal: causal = true
        case .slidingWindow: local = true
        default: break
        }
        switch (kind, pass) {
        case (.fa2, .forward): return fa2Forward(d: d, causal: causal || local, target: target)
        case (.fa2, .backward): return fa2Backward(d: d, target: target)
        case (.splitKV, .forward), (.lean, .forward):
            return KernelTiles(
                br: 64, bc: SplitKVHeuristic.blockN(d: p.d), warps: 4,
                source: "FlashAttention-2 flash_fwd_splitkv_kernel (flash_fwd_launch_template.h: kBlockM 64, block_n by d)")
        case (.fa3, .forward):
            guard target == .sm90 else { return nil }
            return fa3Forward(d: d, fp8: p.dtype == .fp8, causal: causal, local: local)
        default: return nil
        }
    }

    /// d rounded up to the kernels' compiled head dimensions; nil above 256.
    static func roundedHeadDim(_ d: Int) -> Int? { [32, 64, 96, 128, 192, 256].first { d <= $0 } }

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
