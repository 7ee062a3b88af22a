// FlashAttention-2 backward as its implementation runs it (the `seqk_parallel` kernels; iosim's
// `--pass backward --schedule fa2`, docs/counting-rules.md §8a), three launches:
//   preprocess  a CTA per row tile (BR rows) and (batch, head): loads O_i, dO_i once, writes
//               D_i = rowsum(dO_i * O_i) (fp32) and zeros to the fp32 dQ accumulator;
//   main        a CTA per column tile j (BC rows of K, V) and (batch, head): loads K_j, V_j once,
//               then per live row tile i loads Q_i, dO_i (dtype), LSE_i, D_i (fp32) and computes
//               S, P = exp(S - LSE), dP = dO V^T, dS = P * (dP - D) on tensor cores, dV_j += P^T dO_i,
//               dK_j += dS^T Q_i in registers, and adds dQ_i += dS K_j into the accumulator with fp32
//               reductions (red.global.add, docs/counting-rules.md: writes, never reads); finally writes dK_j
//               (times the softmax scale) and dV_j in the dtype;
//   convert     a CTA per row tile: dQ = scale * accumulator, in the dtype.
// Tiles BR x BC = 64 x 128 at every d (PyTorch's FA2 backward takes 64 x 128 at d = 128 and
// 128 x 128 at d = 64: the main kernel's reads depend only on BC, Reports/gpu/README.md), 8 warps.
//
// Warp layout of the main kernel: warp w owns rows 16w..16w+15 of the column tile. It computes
// S^T = K_j Q_i^T and dP^T = V_j dO_i^T for its 16 K/V rows against all BR rows of Q_i (so the
// accumulators of P^T and dS^T are already the A operands of dV += P^T dO and dK += dS^T Q, as P
// is for P V in the forward), and keeps its 16 rows of dK_j, dV_j in fp32 registers. dS^T goes
// through shared memory (in the dtype) for dQ_i = dS K_j, which every warp computes for 16 rows of
// Q_i and half of d. P stays fp32 in dS = P * (dP - D) and is rounded to the dtype for the dV
// product, dS for the dK and dQ products, as FlashAttention-2 does (BaselineBackward's model).
//
// Loads: 16-byte cp.async.ca (counted once crossing L2->SM, Reports/gpu/README.md "Traffic"),
// consecutive threads on consecutive chunks of a row; rows past N are zero-filled without a read;
// LSE_i and D_i with 4-byte cp.async (rows of LSE start at any multiple of 4 bytes for ragged N).
// Q_i, dO_i, LSE_i, D_i are double-buffered: tile i+1 is copied while tile i is computed. Causal
// (top-left, as the forward): row tiles whose last row is before the column tile's first column
// are skipped; tiles crossing the diagonal or the end of the sequence are masked in one branch.
#pragma once
#include "common.cuh"
#include <cstdint>

namespace fa2_bwd {
constexpr int WARPS = 8, THREADS = 32 * WARPS, BR = 64, BC = 128;
constexpr float LOG2E = 1.4426950408889634f;

__device__ __forceinline__ void cp_async4(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 4 : 0));
}

__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(smem_addr(p)));
}

// dQ accumulator += (a, b) at p (8-byte aligned): one vector reduction on sm_90, two below.
__device__ __forceinline__ void red_add2(float* p, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};\n" ::"l"(p), "f"(a), "f"(b) : "memory");
#else
  atomicAdd(p, a);
  atomicAdd(p + 1, b);
#endif
}

// Copies ROWS x D (global rows D apart, first row row0 of rows_total) into shared rows D + 8 apart.
// When the threads cover whole rows, each thread's addresses are computed once (fa2.cuh's
// finding: the general loop's divisions were a tenth of the forward's instructions).
template <typename T, int D, int ROWS>
__device__ __forceinline__ void load_tile(T* dst, const T* src, int row0, int rows_total) {
  constexpr int LD = D + 8, CHUNKS = D / 8;
  if constexpr (THREADS % CHUNKS == 0 && ROWS % (THREADS / CHUNKS) == 0) {
    constexpr int STEP = THREADS / CHUNKS;
    const int r = threadIdx.x / CHUNKS, c = (threadIdx.x % CHUNKS) * 8;
#pragma unroll
    for (int it = 0; it < ROWS / STEP; ++it) {
      const bool valid = row0 + r + it * STEP < rows_total;
      cp_async16(dst + (r + it * STEP) * LD + c, valid ? src + (size_t)(r + it * STEP) * D + c : src, valid);
    }
  } else {
    for (int e = threadIdx.x; e < ROWS * CHUNKS; e += THREADS) {
      const int r = e / CHUNKS, c = (e % CHUNKS) * 8;
      const bool valid = row0 + r < rows_total;
      cp_async16(dst + r * LD + c, valid ? src + (size_t)r * D + c : src, valid);
    }
  }
}

