// FlashAttention-3 forward (Shah et al. 2024, Algorithms 1-2) for Hopper (sm_90a), as iosim's
// `fa3` schedule runs it: FA2's loop order (a CTA tile = 128 query rows of one (batch, head); K_j,
// V_j streamed in 128-row tiles; O, l, m on chip, O and LSE written once) by a warp-specialised
// CTA of three warpgroups:
//   - warpgroup 0, the producer: one thread issues the bulk tensor copies (TMA,
//     cp.async.bulk.tensor with 128-byte swizzle) of Q_i and of K_j, V_j into an STAGES-deep ring,
//     each completing on an mbarrier (expect_tx); the warpgroup gives registers away (setmaxnreg).
//   - warpgroups 1 and 2, the consumers: 64 query rows each; S = Q K_j^T by wgmma with both
//     operands in shared memory (K-major descriptors), the online softmax in fp32 on the
//     accumulators, O += P V_j by wgmma with P from registers and V in shared memory (an MN-major
//     descriptor: V is stored row-major, as loaded).
// Ping-pong (FA3 section 3.1): the consumers take turns issuing their GEMMs (two named barriers),
// so one's softmax runs while the other's GEMMs occupy the tensor cores. Intra-warpgroup overlap
// (section 3.2): S_{j+1} = Q K_{j+1}^T and O += P_j V_j are issued together and the softmax of
// S_{j+1} runs while P_j V_j is in flight (d = 128). Persistent grid (not causal): CTAs = SMs,
// tiles (row tile, head, batch) dealt round-robin; causal: one CTA per tile, heaviest first.
// Causal masking is top-left; column tiles past the diagonal are never loaded. Ragged N: the
// tensor maps are 3-D (d, N, B*H), so the copy engine zero-fills rows past N of a head without
// reading them; columns >= N are masked; rows >= N are never written.
// Every K_j, V_j crosses L2 -> SM once per row tile and Q_i once: fa2's traffic for Br = Bc = 128.
#pragma once
#include "common.cuh"
#include <cuda.h>
#include <cudaTypedefs.h>
#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <type_traits>

namespace fa3 {
constexpr int BR = 128, BC = 128, CONSUMERS = 2, THREADS = 128 * (CONSUMERS + 1);
#ifndef FA3_STAGES
#define FA3_STAGES 2
#endif
#ifndef FA3_PINGPONG
#define FA3_PINGPONG 1
#endif
// Intra-warpgroup overlap and the persistent grid: 1 on, 0 off, -1 (default) as measured best on
// the H100 (Reports/gpu/fa3_notes.md): overlap at d = 128 only (at d = 64 the kernel ran 2-8%
// faster without it); persistent when not causal (causal ran 4-9% faster at N = 16K with one CTA
// per tile, the hardware's dispatch balancing the unequal causal tiles better than a static deal;
// 1-5% slower at N = 4K).
#ifndef FA3_OVERLAP
#define FA3_OVERLAP -1
#endif
#ifndef FA3_PERSISTENT
#define FA3_PERSISTENT -1
#endif
constexpr int STAGES = FA3_STAGES;

#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FA3_DEVICE 1
#else
#define FA3_DEVICE 0
#endif

// ---- mbarriers, bulk tensor copies, named barriers, register moves --------------------------
__device__ __forceinline__ void mbar_init(uint64_t* b, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(b)), "r"(count));
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t* b, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(b)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* b) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_addr(b)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* b, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred p;\nWAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
      "@!p bra WAIT;\n}\n" ::"r"(smem_addr(b)),
      "r"(parity)
      : "memory");
}
// One box of a 3-D tensor map (coordinates innermost first) into shared memory.
__device__ __forceinline__ void tma_load(void* dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1, int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(smem_addr(bar))
      : "memory");
}
__device__ __forceinline__ void bar_sync(int id, int n) { asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
__device__ __forceinline__ void bar_arrive(int id, int n) { asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(n) : "memory"); }
template <int R> __device__ __forceinline__ void regs_dec() { asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R)); }
template <int R> __device__ __forceinline__ void regs_inc() { asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R)); }

