// Standard attention (FlashAttention paper, Algorithm 0) as three kernels, as iosim's `standard`
// schedule runs it: S = scale*Q*K^T with a row tile Q_i resident and K_j streamed (S written to
// global memory in the dtype), a row-wise softmax that reads each row of S once (it fits in shared
// memory) and writes P, and O = P*V with P and V tiles streamed and O_i accumulated on chip.
// Every tile is computed even when causal; the mask is applied in the softmax. CUDA cores, fp32 math.
#pragma once
#include "common.cuh"
#include <cfloat>

namespace standard {
constexpr int BR = 64, BC = 64, THREADS = 256;

template <typename T> __global__ void __launch_bounds__(THREADS) scores(const T* Q, const T* K, T* S, Shape s) {
  extern __shared__ __align__(16) char smem[];
  const int ld = s.D + 2;
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + BR * ld;
  const int i = blockIdx.x, bh = blockIdx.y, r0 = i * BR, rows = min(BR, s.N - r0);
  const T* q = Q + ((size_t)bh * s.N + r0) * s.D;
  const T* k = K + (size_t)bh * s.N * s.D;
  copy_tile_cg(sQ, ld, q, rows, s.D, THREADS);
  for (int c0 = 0; c0 < s.N; c0 += BC) {
    const int cols = min(BC, s.N - c0);
    __syncthreads();
    copy_tile_cg(sK, ld, k + (size_t)c0 * s.D, cols, s.D, THREADS);
    __syncthreads();
    for (int e = threadIdx.x; e < rows * cols; e += THREADS) {
      const int r = e / cols, c = e % cols;
      float acc = 0.f;
      for (int d = 0; d < s.D; ++d) acc += Elem<T>::to_float(sQ[r * ld + d]) * Elem<T>::to_float(sK[c * ld + d]);
      S[((size_t)bh * s.N + r0 + r) * s.N + c0 + c] = Elem<T>::from_float(acc * s.scale);
    }
  }
}

__device__ __forceinline__ float block_reduce(float v, bool is_max, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) {
    float w = __shfl_xor_sync(0xffffffff, v, o);
    v = is_max ? fmaxf(v, w) : v + w;
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  v = scratch[0];
  for (int w = 1; w < THREADS / 32; ++w) v = is_max ? fmaxf(v, scratch[w]) : v + scratch[w];
  return v;
}

template <typename T> __global__ void __launch_bounds__(THREADS) softmax(const T* S, T* P, float* LSE, Shape s) {
  extern __shared__ float row[];  // N floats, then THREADS/32 scratch
  float* scratch = row + s.N;
  const int r = blockIdx.x, bh = blockIdx.y, live = s.causal ? r + 1 : s.N;
  const T* src = S + ((size_t)bh * s.N + r) * s.N;
  T* dst = P + ((size_t)bh * s.N + r) * s.N;
  float m = -FLT_MAX;
  for (int c = threadIdx.x; c < s.N; c += THREADS) {
    const float v = Elem<T>::to_float(ldcg(src + c));
    row[c] = v;
    if (c < live) m = fmaxf(m, v);
  }
  m = block_reduce(m, true, scratch);
  float sum = 0.f;
  for (int c = threadIdx.x; c < s.N; c += THREADS) {
    const float e = c < live ? __expf(row[c] - m) : 0.f;
    row[c] = e;
    sum += e;
  }
  sum = block_reduce(sum, false, scratch);
  for (int c = threadIdx.x; c < s.N; c += THREADS) dst[c] = Elem<T>::from_float(row[c] / sum);
  if (threadIdx.x == 0) LSE[(size_t)bh * s.N + r] = m + logf(sum);
}

template <typename T> __global__ void __launch_bounds__(THREADS) pv(const T* P, const T* V, T* O, Shape s) {
  extern __shared__ __align__(16) char smem[];
  float* sO = reinterpret_cast<float*>(smem);
  T* sV = reinterpret_cast<T*>(sO + BR * s.D);
  T* sP = sV + BC * s.D;
  const int i = blockIdx.x, bh = blockIdx.y, r0 = i * BR, rows = min(BR, s.N - r0);
  const T* v = V + (size_t)bh * s.N * s.D;
  for (int e = threadIdx.x; e < rows * s.D; e += THREADS) sO[e] = 0.f;
  for (int c0 = 0; c0 < s.N; c0 += BC) {
    const int cols = min(BC, s.N - c0);
    __syncthreads();
    for (int e = threadIdx.x; e < rows * cols; e += THREADS) {
      const int r = e / cols, c = e % cols;
      sP[r * BC + c] = ldcg(P + ((size_t)bh * s.N + r0 + r) * s.N + c0 + c);
    }
    copy_tile_cg(sV, s.D, v + (size_t)c0 * s.D, cols, s.D, THREADS);
    __syncthreads();
    for (int e = threadIdx.x; e < rows * s.D; e += THREADS) {
      const int r = e / s.D, d = e % s.D;
      float acc = sO[e];
      for (int c = 0; c < cols; ++c) acc += Elem<T>::to_float(sP[r * BC + c]) * Elem<T>::to_float(sV[c * s.D + d]);
      sO[e] = acc;
    }
  }
  __syncthreads();
  for (int e = threadIdx.x; e < rows * s.D; e += THREADS)
    O[((size_t)bh * s.N + r0) * s.D + e] = Elem<T>::from_float(sO[e]);
}

// Scratch: S and P, N*N elements each per (batch, head).
template <typename T> void run(const T* Q, const T* K, const T* V, T* O, float* LSE, T* S, T* P, Shape s) {
  const dim3 tiles((s.N + BR - 1) / BR, s.B * s.H), rows(s.N, s.B * s.H);
  const size_t s1 = (size_t)(BR + BC) * (s.D + 2) * sizeof(T), s2 = (s.N + THREADS / 32) * sizeof(float);
  const size_t s3 = BR * s.D * sizeof(float) + (size_t)BC * s.D * sizeof(T) + BR * BC * sizeof(T);
  CK(cudaFuncSetAttribute(scores<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s1));
  CK(cudaFuncSetAttribute(softmax<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s2));
  CK(cudaFuncSetAttribute(pv<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s3));
  scores<T><<<tiles, THREADS, s1>>>(Q, K, S, s);
  softmax<T><<<rows, THREADS, s2>>>(S, P, LSE, s);
  pv<T><<<tiles, THREADS, s3>>>(P, V, O, s);
  CK(cudaGetLastError());
}
}  // namespace standard