// Row tile i's Q, dO (dtype) and LSE, D (fp32) into buffer `buf`.
template <typename T, int D>
__device__ __forceinline__ void load_row_tile(T* sQ, T* sdO, float* sL, float* sD, const T* Q, const T* dO, const float* LSE,
                                              const float* Dl, size_t base, int i, int N) {
  const int r0 = i * BR;
  load_tile<T, D, BR>(sQ, Q + (base + r0) * D, r0, N);
  load_tile<T, D, BR>(sdO, dO + (base + r0) * D, r0, N);
  if (threadIdx.x < 2 * BR) {
    const int r = threadIdx.x % BR;
    const bool valid = r0 + r < N;
    const float* src = threadIdx.x < BR ? LSE : Dl;
    cp_async4((threadIdx.x < BR ? sL : sD) + r, src + base + (valid ? r0 + r : 0), valid);
  }
}

// Shared memory of the main kernel: K_j, V_j; two buffers of Q_i, dO_i; dS^T; two of LSE_i, D_i.
template <typename T, int D> constexpr size_t main_smem() {
  return (size_t)(2 * BC * (D + 8) + 4 * BR * (D + 8) + BC * (BR + 8)) * sizeof(T) + 4 * BR * sizeof(float);
}

// CTAs per SM the d = 64 register budget is sized for: one (245 registers, no spills). Two fit in
// shared memory but cap registers at 128 (440 bytes spilled) and ran 1.23x slower on the H100 at
// N = 4096 (Benchmarks/gpu/fa2_bwd_check.sh, -DFA2_BWD_D64_BLOCKS=2).
#ifndef FA2_BWD_D64_BLOCKS
#define FA2_BWD_D64_BLOCKS 1
#endif

