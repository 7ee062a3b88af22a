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

    /// Shared memory a block may opt into, the figure FlashAttention-2's backward branches on.
    package var smemOptIn: Int {
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

/// `--tiles kernel`'s lookup: each schedule declares its kernel's tiles in its own files
/// (``Schedule/kernelTiles(_:on:)``: `FA2Schedule+KernelTiles.swift`, `FA3Schedule+KernelTiles.swift`,
/// the backward's, split-kv's and lean's), read from the launch code of FlashAttention at commit
/// 0251105a (2026-08; PyTorch's flash backend builds the same FA2 files).
public enum KernelTileTable {
    /// The tiles of the kernel `kind` is modelled on for `pass`, or nil where iosim models no
    /// single kernel (standard, fa1, small-m; paged-v1/v2 and chunk-attn keep their own
    /// ``Schedule/kernelTiles(_:)``) or the kernel does not run (FA3 off Hopper, d > 256).
    public static func lookup(_ kind: ScheduleKind, pass: Pass, _ p: AttentionProblem, target: KernelTarget) -> KernelTiles? {
        kind.implementation(for: pass)?.kernelTiles(p, on: target)
    }

    /// d rounded up to the kernels' compiled head dimensions (their `HEADDIM_SWITCH`); nil above 256.
    static func roundedHeadDim(_ d: Int) -> Int? { [32, 64, 96, 128, 192, 256].first { d <= $0 } }

    /// Whether the mask is causal, and whether it is a window (FlashAttention's "local").
    static func maskKind(_ p: AttentionProblem) -> (causal: Bool, local: Bool) {
        switch p.mask {
        case .causal: (true, false)
        case .slidingWindow: (false, true)
        default: (false, false)
        }
    }
}