// ---- wgmma -------------------------------------------------------------------------------------
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
// Pins registers an asynchronous wgmma reads or writes: the compiler may not move their uses
// across this point (the wgmma asm itself looks synchronous to it).
template <int N> __device__ __forceinline__ void pin(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}
template <int N> __device__ __forceinline__ void pin(uint32_t (&r)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int k = 0; k < 4; ++k) asm volatile("" : "+r"(r[i][k])::"memory");
}
// Shared-memory matrix descriptor, 128-byte swizzle (layout type 1 in bits 62-63). K-major
// operands (Q, K): rows of 128 bytes, 8-row atoms SBO = 1024 bytes apart, LBO unused. MN-major
// (V): 64 contiguous elements of the N dimension per 128-byte row, LBO = bytes between 64-column
// blocks, SBO = 1024 bytes between groups of 8 rows of the K dimension.
__device__ __forceinline__ uint64_t make_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)(lbo >> 4) << 16) | ((uint64_t)(sbo >> 4) << 32) | (1ull << 62);
}
// ---- generated by hand-run script: wgmma m64nNk16, fp32 accumulators (N/2 per thread) ----
template <typename T> __device__ __forceinline__ void wgmma_ss64(float* d, uint64_t da, uint64_t db, int acc);
template <typename T> __device__ __forceinline__ void wgmma_rs64(float* d, const uint32_t* a, uint64_t db, int acc);
template <typename T> __device__ __forceinline__ void wgmma_ss128(float* d, uint64_t da, uint64_t db, int acc);
template <typename T> __device__ __forceinline__ void wgmma_rs128(float* d, const uint32_t* a, uint64_t db, int acc);
template <> __device__ __forceinline__ void wgmma_ss64<__half>(float* d, uint64_t da, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs64<__half>(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_ss128<__half>(float* d, uint64_t da, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs128<__half>(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_ss64<__nv_bfloat16>(float* d, uint64_t da, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs64<__nv_bfloat16>(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_ss128<__nv_bfloat16>(float* d, uint64_t da, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs128<__nv_bfloat16>(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}

// Tile t of the grid's work list: causal lists row tiles heaviest (last) first across all heads,
// so the round-robin deal ends on short tiles; otherwise a head's row tiles are consecutive, so
// CTAs running at once share that head's K and V in L2.
__device__ __forceinline__ void tile_of(int t, int tr, int bh_count, bool causal, int& i, int& bh) {
  if (causal) i = tr - 1 - t / bh_count, bh = t % bh_count;
  else i = t % tr, bh = t / tr;
}
__device__ __forceinline__ int live_tiles(int i, int n, bool causal) {
  const int tc = (n + BC - 1) / BC;
  return causal ? min(tc, (min(n, (i + 1) * BR) - 1) / BC + 1) : tc;
}

template <typename T, int D> struct Layout {
  static constexpr uint32_t Q_BYTES = BR * D * 2, KV_BYTES = BC * D * 2;
  static constexpr uint32_t K_OFF = Q_BYTES, V_OFF = K_OFF + STAGES * KV_BYTES, BAR_OFF = V_OFF + STAGES * KV_BYTES;
  static constexpr uint32_t BYTES = BAR_OFF + 8 * (2 + 4 * STAGES) + 1024;  // + alignment slack
};

template <typename T, int D>
__global__ void __launch_bounds__(THREADS, 1)
    forward(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk, const __grid_constant__ CUtensorMap tv,
            T* __restrict__ O, float* __restrict__ LSE, Shape s) {
#if FA3_DEVICE
  using L = Layout<T, D>;
  constexpr bool OVERLAP = FA3_OVERLAP < 0 ? D > 64 : FA3_OVERLAP != 0;
  constexpr int CB = D / 64;  // 128-byte column blocks per row (the swizzle's width)
  extern __shared__ __align__(1024) char smem_raw[];
  char* base = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);  // swizzle atoms need 1024-byte alignment
  T* sQ = reinterpret_cast<T*>(base);
  T* sK = reinterpret_cast<T*>(base + L::K_OFF);
  T* sV = reinterpret_cast<T*>(base + L::V_OFF);
  uint64_t* bars = reinterpret_cast<uint64_t*>(base + L::BAR_OFF);
  uint64_t *qfull = bars, *qempty = bars + 1, *kfull = bars + 2, *kempty = kfull + STAGES, *vfull = kempty + STAGES,
           *vempty = vfull + STAGES;
  const int n = s.N, tr = (n + BR - 1) / BR, bh_count = s.B * s.H, ntiles = tr * bh_count;
  const int wg = threadIdx.x / 128;
  if (threadIdx.x == 0) {
    mbar_init(qfull, 1);
    mbar_init(qempty, CONSUMERS * 4);  // lane 0 of each consumer warp
    for (int st = 0; st < STAGES; ++st) {
      mbar_init(kfull + st, 1), mbar_init(vfull + st, 1);
      mbar_init(kempty + st, CONSUMERS * 4), mbar_init(vempty + st, CONSUMERS * 4);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (wg == 0) {  // producer
    regs_dec<24>();
    if (threadIdx.x == 0) {
      int it = 0, tl = 0;
      for (int t = blockIdx.x; t < ntiles; t += gridDim.x, ++tl) {
        int i, bh;
        tile_of(t, tr, bh_count, s.causal, i, bh);
        const int jn = live_tiles(i, n, s.causal);
        for (int j = 0; j < jn; ++j, ++it) {
          const int st = it % STAGES;
          const uint32_t ph = (it / STAGES) & 1;
          mbar_wait(kempty + st, ph ^ 1);
          mbar_expect_tx(kfull + st, L::KV_BYTES);
#pragma unroll
          for (int cb = 0; cb < CB; ++cb) tma_load(sK + st * BC * D + cb * BC * 64, &tk, kfull + st, cb * 64, j * BC, bh);
          if (j == 0) {  // Q after K_0: the previous tile's consumers may still hold Q
            mbar_wait(qempty, (tl & 1) ^ 1);
            mbar_expect_tx(qfull, L::Q_BYTES);
#pragma unroll
            for (int cb = 0; cb < CB; ++cb) tma_load(sQ + cb * BR * 64, &tq, qfull, cb * 64, i * BR, bh);
          }
          mbar_wait(vempty + st, ph ^ 1);
          mbar_expect_tx(vfull + st, L::KV_BYTES);
#pragma unroll
          for (int cb = 0; cb < CB; ++cb) tma_load(sV + st * BC * D + cb * BC * 64, &tv, vfull + st, cb * 64, j * BC, bh);
        }
      }
    }
    return;
  }

  // Consumers: warpgroup c owns rows c*64 .. c*64+63 of the row tile.
  regs_inc<240>();
  const int c = wg - 1, tid = threadIdx.x % 128, warp = tid / 32, lane = tid % 32;
  const float sl2 = s.scale * 1.4426950408889634f;  // scores in log2 units
  const uint64_t dq = make_desc(smem_addr(sQ) + c * 64 * 128, 16, 1024);
  const uint64_t dk = make_desc(smem_addr(sK), 16, 1024);
  const uint64_t dv = make_desc(smem_addr(sV), BC * 128, 1024);
  auto release = [&](uint64_t* b) {
    __syncwarp();
    if (lane == 0) mbar_arrive(b);
  };
  // Ping-pong: barrier 1 + c opens consumer c's turn to issue GEMMs; consumer 0 goes first.
  auto turn_wait = [&] { if (FA3_PINGPONG) bar_sync(1 + c, 256); };
  auto turn_pass = [&] { if (FA3_PINGPONG) bar_arrive(1 + (c ^ 1), 256); };
  if (FA3_PINGPONG && c == 1) bar_arrive(1, 256);

  float sc[BC / 2], o[D / 2];
  uint32_t p[BC / 16][4];
  auto issue_s = [&](int st) {  // S = Q K^T, both operands K-major in shared memory
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
      wgmma_ss128<T>(sc, dq + (((kk / 4) * BR * 128 + (kk % 4) * 32) >> 4),
                     dk + ((st * L::KV_BYTES + (kk / 4) * BC * 128 + (kk % 4) * 32) >> 4), kk > 0);
    wg_commit();
  };
  auto issue_pv = [&](int st) {  // O += P V, P from registers, V MN-major in shared memory
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      const uint64_t b = dv + ((st * L::KV_BYTES + kk * 16 * 128) >> 4);
      if constexpr (D == 128) wgmma_rs128<T>(o, p[kk], b, 1);
      else wgmma_rs64<T>(o, p[kk], b, 1);
    }
    wg_commit();
  };
  const int trow = c * 64 + warp * 16 + lane / 4;  // this thread's first row in the tile (+8: second)
  // Masks columns >= N and, causal, columns past the row; only tiles that cross either edge.
  auto mask = [&](int j, int r0) {
    if ((j + 1) * BC <= n && (!s.causal || (j + 1) * BC - 1 <= r0 + c * 64)) return;
#pragma unroll
    for (int nb = 0; nb < BC / 8; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = j * BC + nb * 8 + (lane % 4) * 2 + (e & 1), row = r0 + trow + (e >> 1) * 8;
        if (col >= n || (s.causal && col > row)) sc[nb * 4 + e] = -INFINITY;
      }
  };
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, alpha[2] = {0.f, 0.f};
  // Online softmax on S (log2 units): new maxima, alpha = 2^(m_old - m_new), S := 2^(S - m_new),
  // per-thread partial row sums (the quad's four partials are added once, at the end).
  auto softmax = [&] {
    float mt[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int k = 0; k < BC / 2; ++k) mt[(k >> 1) & 1] = fmaxf(mt[(k >> 1) & 1], sc[k]);
    float mn[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 1));
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 2));
      mn[h] = fmaxf(m[h], mt[h] * sl2);
      alpha[h] = ex2(m[h] - mn[h]);  // m = -inf (first tile): 0
      m[h] = mn[h];
      if (mn[h] == -INFINITY) mn[h] = 0.f;  // no live column yet: masked scores still give 0
    }
    float rs[2] = {0.f, 0.f};
#pragma unroll
    for (int k = 0; k < BC / 2; ++k) {
      const int h = (k >> 1) & 1;
      sc[k] = ex2(fmaf(sc[k], sl2, -mn[h]));
      rs[h] += sc[k];
    }
    l[0] = l[0] * alpha[0] + rs[0];
    l[1] = l[1] * alpha[1] + rs[1];
  };
  auto rescale = [&] {
#pragma unroll
    for (int k = 0; k < D / 2; ++k) o[k] *= alpha[(k >> 1) & 1];
  };
  auto to_p = [&] {
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk)
#pragma unroll
      for (int x = 0; x < 4; ++x) p[kk][x] = Mma<T>::pack(sc[kk * 8 + 2 * x], sc[kk * 8 + 2 * x + 1]);
  };

  int it = 0, tl = 0;
  for (int t = blockIdx.x; t < ntiles; t += gridDim.x, ++tl) {
    int i, bh;
    tile_of(t, tr, bh_count, s.causal, i, bh);
    const int jn = live_tiles(i, n, s.causal), r0 = i * BR;
#pragma unroll
    for (int k = 0; k < D / 2; ++k) o[k] = 0.f;
    m[0] = m[1] = -INFINITY;
    l[0] = l[1] = 0.f;
    mbar_wait(qfull, tl & 1);
    int pst = 0;
    uint32_t pph = 0;
    if constexpr (OVERLAP) {
      // Tile 0 alone; then S_j and P_{j-1} V_{j-1} issued together, the softmax of S_j
      // overlapping P_{j-1} V_{j-1}.
      int st = it % STAGES;
      uint32_t ph = (it / STAGES) & 1;
      mbar_wait(kfull + st, ph);
      turn_wait();
      issue_s(st);
      turn_pass();
      wg_wait<0>();
      pin(sc);
      release(kempty + st);
      mask(0, r0);
      softmax();
      to_p();
      pst = st, pph = ph, ++it;
      for (int j = 1; j < jn; ++j, ++it) {
        st = it % STAGES, ph = (it / STAGES) & 1;
        mbar_wait(kfull + st, ph);
        turn_wait();
        issue_s(st);
        mbar_wait(vfull + pst, pph);
        issue_pv(pst);
        turn_pass();
        wg_wait<1>();
        pin(sc);
        release(kempty + st);
        mask(j, r0);
        softmax();
        wg_wait<0>();
        pin(o);
        pin(p);
        release(vempty + pst);
        rescale();
        to_p();
        pst = st, pph = ph;
      }
      if (lane == 0) mbar_arrive(qempty);  // every S GEMM of this tile is done
      mbar_wait(vfull + pst, pph);
      issue_pv(pst);
      wg_wait<0>();
      pin(o);
      release(vempty + pst);
    } else {
      for (int j = 0; j < jn; ++j, ++it) {
        const int st = it % STAGES;
        const uint32_t ph = (it / STAGES) & 1;
        mbar_wait(kfull + st, ph);
        turn_wait();
        issue_s(st);
        turn_pass();
        wg_wait<0>();
        pin(sc);
        release(kempty + st);
        if (j == jn - 1 && lane == 0) mbar_arrive(qempty);
        mask(j, r0);
        softmax();
        rescale();
        to_p();
        mbar_wait(vfull + st, ph);
        issue_pv(st);
        wg_wait<0>();
        pin(o);
        release(vempty + st);
      }
    }
    // Epilogue: O /= l, LSE = (m + log2 l) ln 2; rows >= N are not written.
    const size_t rbase = (size_t)bh * n;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float lt = l[h];
      lt += __shfl_xor_sync(0xffffffff, lt, 1);
      lt += __shfl_xor_sync(0xffffffff, lt, 2);
      const int row = r0 + trow + h * 8;
      if (row < n) {
        const float inv = lt > 0.f ? 1.f / lt : 0.f;
        uint32_t* dst = reinterpret_cast<uint32_t*>(O + (rbase + row) * D + (lane % 4) * 2);
#pragma unroll
        for (int nb = 0; nb < D / 8; ++nb) dst[nb * 4] = Mma<T>::pack(o[nb * 4 + 2 * h] * inv, o[nb * 4 + 2 * h + 1] * inv);
        if (lane % 4 == 0) LSE[rbase + row] = lt > 0.f ? (m[h] + log2f(lt)) * 0.6931471805599453f : -INFINITY;
      }
    }
  }
  if (FA3_PINGPONG && c == 0) bar_sync(1, 256);  // consumer 1's last pass, so no barrier is left half-arrived
#endif
}

// ---- host side ---------------------------------------------------------------------------------
// cuTensorMapEncodeTiled through the runtime's driver entry point (no -lcuda).
inline PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  if (!fn) {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q;
    CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q));
    if (q != cudaDriverEntryPointSuccess || !p) { fprintf(stderr, "fa3: cuTensorMapEncodeTiled not found\n"); exit(1); }
    fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(p);
  }
  return fn;
}
// [B*H, N, D] as a 3-D tensor (D innermost); boxes of 64 columns (128 bytes, the swizzle width)
// by `rows` rows of one head: rows past N of a head are zero-filled, never read from the next head.
template <typename T> CUtensorMap tensor_map(const T* p, Shape s, int rows) {
  CUtensorMap m;
  const cuuint64_t dims[3] = {(cuuint64_t)s.D, (cuuint64_t)s.N, (cuuint64_t)s.B * s.H};
  const cuuint64_t strides[2] = {(cuuint64_t)s.D * sizeof(T), (cuuint64_t)s.N * s.D * sizeof(T)};
  const cuuint32_t box[3] = {64, (cuuint32_t)rows, 1}, unit[3] = {1, 1, 1};
  const CUtensorMapDataType ty = std::is_same<T, __nv_bfloat16>::value ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  const CUresult r = encoder()(&m, ty, 3, const_cast<T*>(p), dims, strides, box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE,
                               CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) { fprintf(stderr, "fa3: cuTensorMapEncodeTiled failed (%d)\n", (int)r); exit(1); }
  return m;
}

