import Testing

@testable import IOSim

/// `--tiles kernel` (issue 25): the tiles FlashAttention's launch code picks, per GPU branch.
@Suite struct KernelTilesTable {
    static func tiles(_ kind: ScheduleKind, _ pass: Pass = .forward, d: Int, dtype: DType = .fp16, causal: Bool = false, _ target: KernelTarget)
        -> (Int, Int, Int)?
    {
        let p = AttentionProblem(n: 4096, d: d, dtype: dtype, mask: causal ? .causal(.bottomRight) : .none)
        return KernelTileTable.lookup(kind, pass: pass, p, target: target).map { ($0.br, $0.bc, $0.warps) }
    }

    @Test func fa2ForwardOnAnH100IsFlashAttention2sNonSm8xBranch() {
        #expect(Self.tiles(.fa2, d: 64, .sm90)! == (128, 128, 4))
        #expect(Self.tiles(.fa2, d: 128, .sm90)! == (128, 64, 4))
        #expect(Self.tiles(.fa2, d: 80, .sm90)! == (128, 64, 4), "d = 80 runs the hdim-96 kernel")
        #expect(Self.tiles(.fa2, d: 256, .sm90)! == (64, 64, 4))
        #expect(Self.tiles(.fa2, d: 256, .sm80)! == (128, 64, 8), "A100: under 192 KiB per SM")
        #expect(Self.tiles(.fa2, d: 128, .sm8x)! == (128, 32, 4))
        #expect(Self.tiles(.fa2, d: 128, causal: true, .sm8x)! == (64, 64, 4))
        #expect(Self.tiles(.fa2, d: 512, .sm90) == nil, "no FA2 kernel above d = 256")
    }

    @Test func theBackwardIsPyTorchsFA2BackwardByItsSharedMemory() {
        #expect(Self.tiles(.fa2, .backward, d: 64, .sm90)! == (128, 128, 8))
        #expect(Self.tiles(.fa2, .backward, d: 128, .sm90)! == (64, 128, 8))
        #expect(Self.tiles(.fa2, .backward, d: 128, .sm8x)! == (64, 64, 8))
        #expect(Self.tiles(.fa2, .backward, d: 256, .sm8x)! == (64, 32, 8))
    }

    @Test func fa3IsHopperOnlyAndFollowsItsTileSizeTable() {
        #expect(Self.tiles(.fa3, d: 64, .sm90)! == (192, 192, 16))
        #expect(Self.tiles(.fa3, d: 64, causal: true, .sm90)! == (192, 128, 16))
        #expect(Self.tiles(.fa3, d: 128, .sm90)! == (128, 176, 12))
        #expect(Self.tiles(.fa3, d: 128, dtype: .fp8, .sm90)! == (128, 224, 12))
        #expect(Self.tiles(.fa3, d: 128, .sm80) == nil)
    }

    @Test func decodeKernelsTakeBlockN() {
        #expect(Self.tiles(.splitKV, d: 64, .sm90)! == (64, 256, 4))
        #expect(Self.tiles(.lean, d: 128, .sm90)! == (64, 128, 4))
        #expect(Self.tiles(.standard, d: 64, .sm90) == nil && Self.tiles(.fa1, d: 64, .sm90) == nil)
    }

    @Test func theTargetComesFromTheHardwareFile() throws {
        #expect(KernelTarget(try ModelFile.hardware("h100-sxm")) == .sm90)
        #expect(KernelTarget(try ModelFile.hardware("a100-80gb")) == .sm80)
        #expect(KernelTarget(try ModelFile.hardware("rtx-4090")) == .sm8x)
    }

    @Test func theKernelPolicyRunsThoseTilesAndTheirWarps() {
        let p = AttentionProblem(n: 4096, d: 128)
        let request = TileRequest(policy: .kernel, target: .sm90, warpsExplicit: false)
        let r = Simulator.simulate(.fa2, p, capacity: 494_592, tiles: request)
        #expect(r.tiles?.br == 128 && r.tiles?.bc == 64 && r.tiles?.warps == 4)
        let small = Simulator.simulate(.fa2, p, capacity: 100_000, tiles: request)
        #expect(!small.feasible && (small.reason ?? "").contains("the kernel's tiles"), "\(small.reason ?? "")")
        let standard = Simulator.simulate(.standard, p, capacity: 494_592, tiles: request)
        #expect(standard.feasible, "schedules without a kernel fall back to a policy")
    }

    @Test func kernelNamesGiveTheirTiles() {
        let fwd =
            "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4, false, false, cutlass::half_t, "
            + "Flash_kernel_traits<128, 128, 64, 4, cutlass::half_t>>, false, true>(Flash_fwd_params)"
        let t = KernelNameTiles(fwd, backward: false)
        #expect(t == KernelNameTiles(headDim: 128, br: 128, bc: 64, warps: 4))
        #expect(KernelNameTiles(fwd, backward: true) == nil)
        #expect(
            KernelNameTiles("flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<Flash_bwd_kernel_traits<64, 128, 128, 8, 4, 4, 4", backward: true)?.br
                == 128)
        #expect(KernelNameTiles("Flash_fwd_kernel_traits<128, x, 64, 4>", backward: false) == nil)
        #expect(NcuCSV.Launch.grid("(32, 1, 8)") == 256 && NcuCSV.Launch.grid("(0, 1, 1)") == nil && NcuCSV.Launch.grid("big") == nil)
    }
}
