// Standard attention (FlashAttention paper, Algorithm 0) as three kernels, as iosim's `standard`
// schedule runs it, the two matrix products on tensor cores (mma.sync m16n8k16, fp32 accumulate):
// 1. scores: S = scale * Q K^T, one CTA per row tile Q_i (BR = 128 rows, 4 warps of 32 rows, Q_i
//    resident in shared memory), K_j tiles (BC = 64 rows) streamed through a two-stage cp.async
//    ring; each S tile is rounded to the dtype, staged in shared memory and written to global
//    memory with coalesced 16-byte stores.
// 2. softmax: one CTA per row of S (128 threads), the row read once (16-byte L2-only loads, all
//    issued before the first use) and kept in registers, P written in the dtype; LSE from the
//    row's max and sum.
// 3. pv: O = P V, one CTA per row tile (BR = 128), P tiles (BR x BC) and V_j tiles (BC x d)
//    streamed through a two-stage cp.async ring, O_i accumulated in registers, written once.
// Every tile is computed even when causal; the mask is applied in the softmax (P = 0 above the
// diagonal). S and P rows are ld_s(N) = N rounded up to 8 elements apart (16-byte aligned rows for
// ragged N; no padding at N % 8 == 0, so the traffic at N = 4096 is exactly the schedule's).
#pragma once
#include "common.cuh"
#include <cfloat>

namespace standard {
constexpr int WARPS = 4, MI = 2, BR = 16 * MI * WARPS, BC = 64, THREADS = 32 * WARPS;
constexpr int SM_THREADS = 128, SM_CHUNKS = 16;  // softmax: 16 chunks of 8 per thread, N <= 16384

__host__ __device__ inline int ld_s(int n) { return (n + 7) / 8 * 8; }

template <typename T, int D>
__global__ void __launch_bounds__(THREADS, 2) scores(const T* Q, const T* K, T* S, Shape s) {
  constexpr int LD = D + 8, LS = BC + 8, KSTEPS = D / 16, NT = BC / 8;
  extern __shared__ __align__(16) char smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + BR * LD;      // two buffers of BC x LD
  T* sS = sK + 2 * BC * LD;  // the S tile, BR x LS
  const int i = blockIdx.x, bh = blockIdx.y, r0 = i * BR, ldS = ld_s(s.N), tc = (s.N + BC - 1) / BC;
  const size_t base = (size_t)bh * s.N;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wrow = warp * 16 * MI;
  T* out = S + base * ldS;
  cp_tile<T, THREADS, D, BR, LD>(sQ, Q + (base + r0) * D, D, s.N - r0, D);
  cp_tile<T, THREADS, D, BC, LD>(sK, K + base * D, D, s.N, D);
  cp_commit();
  for (int j = 0; j < tc; ++j) {
    if (j + 1 < tc) cp_tile<T, THREADS, D, BC, LD>(sK + ((j + 1) & 1) * BC * LD, K + (base + (j + 1) * BC) * D, D, s.N - (j + 1) * BC, D);
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    const T* cur = sK + (j & 1) * BC * LD;
    float sc[MI][NT][4];
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
      for (int n = 0; n < NT; ++n) sc[mi][n][0] = sc[mi][n][1] = sc[mi][n][2] = sc[mi][n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk) {
      uint32_t a[MI][4];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) ldmatrix_x4(a[mi], sQ + (wrow + mi * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int n = 0; n < NT; n += 2) {
        uint32_t b[4];
        const int mat = lane / 8;
        ldmatrix_x4(b, cur + ((n + mat / 2) * 8 + lane % 8) * LD + kk * 16 + (mat % 2) * 8);
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          Mma<T>::run(sc[mi][n], a[mi], b);
          Mma<T>::run(sc[mi][n + 1], a[mi], b + 2);
        }
      }
    }
    // The S tile goes through shared memory so that it is written with coalesced 16-byte stores
    // (Nsight Compute: written straight from the accumulators, 16 bytes per row per instruction,
    // the kernel was bound by L2 throughput at half the DRAM bandwidth).
#pragma unroll
    for (int mi = 0; mi < MI; ++mi)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = wrow + mi * 16 + lane / 4 + h * 8;
#pragma unroll
        for (int n = 0; n < NT; ++n)
          *reinterpret_cast<uint32_t*>(sS + r * LS + n * 8 + (lane % 4) * 2) =
              Mma<T>::pack(sc[mi][n][2 * h] * s.scale, sc[mi][n][2 * h + 1] * s.scale);
      }
    __syncthreads();
#pragma unroll
    for (int e = threadIdx.x; e < BR * BC / 8; e += THREADS) {
      const int r = e / (BC / 8), c = (e % (BC / 8)) * 8, row = r0 + r, col = j * BC + c;
      if (row < s.N && col < ldS)  // ldS is a multiple of 8: a chunk is wholly in or out
        *reinterpret_cast<uint4*>(out + (size_t)row * ldS + col) = *reinterpret_cast<const uint4*>(sS + r * LS + c);
    }
    __syncthreads();  // every warp is done with this buffer before it is refilled
  }
}

