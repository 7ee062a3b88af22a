// FlashAttention forward, Algorithm 1 of Dao et al. 2022, as iosim's `fa1` schedule runs it, on
// tensor cores (mma.sync m16n8k16, fp32 accumulate). As the FA1 kernel: one thread block per
// (batch, head); the outer loop over K/V column tiles K_j, V_j (BC = 128 rows, loaded once, the
// next pair copied by cp.async while this one is used), the inner loop over row tiles Q_i of
// BR = 16 rows (FA1's kernel steps through Q 16 rows at a time). The running O_i (fp32), l_i, m_i
// live in global memory: initialised there (line 2), read and written back for every live pair
// (i, j); the last live pair of a row tile writes the finished O_i in the dtype instead. Causal:
// fully masked pairs are skipped.
//
// Work split: the CTA's 8 warps take the live row tiles of K_j round-robin (tile i to warp
// i mod 8, the same warp for every j, so O_i, l_i, m_i are only touched by one warp); each warp
// computes its pair's S_ij = Q_i K_j^T (16 x BC), the softmax update and P~ V_j on its own, with
// one barrier per column tile. (FA1's kernel instead splits K_j's columns over 4 warps and
// combines their partial O_i in shared memory; the global traffic is the same.) The O_i, l_i,
// m_i and Q_i loads are L2-only (ld.global.cg): O_i goes straight into the MMA accumulator
// layout, 32 bytes per row per 8 columns, every sector fully used; Q_i through the warp's
// shared-memory slot into ldmatrix. Every byte read crosses L2 -> SM exactly once per pair.
// O_i is kept normalised (line 12: diag(l_new)^-1 (diag(l) e^{m - m_new} O_i + e^{m~ - m_new} P~ V_j)),
// P rounded to the dtype before P V as in FlashAttention.
#pragma once
#include "common.cuh"
#include <cfloat>

namespace fa1 {
constexpr int WARPS = 8, THREADS = 32 * WARPS, BR = 16, BC = 128;

template <typename T, int D>
__global__ void __launch_bounds__(THREADS, 1) forward(const T* Q, const T* K, const T* V, T* O, float* Oacc, float* L,
                                                      float* M, Shape s) {
  constexpr int LD = D + 8, KSTEPS = D / 16, NT_S = BC / 8, NT_O = D / 8, QCH = D / 8;
  extern __shared__ __align__(16) char smem[];
  T* sK = reinterpret_cast<T*>(smem);  // two buffers of BC x LD
  T* sV = sK + 2 * BC * LD;            // two buffers of BC x LD
  const int bh = blockIdx.x, tr = (s.N + BR - 1) / BR, tc = (s.N + BC - 1) / BC;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  T* sQ = sV + 2 * BC * LD + warp * BR * LD;  // this warp's Q_i slot
  const size_t base = (size_t)bh * s.N;
  float* oacc = Oacc + base * D;
  float* Lh = L + base;
  float* Mh = M + base;
  const float sl2 = s.scale * 1.4426950408889634f;  // scores in log2 units
  constexpr float LN2 = 0.6931471805599453f, LOG2E = 1.4426950408889634f;

  // Line 2: O = 0 (fp32), l = 0, m = -inf in global memory, each warp for its own row tiles.
  for (int i = warp; i < tr; i += WARPS) {
    const int r0 = i * BR, rows = min(BR, s.N - r0);
    float4* o4 = reinterpret_cast<float4*>(oacc + (size_t)r0 * D);
    for (int e = lane; e < rows * D / 4; e += 32) o4[e] = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int r = lane; r < rows; r += 32) { Lh[r0 + r] = 0.f; Mh[r0 + r] = -INFINITY; }
  }
  __syncwarp();

