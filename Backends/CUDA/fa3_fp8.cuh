// fa3 in fp8 (e4m3), issue 19 item 2: fa3.cuh's FA3-style Hopper forward (sm_90a; producer warpgroup
// + two ping-ponging consumer warpgroups, TMA into an s-stage K/V ring, wgmma, intra-warpgroup
// overlap, persistent grid) with e4m3 Q, K, V and block scales, as iosim's fa3 fp8 data mode has
// them (docs/numerics.md "fp8", IOSim/Analysis/FP8Quantization.swift):
//   - one fp32 scale per tile the schedule loads: Br = 128 rows of Q, Bc = 128 rows of K or of V,
//     per (batch, head); each scale a power of two, 2^ceil(log2(amax/448)), so s * e4m3(x/s) is
//     exact in fp32; per-tensor scaling is the same layout with every scale equal.
//   - S = (Qq Kq^T) * sq_i * sk_j * softmax scale, in fp32 (the scales fold into the log2-domain
//     multiplier of the softmax, as FA3 folds its descales).
//   - softmax in fp32; P = 2^(s - m + 8), i.e. exp(s - m) * 2^8, cast to e4m3 (satfinite, RN)
//     before the PV GEMM: iosim's Precision.roundProbability (without the 2^8 every probability
//     below 2^-10 would flush to zero); the row sum l adds the unrounded P; the 2^8 cancels in O/l
//     and is taken off the LSE.
//   - O += P Vq_j * sv_j: O is kept in units of the current V tile's scale (the per-tile rescale
//     by alpha also multiplies by sv_{j-1}/sv_j, a power of two, so exact), times sv_last / l at
//     the end; O written in bf16 (iosim's output format for fp8), LSE in fp32.
// fp8 wgmma (m64nNk32, e4m3 x e4m3) takes both shared-memory operands K-major, so V enters
// transposed: Vt [B*H, D, NP] (NP = N rounded up to 16, zero columns past N), written by the
// quantization pass (quantize() + transpose_v() below), which reads V once anyway; the attention
// kernel's traffic is fa3's with 1-byte elements. FA3 (Shah et al. 2024, section 3.3) transposes V
// in the kernel instead (LDSM/STSM); that is not done here.
// P as the A operand from registers: the fp8 A fragment of a k32 step gives thread (row g, quad q)
// k = 4q..4q+3 (register 0/1, rows g and g+8) and 16+4q..16+4q+3 (registers 2/3), but the S
// accumulators it holds are columns 2q, 2q+1, 8+2q, 9+2q (and +16). Each register is packed from
// the thread's own accumulators (no shuffles) in that order, so the PV GEMM's k index runs over the
// key positions in the order sigma(kk) = 8*(kk%4 >= 2) + 2*(kk/4) + kk%2 within every 16; Vt's
// columns are stored in the same order (transpose_v), which makes the product exact P V.
// Tiles: Q 128 x D, K 128 x D (row = key, D bytes: 128-byte swizzle at D = 128, 64-byte at D = 64),
// Vt D x 128 (row = a head dimension, 128 key bytes, 128-byte swizzle). The producer also copies
// the two scales of each K/V tile into shared memory before arriving on the tile's K barrier, and
// Q's before Q's barrier (4 bytes per tile load, as iosim counts the `scales` tensor).
#pragma once
#include "fa3.cuh"
#include <cuda_fp8.h>
#include <cmath>
#include <vector>