template <typename T, int D> void launch(const T* Q, const T* K, const T* V, T* O, float* LSE, Shape s) {
  constexpr uint32_t bytes = Layout<T, D>::BYTES;
  static int sms = 0;
  if (!sms) {
    int dev;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    CK(cudaFuncSetAttribute(forward<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  }
  const CUtensorMap tq = tensor_map(Q, s, BR), tk = tensor_map(K, s, BC), tv = tensor_map(V, s, BC);
  const int tiles = (s.N + BR - 1) / BR * s.B * s.H;
  const bool persistent = FA3_PERSISTENT > 0 || (FA3_PERSISTENT < 0 && !s.causal);
  const int grid = persistent ? std::min(tiles, sms) : tiles;
  forward<T, D><<<grid, THREADS, bytes>>>(tq, tk, tv, O, LSE, s);
  CK(cudaGetLastError());
}

// fa3 needs sm_90a (wgmma, setmaxnreg); other GPUs get one line and exit 2.
template <typename T> void run(const T* Q, const T* K, const T* V, T* O, float* LSE, Shape s) {
  int dev, major, minor;
  CK(cudaGetDevice(&dev));
  CK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  CK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  if (major != 9 || minor != 0) { fprintf(stderr, "fa3: needs compute capability 9.0 (sm_90a), found %d.%d\n", major, minor); exit(2); }
  switch (s.D) {
    case 64: launch<T, 64>(Q, K, V, O, LSE, s); break;
    case 128: launch<T, 128>(Q, K, V, O, LSE, s); break;
    default: fprintf(stderr, "fa3: d = %d is not built (64, 128)\n", s.D); exit(2);
  }
}
}  // namespace fa3