template <typename T, int D>
__global__ void __launch_bounds__(THREADS, D <= 64 ? FA2_BWD_D64_BLOCKS : 1)
    main_kernel(const T* Q, const T* K, const T* V, const T* dO, const float* LSE, const float* Dl, float* dQacc, T* dK, T* dV, Shape s) {
  constexpr int LD = D + 8, LDS = BR + 8, KSTEPS = D / 16, NT_R = BR / 8, NT_D = D / 8, NT_Q = NT_D / 2;
  extern __shared__ __align__(16) char smem[];
  T* sK = reinterpret_cast<T*>(smem);
  T* sV = sK + BC * LD;
  T* sQ = sV + BC * LD;       // [2][BR][LD]
  T* sdO = sQ + 2 * BR * LD;  // [2][BR][LD]
  T* sdS = sdO + 2 * BR * LD; // [BC][LDS], dS^T
  float* sL = reinterpret_cast<float*>(sdS + BC * LDS);  // [2][BR]
  float* sD = sL + 2 * BR;                               // [2][BR]
  const int j = blockIdx.x, bh = blockIdx.y, c0 = j * BC, N = s.N;
  const size_t base = (size_t)bh * N;
  const int tr = (N + BR - 1) / BR, i0 = s.causal ? c0 / BR : 0;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wc = warp * 16, mat = lane / 8;
  const float sl2 = s.scale * LOG2E;

  float dk[NT_D][4], dv[NT_D][4];
#pragma unroll
  for (int n = 0; n < NT_D; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[n][e] = dv[n][e] = 0.f;

  if (i0 < tr) {
    load_tile<T, D, BC>(sK, K + (base + c0) * D, c0, N);
    load_tile<T, D, BC>(sV, V + (base + c0) * D, c0, N);
    load_row_tile<T, D>(sQ, sdO, sL, sD, Q, dO, LSE, Dl, base, i0, N);
    cp_commit();
  }
  for (int i = i0; i < tr; ++i) {
    const int b = (i - i0) & 1, r0 = i * BR;
    cp_wait<0>();
    __syncthreads();  // tile i landed; every warp is past pair i-1 (its dS^T and buffer are free)
    if (i + 1 < tr) {
      load_row_tile<T, D>(sQ + (b ^ 1) * BR * LD, sdO + (b ^ 1) * BR * LD, sL + (b ^ 1) * BR, sD + (b ^ 1) * BR, Q, dO, LSE, Dl, base,
                          i + 1, N);
      cp_commit();
    }
    const T* q = sQ + b * BR * LD;
    const T* g = sdO + b * BR * LD;
    // S^T = K_w Q_i^T and dP^T = V_w dO_i^T (16 x BR each per warp).
    float st[NT_R][4], dp[NT_R][4];
#pragma unroll
    for (int n = 0; n < NT_R; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[n][e] = dp[n][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk) {
      uint32_t a[4], av[4];
      ldmatrix_x4(a, sK + (wc + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
      ldmatrix_x4(av, sV + (wc + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int n = 0; n < NT_R; n += 2) {
        uint32_t bq[4], bg[4];
        ldmatrix_x4(bq, q + ((n + mat / 2) * 8 + lane % 8) * LD + kk * 16 + (mat % 2) * 8);
        ldmatrix_x4(bg, g + ((n + mat / 2) * 8 + lane % 8) * LD + kk * 16 + (mat % 2) * 8);
        Mma<T>::run(st[n], a, bq);
        Mma<T>::run(st[n + 1], a, bq + 2);
        Mma<T>::run(dp[n], av, bg);
        Mma<T>::run(dp[n + 1], av, bg + 2);
      }
    }
    // P^T = exp(S^T - LSE) (element e: K row wc + lane/4 + 8(e/2), Q row (lane%4)*2 + e%2 of n-tile n).
    const float* L = sL + b * BR;
    const float* Dv = sD + b * BR;
#pragma unroll
    for (int n = 0; n < NT_R; ++n) {
      const float2 l = *reinterpret_cast<const float2*>(L + n * 8 + (lane % 4) * 2);
      const float lx = l.x * LOG2E, ly = l.y * LOG2E;
      st[n][0] = ex2(fmaf(st[n][0], sl2, -lx));
      st[n][1] = ex2(fmaf(st[n][1], sl2, -ly));
      st[n][2] = ex2(fmaf(st[n][2], sl2, -lx));
      st[n][3] = ex2(fmaf(st[n][3], sl2, -ly));
    }
    // Masks only where the tile crosses the diagonal or the end of the sequence (one branch per
    // warp; a score masked here gets P = 0 whatever LSE or the zero-filled rows hold).
    if (r0 + BR > N || c0 + BC > N || (s.causal && c0 + wc + 15 > r0)) {
#pragma unroll
      for (int n = 0; n < NT_R; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int row = r0 + n * 8 + (lane % 4) * 2 + (e & 1);   // query row
          const int col = c0 + wc + lane / 4 + (e >> 1) * 8;       // key row
          if (row >= N || col >= N || (s.causal && col > row)) st[n][e] = 0.f;
        }
    }
    // dS^T = P^T * (dP^T - D) (P in fp32).
#pragma unroll
    for (int n = 0; n < NT_R; ++n) {
      const float2 dd = *reinterpret_cast<const float2*>(Dv + n * 8 + (lane % 4) * 2);
      dp[n][0] = st[n][0] * (dp[n][0] - dd.x);
      dp[n][1] = st[n][1] * (dp[n][1] - dd.y);
      dp[n][2] = st[n][2] * (dp[n][2] - dd.x);
      dp[n][3] = st[n][3] * (dp[n][3] - dd.y);
    }
    // dV_w += P^T dO_i and dK_w += dS^T Q_i: A from the accumulators (rounded to T), B through
    // ldmatrix.trans (dO_i and Q_i are k-major here).
#pragma unroll
    for (int kk = 0; kk < BR / 16; ++kk) {
      uint32_t ap[4], as[4];
      ap[0] = Mma<T>::pack(st[2 * kk][0], st[2 * kk][1]);
      ap[1] = Mma<T>::pack(st[2 * kk][2], st[2 * kk][3]);
      ap[2] = Mma<T>::pack(st[2 * kk + 1][0], st[2 * kk + 1][1]);
      ap[3] = Mma<T>::pack(st[2 * kk + 1][2], st[2 * kk + 1][3]);
      as[0] = Mma<T>::pack(dp[2 * kk][0], dp[2 * kk][1]);
      as[1] = Mma<T>::pack(dp[2 * kk][2], dp[2 * kk][3]);
      as[2] = Mma<T>::pack(dp[2 * kk + 1][0], dp[2 * kk + 1][1]);
      as[3] = Mma<T>::pack(dp[2 * kk + 1][2], dp[2 * kk + 1][3]);
      // dS^T to shared memory for dQ (4-byte stores; rows LDS = BR + 8 apart: conflict-free).
      T* ds = sdS + (wc + lane / 4) * LDS + kk * 16 + (lane % 4) * 2;
      *reinterpret_cast<uint32_t*>(ds) = as[0];
      *reinterpret_cast<uint32_t*>(ds + 8 * LDS) = as[1];
      *reinterpret_cast<uint32_t*>(ds + 8) = as[2];
      *reinterpret_cast<uint32_t*>(ds + 8 * LDS + 8) = as[3];
#pragma unroll
      for (int n = 0; n < NT_D; n += 2) {
        uint32_t bg[4], bq[4];
        ldmatrix_x4_trans(bg, g + (kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (n + mat / 2) * 8);
        ldmatrix_x4_trans(bq, q + (kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (n + mat / 2) * 8);
        Mma<T>::run(dv[n], ap, bg);
        Mma<T>::run(dv[n + 1], ap, bg + 2);
        Mma<T>::run(dk[n], as, bq);
        Mma<T>::run(dk[n + 1], as, bq + 2);
      }
    }
    __syncthreads();  // dS^T complete
    // dQ_i (rows m0..m0+15, n-tiles nb..nb+NT_Q-1) = dS K_j, added to the accumulator.
    {
      const int m0 = (warp % 4) * 16, nb = (warp / 4) * NT_Q;
      float dq[NT_Q][4];
#pragma unroll
      for (int n = 0; n < NT_Q; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) dq[n][e] = 0.f;
#pragma unroll
      for (int kk = 0; kk < BC / 16; ++kk) {
        uint32_t a[4];
        ldmatrix_x4_trans(a, sdS + (kk * 16 + (mat / 2) * 8 + lane % 8) * LDS + m0 + (mat % 2) * 8);
#pragma unroll
        for (int n = 0; n + 1 < NT_Q; n += 2) {
          uint32_t bk[4];
          ldmatrix_x4_trans(bk, sK + (kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (nb + n + mat / 2) * 8);
          Mma<T>::run(dq[n], a, bk);
          Mma<T>::run(dq[n + 1], a, bk + 2);
        }
        if constexpr (NT_Q % 2) {
          uint32_t bk[2];
          ldmatrix_x2_trans(bk, sK + (kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (nb + NT_Q - 1) * 8);
          Mma<T>::run(dq[NT_Q - 1], a, bk);
        }
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = r0 + m0 + lane / 4 + h * 8;
        if (row < N) {
          float* dst = dQacc + (base + row) * D + nb * 8 + (lane % 4) * 2;
#pragma unroll
          for (int n = 0; n < NT_Q; ++n) red_add2(dst + n * 8, dq[n][2 * h], dq[n][2 * h + 1]);
        }
      }
    }
  }
  // dK_j (times the scale) and dV_j in the dtype, staged in K's and V's buffers for 16-byte stores.
  __syncthreads();
#pragma unroll
  for (int n = 0; n < NT_D; ++n)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int off = (wc + lane / 4 + h * 8) * LD + n * 8 + (lane % 4) * 2;
      *reinterpret_cast<uint32_t*>(sK + off) = Mma<T>::pack(dk[n][2 * h] * s.scale, dk[n][2 * h + 1] * s.scale);
      *reinterpret_cast<uint32_t*>(sV + off) = Mma<T>::pack(dv[n][2 * h], dv[n][2 * h + 1]);
    }
  __syncthreads();
  constexpr int CHUNKS = D / 8;
  for (int e = threadIdx.x; e < BC * CHUNKS; e += THREADS) {
    const int r = e / CHUNKS, c = (e % CHUNKS) * 8;
    if (c0 + r < N) {
      *reinterpret_cast<uint4*>(dK + (base + c0 + r) * D + c) = *reinterpret_cast<const uint4*>(sK + r * LD + c);
      *reinterpret_cast<uint4*>(dV + (base + c0 + r) * D + c) = *reinterpret_cast<const uint4*>(sV + r * LD + c);
    }
  }
}

// D = rowsum(dO * O) in fp32 and the tile's zeros of the dQ accumulator. CHUNKS lanes share a row
// (16-byte loads, a row's chunks consecutive), reduced with shuffles. D_i is gathered in shared
// memory and stored by consecutive threads: stored from the reducing lanes (4-16 bytes per warp
// instruction) Nsight Compute counted 1.5-2.2% more SM->L2 write bytes than written (partial sectors).
template <typename T, int D>
__global__ void __launch_bounds__(THREADS) preprocess(const T* O, const T* dO, float* Dl, float* dQacc, Shape s) {
  constexpr int CHUNKS = D / 8, GROUP = 32 % CHUNKS == 0 ? CHUNKS : 32, ROWS_PER_WARP = 32 / GROUP;
  __shared__ float sD[BR];
  const int r0 = blockIdx.x * BR, N = s.N, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const size_t base = (size_t)blockIdx.y * N;
  for (int rr = warp * ROWS_PER_WARP; rr < BR; rr += WARPS * ROWS_PER_WARP) {
    const int row = r0 + rr + lane / GROUP, c = lane % GROUP;
    float acc = 0.f;
    if (row < N && c < CHUNKS) {
      const uint4 o = __ldcg(reinterpret_cast<const uint4*>(O + (base + row) * D) + c);
      const uint4 g = __ldcg(reinterpret_cast<const uint4*>(dO + (base + row) * D) + c);
      const uint32_t* ow = reinterpret_cast<const uint32_t*>(&o);
      const uint32_t* gw = reinterpret_cast<const uint32_t*>(&g);
#pragma unroll
      for (int w = 0; w < 4; ++w) {
        const float2 a = unpack2<T>(ow[w]), b = unpack2<T>(gw[w]);
        acc = fmaf(a.x, b.x, fmaf(a.y, b.y, acc));
      }
    }
#pragma unroll
    for (int off = GROUP / 2; off > 0; off /= 2) acc += __shfl_xor_sync(0xffffffff, acc, off);
    if (c == 0) sD[row - r0] = acc;
  }
  const int rows = min(BR, N - r0);
  __syncthreads();
  if (threadIdx.x < rows) Dl[base + r0 + threadIdx.x] = sD[threadIdx.x];
  float4* z = reinterpret_cast<float4*>(dQacc + (base + r0) * D);
  for (int e = threadIdx.x; e < rows * D / 4; e += THREADS) z[e] = make_float4(0.f, 0.f, 0.f, 0.f);
}

// dQ = scale * accumulator, in the dtype (16-byte loads, 8-byte stores).
template <typename T, int D>
__global__ void __launch_bounds__(THREADS) convert(const float* dQacc, T* dQ, Shape s) {
  const int r0 = blockIdx.x * BR, rows = min(BR, s.N - r0);
  const size_t off = ((size_t)blockIdx.y * s.N + r0) * D;
  for (int e = threadIdx.x; e < rows * D / 4; e += THREADS) {
    const float4 x = __ldcg(reinterpret_cast<const float4*>(dQacc + off) + e);
    uint2 y;
    y.x = Mma<T>::pack(x.x * s.scale, x.y * s.scale);
    y.y = Mma<T>::pack(x.z * s.scale, x.w * s.scale);
    reinterpret_cast<uint2*>(dQ + off)[e] = y;
  }
}

template <typename T, int D>
void launch(const T* Q, const T* K, const T* V, const T* O, const T* dO, const float* LSE, float* Dl, float* dQacc, T* dQ, T* dK,
            T* dV, Shape s) {
  const dim3 rows((s.N + BR - 1) / BR, s.B * s.H), cols((s.N + BC - 1) / BC, s.B * s.H);
  constexpr size_t bytes = main_smem<T, D>();
  CK(cudaFuncSetAttribute(main_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  preprocess<T, D><<<rows, THREADS>>>(O, dO, Dl, dQacc, s);
  CK(cudaGetLastError());
  main_kernel<T, D><<<cols, THREADS, bytes>>>(Q, K, V, dO, LSE, Dl, dQacc, dK, dV, s);
  CK(cudaGetLastError());
  convert<T, D><<<rows, THREADS>>>(dQacc, dQ, s);
  CK(cudaGetLastError());
}

// The three launches: Dl (B*H*N fp32) and dQacc (B*H*N*D fp32) are scratch.
template <typename T>
void run(const T* Q, const T* K, const T* V, const T* O, const T* dO, const float* LSE, float* Dl, float* dQacc, T* dQ, T* dK, T* dV,
         Shape s) {
  switch (s.D) {
    case 64: launch<T, 64>(Q, K, V, O, dO, LSE, Dl, dQacc, dQ, dK, dV, s); break;
    case 80: launch<T, 80>(Q, K, V, O, dO, LSE, Dl, dQacc, dQ, dK, dV, s); break;
    case 128: launch<T, 128>(Q, K, V, O, dO, LSE, Dl, dQacc, dQ, dK, dV, s); break;
    default: fprintf(stderr, "fa2-bwd: d = %d is not built (64, 80, 128)\n", s.D); exit(2);
  }
}
}  // namespace fa2_bwd