namespace fa3fp8 {
using fa3::BC;
using fa3::BR;
using fa3::CONSUMERS;
using fa3::THREADS;
#ifndef FP8_STAGES
#define FP8_STAGES 2
#endif
#ifndef FP8_PINGPONG
#define FP8_PINGPONG 1
#endif
// Intra-warpgroup overlap and the persistent grid: 1 on, 0 off, -1 as fa3.cuh's defaults
// (overlap at d = 128, persistent when not causal).
#ifndef FP8_OVERLAP
#define FP8_OVERLAP -1
#endif
#ifndef FP8_PERSISTENT
#define FP8_PERSISTENT -1
#endif
// Independent chains per row for the softmax's row max and row sum (1: fa3.cuh's single chain);
// -1 (default): 2 at d = 128, 1 at d = 64, as measured best on the H100 (Reports/gpu/fa3_fp8_notes.md:
// at d = 128, 2 chains ran 2-3% faster than 1; at d = 64 more chains ran 20% slower).
#ifndef FP8_CHAINS
#define FP8_CHAINS -1
#endif
constexpr int STAGES = FP8_STAGES;

// Key position held at column kk of every 16-column group of Vt (see the header comment).
__host__ __device__ constexpr int sigma(int kk) { return 8 * ((kk % 4) >= 2) + 2 * (kk / 4) + kk % 2; }

// Shared-memory matrix descriptor (K-major, swizzled): `swz` = 1 (128-byte) or 2 (64-byte) in bits
// 62-63; SBO = bytes between 8-row groups (8 rows of 128 or 64 bytes); LBO unused for K-major.
__device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t sbo, uint64_t swz) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | (1ull << 16) | ((uint64_t)(sbo >> 4) << 32) | (swz << 62);
}
// Four floats to four e4m3 bytes (RN, satfinite), x0 in the lowest byte.
__device__ __forceinline__ uint32_t pack4(float x0, float x1, float x2, float x3) {
  uint32_t r;
  asm("{\n.reg .b16 l, h;\ncvt.rn.satfinite.e4m3x2.f32 l, %2, %1;\ncvt.rn.satfinite.e4m3x2.f32 h, %4, %3;\nmov.b32 %0, {l, h};\n}\n"
      : "=r"(r)
      : "f"(x0), "f"(x1), "f"(x2), "f"(x3));
  return r;
}
// ---- generated (a 20-line script, kept in Reports/gpu/fa3_fp8_notes.md): wgmma m64nNk32 e4m3 x e4m3 -> fp32 ----
template <int N> __device__ __forceinline__ void wgmma_ss(float* d, uint64_t da, uint64_t db, int acc);
template <int N> __device__ __forceinline__ void wgmma_rs(float* d, const uint32_t* a, uint64_t db, int acc);
template <> __device__ __forceinline__ void wgmma_ss<128>(float* d, uint64_t da, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs<128>(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}
template <> __device__ __forceinline__ void wgmma_rs<64>(float* d, const uint32_t* a, uint64_t db, int acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc));
}

template <int D> struct Layout {
  static constexpr uint32_t Q_BYTES = BR * D, KV_BYTES = BC * D;  // K tile and Vt tile alike
  static constexpr uint32_t K_OFF = Q_BYTES, V_OFF = K_OFF + STAGES * KV_BYTES, BAR_OFF = V_OFF + STAGES * KV_BYTES;
  static constexpr uint32_t SC_OFF = BAR_OFF + 8 * (2 + 4 * STAGES);  // scales: q, then (k, v) per stage
  static constexpr uint32_t BYTES = SC_OFF + 4 * (1 + 2 * STAGES) + 1024;  // + alignment slack
  static constexpr uint64_t SWZ_QK = D == 128 ? 1 : 2;                      // 128- or 64-byte rows
};

// Inputs in e4m3: q, k [B*H, N, D]; vt [B*H, D, NP] (NP = N rounded up to 16, key positions
// permuted by sigma within each 16); scales [B*H, ceil(N/128)] for Q, K and V row tiles.
struct Inputs {
  const uint8_t *q, *k, *vt;
  const float *sq, *sk, *sv;
};