  auto load_kv = [&](int j) {
    const int c0 = j * BC;
    cp_tile<T, THREADS, D, BC, LD>(sK + (j & 1) * BC * LD, K + (base + c0) * D, D, s.N - c0, D);
    cp_tile<T, THREADS, D, BC, LD>(sV + (j & 1) * BC * LD, V + (base + c0) * D, D, s.N - c0, D);
  };
  load_kv(0);
  cp_commit();
  for (int j = 0; j < tc; ++j) {
    if (j + 1 < tc) load_kv(j + 1);
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    const T* cK = sK + (j & 1) * BC * LD;
    const T* cV = sV + (j & 1) * BC * LD;
    const int c0 = j * BC;
    const int first = s.causal ? c0 / BR : 0;  // first live row tile (BR divides BC)
    for (int i = first + ((warp - first) % WARPS + WARPS) % WARPS; i < tr; i += WARPS) {
      const int r0 = i * BR, rows = min(BR, s.N - r0);
      const int last = s.causal ? min(tc - 1, (r0 + rows - 1) / BC) : tc - 1;
      const int rowA = r0 + lane / 4, rowB = rowA + 8;
      // Loads of the pair: Q_i (16 x D, dtype), O_i (fp32, accumulator layout), l_i, m_i.
      uint4 qv[BR * QCH / 32];
#pragma unroll
      for (int it = 0; it < BR * QCH / 32; ++it) {
        const int e = lane + it * 32, r = e / QCH, c = (e % QCH) * 8;
        qv[it] = r < rows ? __ldcg(reinterpret_cast<const uint4*>(Q + (base + r0 + r) * D + c)) : make_uint4(0, 0, 0, 0);
      }
      float o[NT_O][4];
#pragma unroll
      for (int n = 0; n < NT_O; ++n) {
        const int col = n * 8 + (lane % 4) * 2;
        float2 x = rowA < s.N ? __ldcg(reinterpret_cast<const float2*>(oacc + (size_t)rowA * D + col)) : make_float2(0.f, 0.f);
        float2 y = rowB < s.N ? __ldcg(reinterpret_cast<const float2*>(oacc + (size_t)rowB * D + col)) : make_float2(0.f, 0.f);
        o[n][0] = x.x; o[n][1] = x.y; o[n][2] = y.x; o[n][3] = y.y;
      }
      float mo[2], lo[2];
      mo[0] = rowA < s.N ? __ldcg(Mh + rowA) : -INFINITY;
      mo[1] = rowB < s.N ? __ldcg(Mh + rowB) : -INFINITY;
      lo[0] = rowA < s.N ? __ldcg(Lh + rowA) : 0.f;
      lo[1] = rowB < s.N ? __ldcg(Lh + rowB) : 0.f;
#pragma unroll
      for (int it = 0; it < BR * QCH / 32; ++it) {
        const int e = lane + it * 32, r = e / QCH, c = (e % QCH) * 8;
        *reinterpret_cast<uint4*>(sQ + r * LD + c) = qv[it];
      }
      __syncwarp();
      // S = Q_i K_j^T (16 x BC).
      float sc[NT_S][4];
#pragma unroll
      for (int n = 0; n < NT_S; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk) {
        uint32_t a[4];
        ldmatrix_x4(a, sQ + (lane % 16) * LD + kk * 16 + (lane / 16) * 8);
#pragma unroll
        for (int n = 0; n < NT_S; n += 2) {
          uint32_t b[4];
          const int mat = lane / 8;
          ldmatrix_x4(b, cK + ((n + mat / 2) * 8 + lane % 8) * LD + kk * 16 + (mat % 2) * 8);
          Mma<T>::run(sc[n], a, b);
          Mma<T>::run(sc[n + 1], a, b + 2);
        }
      }
      // Mask past the end of K and above the diagonal, only in tiles that cross them.
      if (c0 + BC > s.N || (s.causal && c0 + BC - 1 > r0)) {
#pragma unroll
        for (int n = 0; n < NT_S; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int col = c0 + n * 8 + (lane % 4) * 2 + (e & 1), row = e < 2 ? rowA : rowB;
            if (col >= s.N || (s.causal && col > row)) sc[n][e] = -INFINITY;
          }
      }
      // Lines 10-11: tile max, new max m_new, P = exp(S - m_new), l_new = e^{m - m_new} l + rowsum(P).
      float alpha[2], mn[2], rs[2] = {0.f, 0.f}, msafe[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float mt = -INFINITY;
#pragma unroll
        for (int n = 0; n < NT_S; ++n) mt = fmaxf(mt, fmaxf(sc[n][2 * h], sc[n][2 * h + 1]));
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffff, mt, 1));
        mt = fmaxf(mt, __shfl_xor_sync(0xffffffff, mt, 2));
        const float mo2 = mo[h] * LOG2E;
        mn[h] = fmaxf(mo2, mt * sl2);
        msafe[h] = mn[h] == -INFINITY ? 0.f : mn[h];
        alpha[h] = mo2 == -INFINITY ? 0.f : ex2(mo2 - msafe[h]);
      }
#pragma unroll
      for (int n = 0; n < NT_S; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int h = e >> 1;
          const float p = ex2(fmaf(sc[n][e], sl2, -msafe[h]));  // -inf scores give 0
          sc[n][e] = p;
          rs[h] += p;
        }
      float ln[2], scale_o[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        rs[h] += __shfl_xor_sync(0xffffffff, rs[h], 1);
        rs[h] += __shfl_xor_sync(0xffffffff, rs[h], 2);
        ln[h] = alpha[h] * lo[h] + rs[h];
        scale_o[h] = alpha[h] * lo[h];
      }
      // Line 12: O_i = (l e^{m - m_new} O_i + P V_j) / l_new.
#pragma unroll
      for (int n = 0; n < NT_O; ++n) {
        o[n][0] *= scale_o[0]; o[n][1] *= scale_o[0];
        o[n][2] *= scale_o[1]; o[n][3] *= scale_o[1];
      }
#pragma unroll
      for (int kk = 0; kk < BC / 16; ++kk) {
        uint32_t a[4];
        a[0] = Mma<T>::pack(sc[2 * kk][0], sc[2 * kk][1]);
        a[1] = Mma<T>::pack(sc[2 * kk][2], sc[2 * kk][3]);
        a[2] = Mma<T>::pack(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
        a[3] = Mma<T>::pack(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
#pragma unroll
        for (int n = 0; n < NT_O; n += 2) {
          uint32_t b[4];
          const int mat = lane / 8;
          ldmatrix_x4_trans(b, cV + (kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (n + mat / 2) * 8);
          Mma<T>::run(o[n], a, b);
          Mma<T>::run(o[n + 1], a, b + 2);
        }
      }
      const float inv[2] = {ln[0] > 0.f ? 1.f / ln[0] : 0.f, ln[1] > 0.f ? 1.f / ln[1] : 0.f};
      // Line 13: write O_i (fp32 running value, or the finished O_i in the dtype), l_i, m_i.
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = h ? rowB : rowA;
        if (row >= s.N) continue;
#pragma unroll
        for (int n = 0; n < NT_O; ++n) {
          const int col = n * 8 + (lane % 4) * 2;
          const float x = o[n][2 * h] * inv[h], y = o[n][2 * h + 1] * inv[h];
          if (j == last) *reinterpret_cast<uint32_t*>(O + (base + row) * D + col) = Mma<T>::pack(x, y);
          else __stcg(reinterpret_cast<float2*>(oacc + (size_t)row * D + col), make_float2(x, y));
        }
        if (lane % 4 == 0) {
          __stcg(Lh + row, ln[h]);
          __stcg(Mh + row, mn[h] == -INFINITY ? -INFINITY : mn[h] * LN2);
        }
      }
      __syncwarp();  // the Q slot is free; l_i, m_i written before any lane reads them again
    }
    __syncthreads();  // every warp is done with this K/V buffer before it is refilled
  }
}

template <typename T, int D>
void launch(const T* Q, const T* K, const T* V, T* O, float* Oacc, float* L, float* M, Shape s) {
  const size_t bytes = (size_t)(4 * BC + WARPS * BR) * (D + 8) * sizeof(T);
  CK(cudaFuncSetAttribute(forward<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  forward<T, D><<<s.B * s.H, THREADS, bytes>>>(Q, K, V, O, Oacc, L, M, s);
  CK(cudaGetLastError());
}

// Scratch: Oacc (fp32, B*H*N*D), L and M (fp32, B*H*N). LSE = M + log(L) afterwards.
template <typename T>
void run(const T* Q, const T* K, const T* V, T* O, float* Oacc, float* L, float* M, Shape s) {
  switch (s.D) {
    case 64: launch<T, 64>(Q, K, V, O, Oacc, L, M, s); break;
    case 80: launch<T, 80>(Q, K, V, O, Oacc, L, M, s); break;
    case 128: launch<T, 128>(Q, K, V, O, Oacc, L, M, s); break;
    default: fprintf(stderr, "fa1: d = %d is not built (64, 80, 128)\n", s.D); exit(2);
  }
}
}  // namespace fa1