__device__ __forceinline__ float block_reduce(float v, bool is_max, float* scratch) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffff, v, o);
    v = is_max ? fmaxf(v, w) : v + w;
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
  __syncthreads();
  v = scratch[0];
#pragma unroll
  for (int w = 1; w < SM_THREADS / 32; ++w) v = is_max ? fmaxf(v, scratch[w]) : v + scratch[w];
  return v;
}

// One CTA per row: the row of S (ld_s(N) elements, columns past N and, when causal, past the
// diagonal masked) is read once into registers, P written once.
template <typename T, int CH> __global__ void __launch_bounds__(SM_THREADS) softmax(const T* S, T* P, float* LSE, Shape s) {
  __shared__ float scratch[SM_THREADS / 32];
  const int r = blockIdx.x, bh = blockIdx.y, ldS = ld_s(s.N), chunks = ldS / 8;
  const int live = s.causal ? min(r + 1, s.N) : s.N;
  const size_t off = ((size_t)bh * s.N + r) * ldS;
  const uint4* src = reinterpret_cast<const uint4*>(S + off);
  uint4* dst = reinterpret_cast<uint4*>(P + off);
  constexpr float LOG2E = 1.4426950408889634f;
  uint4 v[CH];  // CH chunks of 8 per thread, all loads issued before the first use
#pragma unroll
  for (int k = 0; k < CH; ++k) {
    const int c = threadIdx.x + k * SM_THREADS;
    if (c < chunks) v[k] = __ldcg(src + c);
  }
  float m = -FLT_MAX;
#pragma unroll
  for (int k = 0; k < CH; ++k) {
    const int c = threadIdx.x + k * SM_THREADS;
    if (c < chunks) {
      const uint32_t w[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
#pragma unroll
      for (int x = 0; x < 4; ++x) {
        const float2 f = unpack2<T>(w[x]);
        if (c * 8 + 2 * x < live) m = fmaxf(m, f.x);
        if (c * 8 + 2 * x + 1 < live) m = fmaxf(m, f.y);
      }
    }
  }
  m = block_reduce(m, true, scratch);
  const float ml2 = m * LOG2E;
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < CH; ++k) {
    const int c = threadIdx.x + k * SM_THREADS;
    if (c < chunks) {
      const uint32_t w[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
#pragma unroll
      for (int x = 0; x < 4; ++x) {
        const float2 f = unpack2<T>(w[x]);
        if (c * 8 + 2 * x < live) sum += ex2(fmaf(f.x, LOG2E, -ml2));
        if (c * 8 + 2 * x + 1 < live) sum += ex2(fmaf(f.y, LOG2E, -ml2));
      }
    }
  }
  sum = block_reduce(sum, false, scratch);
  const float inv = 1.f / sum;
#pragma unroll
  for (int k = 0; k < CH; ++k) {
    const int c = threadIdx.x + k * SM_THREADS;
    if (c < chunks) {
      const uint32_t w[4] = {v[k].x, v[k].y, v[k].z, v[k].w};
      uint32_t p[4];
#pragma unroll
      for (int x = 0; x < 4; ++x) {
        const float2 f = unpack2<T>(w[x]);
        const float p0 = c * 8 + 2 * x < live ? ex2(fmaf(f.x, LOG2E, -ml2)) * inv : 0.f;
        const float p1 = c * 8 + 2 * x + 1 < live ? ex2(fmaf(f.y, LOG2E, -ml2)) * inv : 0.f;
        p[x] = Mma<T>::pack(p0, p1);
      }
      dst[c] = make_uint4(p[0], p[1], p[2], p[3]);
    }
  }
  if (threadIdx.x == 0) LSE[(size_t)bh * s.N + r] = m + logf(sum);
}

template <typename T, int D>
__global__ void __launch_bounds__(THREADS, 2) pv(const T* P, const T* V, T* O, Shape s) {
  constexpr int LD = D + 8, LP = BC + 8, NT_O = D / 8;
  extern __shared__ __align__(16) char smem[];
  T* sP = reinterpret_cast<T*>(smem);  // two buffers of BR x LP
  T* sV = sP + 2 * BR * LP;            // two buffers of BC x LD
  const int i = blockIdx.x, bh = blockIdx.y, r0 = i * BR, ldS = ld_s(s.N), tc = (s.N + BC - 1) / BC;
  const size_t base = (size_t)bh * s.N;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wrow = warp * 16 * MI;
  const T* prow = P + (base + r0) * ldS;
  auto load = [&](int j) {
    cp_tile<T, THREADS, BC, BR, LP>(sP + (j & 1) * BR * LP, prow + j * BC, ldS, s.N - r0, ldS - j * BC);
    cp_tile<T, THREADS, D, BC, LD>(sV + (j & 1) * BC * LD, V + (base + j * BC) * D, D, s.N - j * BC, D);
  };
  float o[MI][NT_O][4];
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int n = 0; n < NT_O; ++n) o[mi][n][0] = o[mi][n][1] = o[mi][n][2] = o[mi][n][3] = 0.f;
  load(0);
  cp_commit();
  for (int j = 0; j < tc; ++j) {
    if (j + 1 < tc) load(j + 1);
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    const T* cp = sP + (j & 1) * BR * LP;
    const T* cv = sV + (j & 1) * BC * LD;
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      uint32_t a[MI][4];
#pragma unroll
      for (int mi = 0; mi < MI; ++mi) ldmatrix_x4(a[mi], cp + (wrow + mi * 16 + lane % 16) * LP + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int n = 0; n < NT_O; n += 2) {
        uint32_t b[4];
        const int mat = lane / 8;
        ldmatrix_x4_trans(b, cv + (kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (n + mat / 2) * 8);
#pragma unroll
        for (int mi = 0; mi < MI; ++mi) {
          Mma<T>::run(o[mi][n], a[mi], b);
          Mma<T>::run(o[mi][n + 1], a[mi], b + 2);
        }
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int mi = 0; mi < MI; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = r0 + wrow + mi * 16 + lane / 4 + h * 8;
      if (row >= s.N) continue;
      T* dst = O + (base + row) * D + (lane % 4) * 2;
#pragma unroll
      for (int n = 0; n < NT_O; ++n)
        *reinterpret_cast<uint32_t*>(dst + n * 8) = Mma<T>::pack(o[mi][n][2 * h], o[mi][n][2 * h + 1]);
    }
}

template <typename T, int D> void launch(const T* Q, const T* K, const T* V, T* O, float* LSE, T* S, T* P, Shape s) {
  const dim3 tiles((s.N + BR - 1) / BR, s.B * s.H), rows(s.N, s.B * s.H);
  const size_t s1 = ((size_t)(BR + 2 * BC) * (D + 8) + BR * (BC + 8)) * sizeof(T);
  const size_t s3 = (size_t)(2 * BR * (BC + 8) + 2 * BC * (D + 8)) * sizeof(T);
  CK(cudaFuncSetAttribute(scores<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s1));
  CK(cudaFuncSetAttribute(pv<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)s3));
  scores<T, D><<<tiles, THREADS, s1>>>(Q, K, S, s);
  CK(cudaGetLastError());
  const int ch = (ld_s(s.N) / 8 + SM_THREADS - 1) / SM_THREADS;  // chunks per thread, registers sized to the row
  if (ch <= 1) softmax<T, 1><<<rows, SM_THREADS>>>(S, P, LSE, s);
  else if (ch <= 2) softmax<T, 2><<<rows, SM_THREADS>>>(S, P, LSE, s);
  else if (ch <= 4) softmax<T, 4><<<rows, SM_THREADS>>>(S, P, LSE, s);
  else if (ch <= 8) softmax<T, 8><<<rows, SM_THREADS>>>(S, P, LSE, s);
  else softmax<T, SM_CHUNKS><<<rows, SM_THREADS>>>(S, P, LSE, s);
  CK(cudaGetLastError());
  pv<T, D><<<tiles, THREADS, s3>>>(P, V, O, s);
  CK(cudaGetLastError());
}

// Scratch: S and P, N * ld_s(N) elements each per (batch, head).
template <typename T> void run(const T* Q, const T* K, const T* V, T* O, float* LSE, T* S, T* P, Shape s) {
  if (ld_s(s.N) > 8 * SM_THREADS * SM_CHUNKS) { fprintf(stderr, "standard: N = %d > %d (a row of S must fit the softmax's registers)\n", s.N, 8 * SM_THREADS * SM_CHUNKS); exit(2); }
  switch (s.D) {
    case 64: launch<T, 64>(Q, K, V, O, LSE, S, P, s); break;
    case 80: launch<T, 80>(Q, K, V, O, LSE, S, P, s); break;
    case 128: launch<T, 128>(Q, K, V, O, LSE, S, P, s); break;
    default: fprintf(stderr, "standard: d = %d is not built (64, 80, 128)\n", s.D); exit(2);
  }
}
}  // namespace standard