template <int D>
__global__ void __launch_bounds__(THREADS, 1)
    forward(const __grid_constant__ CUtensorMap tq, const __grid_constant__ CUtensorMap tk, const __grid_constant__ CUtensorMap tv,
            const float* __restrict__ SQ, const float* __restrict__ SK, const float* __restrict__ SV, __nv_bfloat16* __restrict__ O,
            float* __restrict__ LSE, Shape s) {
#if FA3_DEVICE
  using namespace fa3;
  using L = Layout<D>;
  constexpr bool OVERLAP = FP8_OVERLAP < 0 ? D > 64 : FP8_OVERLAP != 0;
  constexpr int CH = FP8_CHAINS < 0 ? (D > 64 ? 2 : 1) : FP8_CHAINS;
  extern __shared__ __align__(1024) char smem_raw[];
  char* base = smem_raw + ((1024 - (smem_addr(smem_raw) & 1023)) & 1023);
  uint8_t* sQ = reinterpret_cast<uint8_t*>(base);
  uint8_t* sK = reinterpret_cast<uint8_t*>(base + L::K_OFF);
  uint8_t* sV = reinterpret_cast<uint8_t*>(base + L::V_OFF);
  uint64_t* bars = reinterpret_cast<uint64_t*>(base + L::BAR_OFF);
  float* scl = reinterpret_cast<float*>(base + L::SC_OFF);  // [0] = Q's, [1 + 2 st] = K's, [2 + 2 st] = V's
  uint64_t *qfull = bars, *qempty = bars + 1, *kfull = bars + 2, *kempty = kfull + STAGES, *vfull = kempty + STAGES,
           *vempty = vfull + STAGES;
  const int n = s.N, tr = (n + BR - 1) / BR, tc = (n + BC - 1) / BC, bh_count = s.B * s.H, ntiles = tr * bh_count;
  const int wg = threadIdx.x / 128;
  if (threadIdx.x == 0) {
    mbar_init(qfull, 1);
    mbar_init(qempty, CONSUMERS * 4);
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
          const float ks = __ldcg(SK + (size_t)bh * tc + j), vs = __ldcg(SV + (size_t)bh * tc + j);
          mbar_wait(kempty + st, ph ^ 1);  // consumers read the stage's scales before releasing K
          scl[1 + 2 * st] = ks, scl[2 + 2 * st] = vs;
          mbar_expect_tx(kfull + st, L::KV_BYTES);  // the arrive releases the scale stores
          tma_load(sK + st * L::KV_BYTES, &tk, kfull + st, 0, j * BC, bh);
          if (j == 0) {
            const float qs = __ldcg(SQ + (size_t)bh * tr + i);
            mbar_wait(qempty, (tl & 1) ^ 1);
            scl[0] = qs;
            mbar_expect_tx(qfull, L::Q_BYTES);
            tma_load(sQ, &tq, qfull, 0, i * BR, bh);
          }
          mbar_wait(vempty + st, ph ^ 1);
          mbar_expect_tx(vfull + st, L::KV_BYTES);
          tma_load(sV + st * L::KV_BYTES, &tv, vfull + st, j * BC, 0, bh);
        }
      }
    }
    return;
  }

  regs_inc<240>();
  const int c = wg - 1, tid = threadIdx.x % 128, warp = tid / 32, lane = tid % 32;
  const uint64_t dq = desc(smem_addr(sQ) + c * 64 * D, 8 * D, L::SWZ_QK);
  const uint64_t dk = desc(smem_addr(sK), 8 * D, L::SWZ_QK);
  const uint64_t dv = desc(smem_addr(sV), 1024, 1);
  auto release = [&](uint64_t* b) {
    __syncwarp();
    if (lane == 0) mbar_arrive(b);
  };
  auto turn_wait = [&] { if (FP8_PINGPONG) bar_sync(1 + c, 256); };
  auto turn_pass = [&] { if (FP8_PINGPONG) bar_arrive(1 + (c ^ 1), 256); };
  if (FP8_PINGPONG && c == 1) bar_arrive(1, 256);

  float sc[BC / 2], o[D / 2];
  uint32_t p[BC / 32][4];
  auto issue_s = [&](int st) {  // S = Q K^T, k32 steps of 32 bytes inside the swizzled row
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < D / 32; ++kk) wgmma_ss<128>(sc, dq + ((kk * 32) >> 4), dk + ((st * L::KV_BYTES + kk * 32) >> 4), kk > 0);
    wg_commit();
  };
  auto issue_pv = [&](int st) {  // O += P Vt^T: P from registers, Vt K-major (keys along its rows)
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < BC / 32; ++kk) wgmma_rs<D>(o, p[kk], dv + ((st * L::KV_BYTES + kk * 32) >> 4), 1);
    wg_commit();
  };
  const int trow = c * 64 + warp * 16 + lane / 4;
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
  float sl2q = 0.f, sl2 = 0.f, vsc = 1.f, vprev = 1.f;  // log2-domain score multipliers; V scales
  // Online softmax (log2 units): P = 2^(s - m + 8) = exp(s - m) * 2^8, row sums of the unrounded P.
  auto softmax = [&] {
    // Row maxima and sums in CH independent chains per row (k = nb * 4 + e: row h = e / 2,
    // chain nb % CH): with the GEMMs twice as fast as in fp16, the softmax's dependent
    // FMNMX/FADD chains (32 long with one chain) sit on the critical path.
    float mc[2][CH];
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int q = 0; q < CH; ++q) mc[h][q] = -INFINITY;
#pragma unroll
    for (int k = 0; k < BC / 2; ++k) mc[(k >> 1) & 1][(k >> 2) % CH] = fmaxf(mc[(k >> 1) & 1][(k >> 2) % CH], sc[k]);
    float mt[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mt[h] = mc[h][0];
#pragma unroll
      for (int q = 1; q < CH; ++q) mt[h] = fmaxf(mt[h], mc[h][q]);
    }
    float off[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 1));
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 2));
      const float mn = fmaxf(m[h], mt[h] * sl2);
      alpha[h] = ex2(m[h] - mn);
      m[h] = mn;
      off[h] = 8.f - (mn == -INFINITY ? 0.f : mn);
    }
    float rc[2][CH];
