// FlashAttention-2 forward (Dao 2023, Algorithm 1) as iosim's `fa2` schedule runs it: one thread
// block per row tile Q_i (BR = 128 rows) and (batch, head); the inner loop streams K_j, V_j tiles
// (BC rows, below) through shared memory; O_i, l_i, m_i stay in registers and O_i and LSE_i are
// written once. Split-Q: each of the 4 warps owns 32 rows of Q_i (two m16 MMA rows, which share
// every K and V fragment it loads) and reads all of K_j and V_j. Tensor cores through mma.sync
// m16n8k16 (fp16 or bf16 in, fp32 accumulate); P is rounded to the input type before the PV
// product, as in FlashAttention. Causal: column tiles past the diagonal are never loaded.
// Shared-memory rows are padded by 16 bytes so ldmatrix is conflict-free for any D that is a
// multiple of 16.
//
// Pipeline (FlashAttention-2's): one K buffer and one V buffer. V_j is copied while S = Q K_j^T
// and the softmax run; K_{j+1} while O += P V_j runs. Against a two-stage ring of K/V pairs this
// halves the shared memory per column tile, so the larger tiles fit twice per SM with L1 room
// left for the copies in flight (with the ring, 64-row tiles at D = 128 left L1 too small and
// Nsight Compute measured 6% of the tiles fetched twice from L2).
#pragma once
#include "common.cuh"
#include <cfloat>
#include <cstdint>

