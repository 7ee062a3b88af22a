// FlashAttention forward, Algorithm 1 of Dao et al. 2022, as iosim's `fa1` schedule runs it: one
// thread block per (batch, head), as the FA1 kernel parallelises; the outer loop over K/V column
// tiles K_j, V_j (loaded once), the inner loop over row tiles Q_i. The running O_i (fp32), l_i and
// m_i live in global memory: initialised there (line 2), read and written back for every live
// tile pair; the last live pair of a row tile writes the finished O_i in the dtype. Causal: fully
// masked pairs are skipped. CUDA cores, fp32 math.
#pragma once
#include "common.cuh"
#include <cfloat>

namespace fa1 {
constexpr int BR = 64, BC = 64, THREADS = 256;

template <typename T>
__global__ void __launch_bounds__(THREADS) forward(const T* Q, const T* K, const T* V, T* O, float* Oacc, float* L,
                                                   float* M, Shape s) {
  extern __shared__ __align__(16) char smem[];
  float* sO = reinterpret_cast<float*>(smem);  // BR x D
  float* sS = sO + BR * s.D;                    // BR x BC
  float* sm = sS + BR * BC;                     // running m, l, and this pair's rescale factors
  float* sl = sm + BR;
  float* alpha = sl + BR;
  float* beta = alpha + BR;
  const int ld = s.D + 2;  // odd word stride: conflict-free column access
  T* sQ = reinterpret_cast<T*>(beta + BR);
  T* sK = sQ + BR * ld;
  T* sV = sK + BC * ld;
  const int bh = blockIdx.x, tr = (s.N + BR - 1) / BR, tc = (s.N + BC - 1) / BC;
  const size_t base = (size_t)bh * s.N;
  // Line 2: O = 0, l = 0, m = -inf in global memory.
  for (size_t e = threadIdx.x; e < (size_t)s.N * s.D; e += THREADS) Oacc[base * s.D + e] = 0.f;
  for (int r = threadIdx.x; r < s.N; r += THREADS) { L[base + r] = 0.f; M[base + r] = -FLT_MAX; }
  __syncthreads();
  for (int j = 0; j < tc; ++j) {
    const int c0 = j * BC, cols = min(BC, s.N - c0);
    const int first = s.causal ? c0 / BR : 0;
    __syncthreads();
    copy_tile_cg(sK, ld, K + (base + c0) * s.D, cols, s.D, THREADS);
    copy_tile_cg(sV, ld, V + (base + c0) * s.D, cols, s.D, THREADS);
    for (int i = first; i < tr; ++i) {
      const int r0 = i * BR, rows = min(BR, s.N - r0);
      const int last = s.causal ? min(tc - 1, (r0 + rows - 1) / BC) : tc - 1;
      __syncthreads();
      copy_tile_cg(sQ, ld, Q + (base + r0) * s.D, rows, s.D, THREADS);
      for (int r = threadIdx.x; r < rows; r += THREADS) {
        sm[r] = __ldcg(M + base + r0 + r);
        sl[r] = __ldcg(L + base + r0 + r);
      }
      for (int e = threadIdx.x; e < rows * s.D / 4; e += THREADS)
        reinterpret_cast<float4*>(sO)[e] = __ldcg(reinterpret_cast<const float4*>(Oacc + (base + r0) * s.D) + e);
      __syncthreads();
      for (int e = threadIdx.x; e < rows * cols; e += THREADS) {
        const int r = e / cols, c = e % cols;
        float acc = 0.f;
        for (int d = 0; d < s.D; ++d) acc += Elem<T>::to_float(sQ[r * ld + d]) * Elem<T>::to_float(sK[c * ld + d]);
        sS[r * BC + c] = (s.causal && c0 + c > r0 + r) ? -FLT_MAX : acc * s.scale;
      }
      __syncthreads();
      for (int r = threadIdx.x; r < rows; r += THREADS) {  // lines 10-11: tile statistics, new m and l
        float mt = -FLT_MAX, lt = 0.f;
        for (int c = 0; c < cols; ++c) mt = fmaxf(mt, sS[r * BC + c]);
        for (int c = 0; c < cols; ++c) {
          const float p = sS[r * BC + c] == -FLT_MAX ? 0.f : __expf(sS[r * BC + c] - mt);
          sS[r * BC + c] = p;
          lt += p;
        }
        const float m = sm[r], l = sl[r], mn = fmaxf(m, mt);
        const float a = l > 0.f ? __expf(m - mn) : 0.f, b = lt > 0.f ? __expf(mt - mn) : 0.f;
        const float ln = a * l + b * lt;
        alpha[r] = ln > 0.f ? a * l / ln : 1.f;
        beta[r] = ln > 0.f ? b / ln : 0.f;
        if (ln > 0.f) { sm[r] = mn; sl[r] = ln; }
      }
      __syncthreads();
      for (int e = threadIdx.x; e < rows * s.D; e += THREADS) {  // line 12
        const int r = e / s.D, d = e % s.D;
        float pv = 0.f;
        for (int c = 0; c < cols; ++c) pv += sS[r * BC + c] * Elem<T>::to_float(sV[c * ld + d]);
        const float o = alpha[r] * sO[e] + beta[r] * pv;
        if (j == last) O[(base + r0) * s.D + e] = Elem<T>::from_float(o);
        else Oacc[(base + r0) * s.D + e] = o;
      }
      for (int r = threadIdx.x; r < rows; r += THREADS) { M[base + r0 + r] = sm[r]; L[base + r0 + r] = sl[r]; }
    }
  }
}

// Scratch: Oacc (fp32, B*H*N*D), L and M (fp32, B*H*N). LSE = M + log(L) afterwards.
template <typename T>
void run(const T* Q, const T* K, const T* V, T* O, float* Oacc, float* L, float* M, Shape s) {
  const size_t bytes = ((size_t)BR * s.D + BR * BC + 4 * BR) * sizeof(float) + (size_t)(BR + 2 * BC) * (s.D + 2) * sizeof(T);
  CK(cudaFuncSetAttribute(forward<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  forward<T><<<s.B * s.H, THREADS, bytes>>>(Q, K, V, O, Oacc, L, M, s);
  CK(cudaGetLastError());
}
}  // namespace fa1