#pragma unroll
    for (int h = 0; h < 2; ++h)
#pragma unroll
      for (int q = 0; q < CH; ++q) rc[h][q] = 0.f;
#pragma unroll
    for (int k = 0; k < BC / 2; ++k) {
      const int h = (k >> 1) & 1;
      sc[k] = ex2(fmaf(sc[k], sl2, off[h]));
      rc[h][(k >> 2) % CH] += sc[k];
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float rs = rc[h][0];
#pragma unroll
      for (int q = 1; q < CH; ++q) rs += rc[h][q];
      l[h] = l[h] * alpha[h] + rs;
    }
  };
  // O is held in units of the V tile about to be added: times alpha and sv_{j-1} / sv_j.
  auto rescale = [&] {
    const float r = vprev / vsc, a0 = alpha[0] * r, a1 = alpha[1] * r;
#pragma unroll
    for (int k = 0; k < D / 2; ++k) o[k] *= (k & 2) ? a1 : a0;
  };
  auto to_p = [&] {  // registers in the fp8 A-fragment order; key order sigma within each 16
#pragma unroll
    for (int kb = 0; kb < BC / 32; ++kb) {
      const float* x = sc + kb * 16;  // accumulators of n-blocks 4kb .. 4kb+3
      p[kb][0] = pack4(x[0], x[1], x[4], x[5]);
      p[kb][1] = pack4(x[2], x[3], x[6], x[7]);
      p[kb][2] = pack4(x[8], x[9], x[12], x[13]);
      p[kb][3] = pack4(x[10], x[11], x[14], x[15]);
    }
  };
  auto take_scales = [&](int st) {  // after K's barrier, before K's release
    sl2 = sl2q * scl[1 + 2 * st];
    vprev = vsc;
    vsc = scl[2 + 2 * st];
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
    vsc = 1.f;
    mbar_wait(qfull, tl & 1);
    sl2q = s.scale * 1.4426950408889634f * scl[0];
    int pst = 0;
    uint32_t pph = 0;
    if constexpr (OVERLAP) {
      int st = it % STAGES;
      uint32_t ph = (it / STAGES) & 1;
      mbar_wait(kfull + st, ph);
      take_scales(st);
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
        take_scales(st);
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
      if (lane == 0) mbar_arrive(qempty);
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
        take_scales(st);
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
    // Epilogue: O * sv_last / l in bf16; LSE = (m + log2 l - 8) ln 2 (the 2^8 of P taken off).
    const size_t rbase = (size_t)bh * n;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float lt = l[h];
      lt += __shfl_xor_sync(0xffffffff, lt, 1);
      lt += __shfl_xor_sync(0xffffffff, lt, 2);
      const int row = r0 + trow + h * 8;
      if (row < n) {
        const float inv = lt > 0.f ? vsc / lt : 0.f;
        uint32_t* dst = reinterpret_cast<uint32_t*>(O + (rbase + row) * D + (lane % 4) * 2);
#pragma unroll
        for (int nb = 0; nb < D / 8; ++nb) dst[nb * 4] = Mma<__nv_bfloat16>::pack(o[nb * 4 + 2 * h] * inv, o[nb * 4 + 2 * h + 1] * inv);
        if (lane % 4 == 0) LSE[rbase + row] = lt > 0.f ? (m[h] + log2f(lt) - 8.f) * 0.6931471805599453f : -INFINITY;
      }
    }
  }
  if (FP8_PINGPONG && c == 0) bar_sync(1, 256);
