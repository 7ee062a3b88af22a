// Shared pieces of the attention kernels: element types, the problem shape, error checks.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdio>
#include <cstdint>
#include <cstdlib>

#define CK(x)                                                                                     \
  do {                                                                                            \
    cudaError_t e_ = (x);                                                                         \
    if (e_ != cudaSuccess) {                                                                      \
      fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));                 \
      exit(1);                                                                                    \
    }                                                                                             \
  } while (0)

// Q, K, V, O are [B, H, N, D] row-major; LSE is [B, H, N] (fp32).
struct Shape {
  int B, H, N, D;
  bool causal;
  float scale;  // 1/sqrt(D)
};

template <typename T> struct Elem;
template <> struct Elem<__half> {
  static __host__ __device__ float to_float(__half x) { return __half2float(x); }
  static __host__ __device__ __half from_float(float x) { return __float2half_rn(x); }
  static constexpr const char* name = "fp16";
};
template <> struct Elem<__nv_bfloat16> {
  static __host__ __device__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __host__ __device__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
  static constexpr const char* name = "bf16";
};

// Loads through L2 only (ld.global.cg): the kernels never rely on L1 reuse, so the L2->SM bytes
// Nsight Compute measures are exactly the loads the schedule issues (what iosim counts).
template <typename T> __device__ __forceinline__ T ldcg(const T* p) { return __ldcg(p); }
template <> __device__ __forceinline__ __half ldcg(const __half* p) {
  unsigned short u = __ldcg(reinterpret_cast<const unsigned short*>(p));
  return __ushort_as_half(u);
}
template <> __device__ __forceinline__ __nv_bfloat16 ldcg(const __nv_bfloat16* p) {
  unsigned short u = __ldcg(reinterpret_cast<const unsigned short*>(p));
  return __ushort_as_bfloat16(u);
}

// Copies a rows x D tile (global rows D apart) into shared memory rows `ldd` apart, the whole block
// cooperating with coalesced 4-byte L2-only loads: consecutive threads read consecutive words, so
// every 32-byte sector crossing to the SM is fully used. `ldd` = D + 2 makes the row stride an odd
// number of words, so threads reading one element each of different rows hit different banks.
template <typename T>
__device__ __forceinline__ void copy_tile_cg(T* dst, int ldd, const T* src, int rows, int D, int threads) {
  const int words = D / 2;
  for (int e = threadIdx.x; e < rows * words; e += threads) {
    const int r = e / words, c = (e % words) * 2;
    *reinterpret_cast<unsigned int*>(dst + r * ldd + c) = __ldcg(reinterpret_cast<const unsigned int*>(src + (size_t)r * D + c));
  }
}

// ---- Tensor-core building blocks (fa2.cuh, standard.cuh, fa1.cuh) ----------------------------
// mma.sync m16n8k16 (fp16 or bf16 in, fp32 accumulate), ldmatrix, cp.async.

template <typename T> struct Mma;
template <> struct Mma<__half> {
  static __device__ __forceinline__ void run(float* c, const uint32_t* a, const uint32_t* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
};
template <> struct Mma<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float* c, const uint32_t* a, const uint32_t* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
};

// Two packed dtype values (one 32-bit word) to fp32.
template <typename T> __device__ __forceinline__ float2 unpack2(uint32_t u);
template <> __device__ __forceinline__ float2 unpack2<__half>(uint32_t u) {
  return __half22float2(*reinterpret_cast<const __half2*>(&u));
}
template <> __device__ __forceinline__ float2 unpack2<__nv_bfloat16>(uint32_t u) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u));
}

// 2^x on the special-function unit (MUFU.EX2); inputs far below zero give 0.
__device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}

// 16 bytes global -> shared; rows past N are zero-filled without a read. The .ca form: on the
// H100 we measured, Nsight Compute counts 1.5x the copied bytes crossing L2->SM for cp.async.cg and
// exactly 1x for cp.async.ca (Backends/CUDA/probe_copy.cu); no tile is read twice by one block,
// so L1 allocation changes nothing else; speed differs by under 2% (Reports/gpu/fa2_pipeline_variants.txt,
// FA2_CP_CG=1).
#ifndef FA2_CP_CG
#define FA2_CP_CG 0
#endif
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  if (FA2_CP_CG)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
  else
    asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// Copies a ROWS x COLS tile (global rows `stride` elements apart) into shared memory rows LD
// apart with 16-byte cp.async.ca, the whole block (THREADS threads) cooperating; chunk (r, c) is
// copied when r < rows_valid and c < cols_valid, else zero-filled without a read. Consecutive
// threads copy consecutive 16-byte chunks of a row, so every 32-byte sector read is fully used.
template <typename T, int THREADS, int COLS, int ROWS, int LD>
__device__ __forceinline__ void cp_tile(T* dst, const T* src, size_t stride, int rows_valid, int cols_valid) {
  constexpr int CHUNKS = COLS / 8;
#pragma unroll
  for (int e = threadIdx.x; e < ROWS * CHUNKS; e += THREADS) {
    const int r = e / CHUNKS, c = (e % CHUNKS) * 8;
    const bool valid = r < rows_valid && c < cols_valid;
    cp_async16(dst + r * LD + c, valid ? src + (size_t)r * stride + c : src, valid);
  }
}