namespace fa2 {
constexpr int WARPS = 4, MI = 2, BR = 16 * MI * WARPS, THREADS = 32 * WARPS;
// Column tile rows at D <= 64 and above; Q fragments in registers (D <= 64 only: at larger D the
// O accumulators need them). Macros so Benchmarks/gpu experiments can build variants; the
// defaults are the recorded kernel and the tiles iosim is given (Backends/CUDA/traffic_csv.py).
#ifndef FA2_BC_SMALL_D
#define FA2_BC_SMALL_D 64
#endif
#ifndef FA2_BC_LARGE_D
#define FA2_BC_LARGE_D 64
#endif
#ifndef FA2_Q_IN_REGS
#define FA2_Q_IN_REGS 1
#endif
__host__ __device__ constexpr int bc_for(int d) { return d > 64 ? FA2_BC_LARGE_D : FA2_BC_SMALL_D; }

// Mma, ex2, ldmatrix and cp.async: common.cuh (shared with standard.cuh and fa1.cuh).

// Copies a ROWS x D tile whose first row is row0 of rows_total. When the block's threads cover
// whole rows (D = 64, 128), each thread copies one 16-byte column chunk of every STEP-th row: its
// addresses are computed once and the rest are constant offsets. Nsight Compute showed the
// general loop's per-chunk division and 64-bit address arithmetic as a tenth of the kernel's
// instructions.
template <typename T, int D, int ROWS>
__device__ __forceinline__ void load_tile(T* dst, const T* src, int row0, int rows_total) {
  constexpr int LD = D + 8, CHUNKS = D / 8;
  if constexpr (THREADS % CHUNKS == 0 && ROWS % (THREADS / CHUNKS) == 0) {
    constexpr int STEP = THREADS / CHUNKS;
    const int r = threadIdx.x / CHUNKS, c = (threadIdx.x % CHUNKS) * 8;
    T* d = dst + r * LD + c;
    const T* g = src + r * D + c;
#pragma unroll
    for (int it = 0; it < ROWS / STEP; ++it) {
      const bool valid = row0 + r + it * STEP < rows_total;
      cp_async16(d + it * STEP * LD, valid ? g + it * STEP * D : src, valid);
    }
  } else {
#pragma unroll
    for (int e = threadIdx.x; e < ROWS * CHUNKS; e += THREADS) {
      const int r = e / CHUNKS, c = (e % CHUNKS) * 8;
      const bool valid = row0 + r < rows_total;
      cp_async16(dst + r * LD + c, src + (size_t)(valid ? r : 0) * D + c, valid);
    }
  }
}

// Blocks per SM the register budget is sized for: two (up to 255 registers). At D = 64 three
// blocks (170 registers) spill and ran 12-19% slower on the H100 (Reports/gpu/fa2_variants.txt).
#ifndef FA2_D64_BLOCKS_PER_SM
#define FA2_D64_BLOCKS_PER_SM 2
#endif

template <typename T, int D>
__global__ void __launch_bounds__(THREADS, D <= 64 ? FA2_D64_BLOCKS_PER_SM : 2) forward(const T* Q, const T* K, const T* V, T* O, float* LSE, Shape s) {
  constexpr int BC = bc_for(D), LD = D + 8, KSTEPS = D / 16, NT_S = BC / 8, NT_O = D / 8;
  constexpr bool Q_IN_REGS = FA2_Q_IN_REGS && D <= 64;
  extern __shared__ __align__(16) char smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + BR * LD;
  T* sV = sK + BC * LD;
  const int tr = (s.N + BR - 1) / BR, tc = (s.N + BC - 1) / BC;
  const int i = s.causal ? tr - 1 - blockIdx.x : blockIdx.x;  // heavy causal tiles first
  const int bh = blockIdx.y, r0 = i * BR;
  const size_t base = (size_t)bh * s.N;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row_end = min(s.N, r0 + BR);
  const int jn = s.causal ? min(tc, (row_end - 1) / BC + 1) : tc;

  load_tile<T, D, BR>(sQ, Q + (base + r0) * D, r0, s.N);
  load_tile<T, D, BC>(sK, K + base * D, 0, s.N);
  cp_commit();

  uint32_t qf[Q_IN_REGS ? MI : 1][Q_IN_REGS ? KSTEPS : 1][4];
  float o[MI][NT_O][4];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int n = 0; n < NT_O; ++n) o[mi][n][0] = o[mi][n][1] = o[mi][n][2] = o[mi][n][3] = 0.f;
  float m[MI][2], l[MI][2];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi) m[mi][0] = m[mi][1] = -FLT_MAX, l[mi][0] = l[mi][1] = 0.f;
  const float sl2 = s.scale * 1.4426950408889634f;  // scores in log2 units
  const int wrow = warp * 16 * MI;                  // this warp's first row in the tile

  for (int j = 0; j < jn; ++j) {
    cp_wait<0>();
    __syncthreads();  // K_j (and Q) landed; every warp is past P V_{j-1}, so V's buffer is free
    load_tile<T, D, BC>(sV, V + (base + j * BC) * D, j * BC, s.N);
    cp_commit();
    if (Q_IN_REGS && j == 0) {
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int kk = 0; kk < KSTEPS; ++kk)
          ldmatrix_x4(qf[Q_IN_REGS ? mi : 0][Q_IN_REGS ? kk : 0], sQ + (wrow + mi * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
    }
    float sc[MI][NT_S][4];
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
      for (int n = 0; n < NT_S; ++n) sc[mi][n][0] = sc[mi][n][1] = sc[mi][n][2] = sc[mi][n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk) {
      uint32_t a[MI][4];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        if (Q_IN_REGS) {
#pragma unroll
          for (int x = 0; x < 4; ++x) a[mi][x] = qf[Q_IN_REGS ? mi : 0][Q_IN_REGS ? kk : 0][x];
        } else {
          ldmatrix_x4(a[mi], sQ + (wrow + mi * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
        }
      }
#pragma unroll
      for (int n = 0; n < NT_S; n += 2) {
        uint32_t b[4];
        const int mat = lane / 8;
        ldmatrix_x4(b, sK + ((n + mat / 2) * 8 + lane % 8) * LD + kk * 16 + (mat % 2) * 8);
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          Mma<T>::run(sc[mi][n], a[mi], b);
          Mma<T>::run(sc[mi][n + 1], a[mi], b + 2);
        }
      }
    }
    // Masks only where a tile crosses the end of K or the diagonal, in one branch around the
    // whole tile: tested per score, the compiler predicated the test into every tile (Nsight
    // Compute: a fifth of the executed instructions were mask compares, selects and predicate
    // moves).
    if ((j + 1) * BC > s.N || (s.causal && (j + 1) * BC - 1 > r0 + wrow)) {
#pragma unroll
      for (int mi = 0; mi < MI; ++mi)
#pragma unroll
        for (int n = 0; n < NT_S; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int col = j * BC + n * 8 + (lane % 4) * 2 + (e & 1);
            const int row = r0 + wrow + mi * 16 + lane / 4 + (e >> 1) * 8;
            if (col >= s.N || (s.causal && col > row)) sc[mi][n][e] = -FLT_MAX;
          }
    }
#pragma unroll
    for (int mi = 0; mi < MI; ++mi) {
      float mt[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
      for (int n = 0; n < NT_S; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) mt[e >> 1] = fmaxf(mt[e >> 1], sc[mi][n][e]);
      float alpha[2], rs[2] = {0.f, 0.f}, mn[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 1));
        mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 2));
        mn[h] = fmaxf(m[mi][h], mt[h] == -FLT_MAX ? -FLT_MAX : mt[h] * sl2);
        alpha[h] = m[mi][h] == -FLT_MAX ? 0.f : ex2(m[mi][h] - mn[h]);
        m[mi][h] = mn[h];
        if (mn[h] == -FLT_MAX) mn[h] = 0.f;  // nothing live yet: masked scores still map to 0
      }