#endif
}

// ---- host side ---------------------------------------------------------------------------------
// A 3-D uint8 tensor map (dims innermost first, byte strides of dims 1 and 2), one box per tile.
inline CUtensorMap tensor_map(const uint8_t* p, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t st1, uint64_t st2, uint32_t b0, uint32_t b1,
                              CUtensorMapSwizzle swz) {
  CUtensorMap m;
  const cuuint64_t dims[3] = {d0, d1, d2}, strides[2] = {st1, st2};
  const cuuint32_t box[3] = {b0, b1, 1}, unit[3] = {1, 1, 1};
  const CUresult r = fa3::encoder()(&m, CU_TENSOR_MAP_DATA_TYPE_UINT8, 3, const_cast<uint8_t*>(p), dims, strides, box, unit,
                                    CU_TENSOR_MAP_INTERLEAVE_NONE, swz, CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) { fprintf(stderr, "fa3 fp8: cuTensorMapEncodeTiled failed (%d)\n", (int)r); exit(1); }
  return m;
}
inline int padded(int n) { return (n + 15) / 16 * 16; }

template <int D> void launch(const Inputs& in, __nv_bfloat16* O, float* LSE, Shape s) {
  constexpr uint32_t bytes = Layout<D>::BYTES;
  static int sms = 0;
  if (!sms) {
    int dev;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    CK(cudaFuncSetAttribute(forward<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  }
  const uint64_t bh = (uint64_t)s.B * s.H, n = s.N, np = padded(s.N);
  const CUtensorMapSwizzle qk = D == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_64B;
  const CUtensorMap tq = tensor_map(in.q, D, n, bh, D, n * D, D, BR, qk), tk = tensor_map(in.k, D, n, bh, D, n * D, D, BC, qk);
  const CUtensorMap tv = tensor_map(in.vt, np, D, bh, np, np * D, BC, D, CU_TENSOR_MAP_SWIZZLE_128B);
  const int tiles = (s.N + BR - 1) / BR * s.B * s.H;
  const bool persistent = FP8_PERSISTENT > 0 || (FP8_PERSISTENT < 0 && !s.causal);
  const int grid = persistent ? std::min(tiles, sms) : tiles;
  forward<D><<<grid, THREADS, bytes>>>(tq, tk, tv, in.sq, in.sk, in.sv, O, LSE, s);
  CK(cudaGetLastError());
}

// fa3 fp8 needs sm_90a; other GPUs get one line and exit 2.
inline void run(const Inputs& in, __nv_bfloat16* O, float* LSE, Shape s) {
  int dev, major, minor;
  CK(cudaGetDevice(&dev));
  CK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  CK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  if (major != 9 || minor != 0) { fprintf(stderr, "fa3 fp8: needs compute capability 9.0 (sm_90a), found %d.%d\n", major, minor); exit(2); }
  switch (s.D) {
    case 64: launch<64>(in, O, LSE, s); break;
    case 128: launch<128>(in, O, LSE, s); break;
    default: fprintf(stderr, "fa3 fp8: d = %d is not built (64, 128)\n", s.D); exit(2);
  }
}

// ---- quantization (host; iosim's FP8Quantizer) -------------------------------------------------
// The power-of-two scale bringing amax within e4m3's range: 2^ceil(log2(amax / 448)); 1 for 0.
inline double pow2_scale(double amax) {
  if (!(amax > 0) || !std::isfinite(amax)) return 1;
  int e;
  const double f = std::frexp(amax / 448, &e);  // amax / 448 = f * 2^e, f in [0.5, 1)
  return std::ldexp(1.0, f == 0.5 ? e - 1 : e);
}
inline uint8_t e4m3(double x) { return (uint8_t)__nv_cvt_double_to_fp8(x, __NV_SATFINITE, __NV_E4M3); }
inline double e4m3_value(uint8_t b) { return (double)__half2float(__half(__nv_cvt_fp8_to_halfraw(b, __NV_E4M3))); }

// Quantizes x [bh, n, d] to e4m3 bytes with one scale per `block` rows of each head (block = 0:
// one scale for the whole tensor, repeated in every slot). scales: [bh, ceil(n / 128)], written
// per 128-row tile (block must be 128 or 0, the kernel's tiles). deq (optional): s * e4m3(x / s).
template <typename X>
void quantize(const X* x, int bh, int n, int d, int block, uint8_t* out, float* scales, double* deq) {
  const int tiles = (n + 127) / 128;
  auto apply = [&](size_t lo, size_t hi, double sc) {
    for (size_t e = lo; e < hi; ++e) {
      out[e] = e4m3((double)x[e] / sc);
      if (deq) deq[e] = e4m3_value(out[e]) * sc;
    }
  };
  auto amax = [&](size_t lo, size_t hi) {
    double a = 0;
    for (size_t e = lo; e < hi; ++e) a = std::fmax(a, std::fabs((double)x[e]));
    return a;
  };
  if (block == 0) {
    const size_t total = (size_t)bh * n * d;
    const double sc = pow2_scale(amax(0, total));
    apply(0, total, sc);
    for (size_t t = 0; t < (size_t)bh * tiles; ++t) scales[t] = (float)sc;
    return;
  }
  for (int h = 0; h < bh; ++h)
    for (int t = 0; t < tiles; ++t) {
      const size_t lo = ((size_t)h * n + t * 128) * d, hi = ((size_t)h * n + std::min(n, t * 128 + 128)) * d;
      const double sc = pow2_scale(amax(lo, hi));
      apply(lo, hi, sc);
      scales[(size_t)h * tiles + t] = (float)sc;
    }
}
// V's e4m3 bytes [bh, n, d] to Vt [bh, d, padded(n)]: column c = 16g + kk holds key 16g + sigma(kk);
// zero past n.
inline std::vector<uint8_t> transpose_v(const uint8_t* v, int bh, int n, int d) {
  const int np = padded(n);
  std::vector<uint8_t> vt((size_t)bh * d * np, 0);
  for (int h = 0; h < bh; ++h)
    for (int c = 0; c < np; ++c) {
      const int key = c / 16 * 16 + sigma(c % 16);
      if (key >= n) continue;
      for (int k = 0; k < d; ++k) vt[((size_t)h * d + k) * np + c] = v[((size_t)h * n + key) * d + k];
    }
  return vt;
}
}  // namespace fa3fp8
