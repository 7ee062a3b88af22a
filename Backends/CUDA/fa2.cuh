// FlashAttention-2 forward (Dao 2023, Algorithm 1) as iosim's `fa2` schedule runs it: one thread
// block per row tile Q_i (BR = 128 rows) and (batch, head); the inner loop streams K_j, V_j tiles
// (BC = 64 rows) through a two-stage cp.async pipeline; O_i, l_i, m_i stay in registers and O_i
// and LSE_i are written once. Split-Q: each of the 8 warps owns 16 rows of Q_i and reads all of
// K_j and V_j. Tensor cores through mma.sync m16n8k16 (fp16 or bf16 in, fp32 accumulate); P is
// rounded to the input type before the PV product, as in FlashAttention. Causal: column tiles past
// the diagonal are never loaded. Shared-memory rows are padded by 16 bytes so ldmatrix is
// conflict-free for any D that is a multiple of 16.
#pragma once
#include "common.cuh"
#include <cfloat>
#include <cstdint>

namespace fa2 {
constexpr int BR = 128, BC = 64, WARPS = 8, THREADS = 32 * WARPS;

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

__device__ __forceinline__ uint32_t smem_addr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(smem_addr(p)));
}

// 16 bytes global -> shared, through L2 only; rows past N are zero-filled without a read.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