#pragma unroll
      for (int n = 0; n < NT_S; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int h = e >> 1;
          const float p = ex2(fmaf(sc[mi][n][e], sl2, -mn[h]));  // masked (-FLT_MAX) scores give 0
          sc[mi][n][e] = p;
          rs[h] += p;
        }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        rs[h] += __shfl_xor_sync(0xffffffff, rs[h], 1);
        rs[h] += __shfl_xor_sync(0xffffffff, rs[h], 2);
        l[mi][h] = alpha[h] * l[mi][h] + rs[h];
      }
#pragma unroll
      for (int n = 0; n < NT_O; ++n) {
        o[mi][n][0] *= alpha[0]; o[mi][n][1] *= alpha[0];
        o[mi][n][2] *= alpha[1]; o[mi][n][3] *= alpha[1];
      }
    }
    cp_wait<0>();
    __syncthreads();  // V_j landed; every warp is past Q K_j^T, so K's buffer is free
    if (j + 1 < jn) {
      load_tile<T, D, BC>(sK, K + (base + (j + 1) * BC) * D, (j + 1) * BC, s.N);
      cp_commit();
    }
    // O += P V: P from the score accumulators (rounded to T), V through ldmatrix.trans.
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      uint32_t a[MI][4];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) {
        a[mi][0] = Mma<T>::pack(sc[mi][2 * kk][0], sc[mi][2 * kk][1]);
        a[mi][1] = Mma<T>::pack(sc[mi][2 * kk][2], sc[mi][2 * kk][3]);
        a[mi][2] = Mma<T>::pack(sc[mi][2 * kk + 1][0], sc[mi][2 * kk + 1][1]);
        a[mi][3] = Mma<T>::pack(sc[mi][2 * kk + 1][2], sc[mi][2 * kk + 1][3]);
      }
#pragma unroll
      for (int n = 0; n < NT_O; n += 2) {
        uint32_t b[4];
        const int mat = lane / 8;
        ldmatrix_x4_trans(b, sV + (kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (n + mat / 2) * 8);
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          Mma<T>::run(o[mi][n], a[mi], b);
          Mma<T>::run(o[mi][n + 1], a[mi], b + 2);
        }
      }
    }
  }
  // Epilogue: O /= l, LSE = (m + log2 l) * ln 2.
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = r0 + wrow + mi * 16 + lane / 4 + h * 8;
      if (row >= s.N) continue;
      const float inv = l[mi][h] > 0.f ? 1.f / l[mi][h] : 0.f;
      T* dst = O + (base + row) * D + (lane % 4) * 2;
#pragma unroll
      for (int n = 0; n < NT_O; ++n) {
        dst[n * 8] = Elem<T>::from_float(o[mi][n][2 * h] * inv);
        dst[n * 8 + 1] = Elem<T>::from_float(o[mi][n][2 * h + 1] * inv);
      }
      if (lane % 4 == 0) LSE[base + row] = l[mi][h] > 0.f ? (m[mi][h] + log2f(l[mi][h])) * 0.6931471805599453f : -INFINITY;
    }
}

template <typename T, int D> void launch(const T* Q, const T* K, const T* V, T* O, float* LSE, Shape s) {
  constexpr int BC = bc_for(D);
  const size_t bytes = (size_t)(BR + 2 * BC) * (D + 8) * sizeof(T);
  CK(cudaFuncSetAttribute(forward<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  forward<T, D><<<dim3((s.N + BR - 1) / BR, s.B * s.H), THREADS, bytes>>>(Q, K, V, O, LSE, s);
  CK(cudaGetLastError());
}

template <typename T> void run(const T* Q, const T* K, const T* V, T* O, float* LSE, Shape s) {
  switch (s.D) {
    case 64: launch<T, 64>(Q, K, V, O, LSE, s); break;
    case 80: launch<T, 80>(Q, K, V, O, LSE, s); break;
    case 128: launch<T, 128>(Q, K, V, O, LSE, s); break;
    default: fprintf(stderr, "fa2: d = %d is not built (64, 80, 128)\n", s.D); exit(2);
  }
}
}  // namespace fa2
