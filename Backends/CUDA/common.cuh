// Shared pieces of the attention kernels: element types, the problem shape, error checks.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdio>
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