template <typename T, int D>
__device__ __forceinline__ void load_tile(T* dst, const T* src, int row0, int rows_total, int rows) {
  constexpr int LD = D + 8, CHUNKS = D / 8;
  for (int e = threadIdx.x; e < rows * CHUNKS; e += THREADS) {
    const int r = e / CHUNKS, c = (e % CHUNKS) * 8;
    const bool valid = row0 + r < rows_total;
    cp_async16(dst + r * LD + c, src + (size_t)(valid ? r : 0) * D + c, valid);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(THREADS, 1) forward(const T* Q, const T* K, const T* V, T* O, float* LSE, Shape s) {
  constexpr int LD = D + 8, KSTEPS = D / 16, NT_S = BC / 8, NT_O = D / 8;
  extern __shared__ __align__(16) char smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + BR * LD;      // two stages
  T* sV = sK + 2 * BC * LD;  // two stages
  const int tr = (s.N + BR - 1) / BR, tc = (s.N + BC - 1) / BC;
  const int i = s.causal ? tr - 1 - blockIdx.x : blockIdx.x;  // heavy causal tiles first
  const int bh = blockIdx.y, r0 = i * BR;
  const size_t base = (size_t)bh * s.N;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row_end = min(s.N, r0 + BR);
  const int jn = s.causal ? min(tc, (row_end - 1) / BC + 1) : tc;

  load_tile<T, D>(sQ, Q + (base + r0) * D, r0, s.N, BR);
  load_tile<T, D>(sK, K + base * D, 0, s.N, BC);
  load_tile<T, D>(sV, V + base * D, 0, s.N, BC);
  cp_commit();

  uint32_t qf[KSTEPS][4];
  float o[NT_O][4];
#pragma unroll
  for (int n = 0; n < NT_O; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {-FLT_MAX, -FLT_MAX}, l[2] = {0.f, 0.f};
  const float sl2 = s.scale * 1.4426950408889634f;  // scores in log2 units
  const int qrow = r0 + warp * 16 + lane / 4;       // this thread's rows: qrow and qrow + 8

  for (int j = 0; j < jn; ++j) {
    if (j + 1 < jn) {
      const int st = (j + 1) & 1;
      load_tile<T, D>(sK + st * BC * LD, K + (base + (j + 1) * BC) * D, (j + 1) * BC, s.N, BC);
      load_tile<T, D>(sV + st * BC * LD, V + (base + (j + 1) * BC) * D, (j + 1) * BC, s.N, BC);
    }
    cp_commit();
    cp_wait<1>();
    __syncthreads();
    if (j == 0) {
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk)
        ldmatrix_x4(qf[kk], sQ + (warp * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
    }
    const T* k = sK + (j & 1) * BC * LD;
    const T* v = sV + (j & 1) * BC * LD;
    float sc[NT_S][4];
#pragma unroll
    for (int n = 0; n < NT_S; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk) {
#pragma unroll
      for (int n = 0; n < NT_S; n += 2) {
        uint32_t b[4];
        const int mat = lane / 8;
        ldmatrix_x4(b, k + ((n + mat / 2) * 8 + lane % 8) * LD + kk * 16 + (mat % 2) * 8);
        Mma<T>::run(sc[n], qf[kk], b);
        Mma<T>::run(sc[n + 1], qf[kk], b + 2);
      }
    }
    // Online softmax on this thread's two rows.
    float mt[2] = {-FLT_MAX, -FLT_MAX};
#pragma unroll
    for (int n = 0; n < NT_S; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = j * BC + n * 8 + (lane % 4) * 2 + (e & 1), row = qrow + (e >> 1) * 8;
        const bool dead = col >= s.N || (s.causal && col > row);
        sc[n][e] = dead ? -FLT_MAX : sc[n][e] * sl2;
        mt[e >> 1] = fmaxf(mt[e >> 1], sc[n][e]);
      }
    float alpha[2], rs[2] = {0.f, 0.f};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 1));
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 2));
      const float mn = fmaxf(m[h], mt[h]);
      alpha[h] = m[h] == -FLT_MAX ? 0.f : exp2f(m[h] - mn);
      m[h] = mn;
    }
#pragma unroll
    for (int n = 0; n < NT_S; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int h = e >> 1;
        const float p = sc[n][e] == -FLT_MAX ? 0.f : exp2f(sc[n][e] - m[h]);
        sc[n][e] = p;
        rs[h] += p;
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      rs[h] += __shfl_xor_sync(0xffffffff, rs[h], 1);
      rs[h] += __shfl_xor_sync(0xffffffff, rs[h], 2);
      l[h] = alpha[h] * l[h] + rs[h];
    }
#pragma unroll
    for (int n = 0; n < NT_O; ++n) {
      o[n][0] *= alpha[0]; o[n][1] *= alpha[0];
      o[n][2] *= alpha[1]; o[n][3] *= alpha[1];
    }
    // O += P V: P from the score accumulators (rounded to T), V through ldmatrix.trans.
#pragma unroll
    for (int kk = 0; kk < BC / 16; ++kk) {
      uint32_t a[4] = {Mma<T>::pack(sc[2 * kk][0], sc[2 * kk][1]), Mma<T>::pack(sc[2 * kk][2], sc[2 * kk][3]),
                       Mma<T>::pack(sc[2 * kk + 1][0], sc[2 * kk + 1][1]), Mma<T>::pack(sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
#pragma unroll
      for (int n = 0; n < NT_O; n += 2) {
        uint32_t b[4];
        const int mat = lane / 8;
        ldmatrix_x4_trans(b, v + (kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (n + mat / 2) * 8);
        Mma<T>::run(o[n], a, b);
        Mma<T>::run(o[n + 1], a, b + 2);
      }
    }
    __syncthreads();
  }
  // Epilogue: O /= l, LSE = (m + log2 l) * ln 2.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = qrow + h * 8;
    if (row >= s.N) continue;
    const float inv = l[h] > 0.f ? 1.f / l[h] : 0.f;
    T* dst = O + (base + row) * D + (lane % 4) * 2;
#pragma unroll
    for (int n = 0; n < NT_O; ++n) {
      dst[n * 8] = Elem<T>::from_float(o[n][2 * h] * inv);
      dst[n * 8 + 1] = Elem<T>::from_float(o[n][2 * h + 1] * inv);
    }
    if (lane % 4 == 0) LSE[base + row] = l[h] > 0.f ? (m[h] + log2f(l[h])) * 0.6931471805599453f : -INFINITY;
  }
}

template <typename T, int D> void launch(const T* Q, const T* K, const T* V, T* O, float* LSE, Shape s) {
  const size_t bytes = (size_t)(BR + 4 * BC) * (D + 8) * sizeof(T);
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
