// Decode attention kernels (docs/counting-rules.md §4, §12): FlashAttention-2's split-KV decode with GQA packing
// (kernels `split` and `combine`) and vLLM-style PagedAttention v1/v2 (kernels `paged` and
// `reduce`) over K/V stored in blocks of 16 token slots found through a block table. One CTA body,
// `attend`, serves all of them: it streams the K/V tiles of one column range of one (row tile,
// instance) through shared memory and writes what its mode asks for.
//
// An *instance* is what the grid's z index names: (batch, KV head) with its g·Nq query rows packed
// (split-kv: rows = g·Nq, query head kvh·g + r / Nq, query r % Nq), or (batch, query head) with its
// Nq rows (paged-v1/v2: vLLM has no GQA packing; each query head's CTA reads its KV head). Either
// way the instance's rows are rows z·rows ... z·rows + rows − 1 of Q, O and LSE ([B][H][Nq][D]).
//
// Traffic (what iosim counts, docs/counting-rules.md): per CTA with a non-empty range, Q rows once and each
// K/V tile of the range once, 16-byte cp.async.ca (coalesced: a warp copies whole 512-byte runs),
// rows past the end zero-filled without a read (contiguous), or whole blocks read (paged: the tail
// of the last block is read and masked, as vLLM does). Paged: the tile's table entries are read
// with one coalesced load by warp 0 for the K loop and again for the V loop.
//
// Compute: mma.sync m16n8k16, fp32 accumulate. The 4 warps split a tile as WR row groups of 16
// query rows × WC column groups (WR·WC = 4, WC = 4 for ≤ 16 rows): decode has few rows, so the
// warps divide the K/V columns and each keeps its own running max, sum and O; the warps of a row
// group are merged once at the end through shared memory. Pipeline (FlashAttention-2's): one K and
// one V buffer; V_j is copied during S = Q K_jᵀ, K_{j+1} during O += P V_j.
#pragma once
#include "common.cuh"
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>

namespace decode {
constexpr int WARPS = 4, THREADS = 32 * WARPS, BR = 64, BLOCK = 16;
// FlashAttention-2's block_n for the split-KV kernel (docs/tiles.md): 256 up to d = 64, 128 up to 128.
__host__ __device__ constexpr int bc_for(int d) { return d <= 64 ? 256 : 128; }

enum Mode : int {
  kDirect = 0,  // O (dtype) and, when lse != nullptr, LSE: split-kv with S = 1, paged-v1
  kSplit = 1,   // Opart, LSEpart (fp32) at split y: split-kv's `split`
  kPaged2 = 2,  // tmp_out (dtype), max_logits and exp_sums (fp32): paged-v2's `paged`
};

template <typename T> struct Params {
  const T *q, *k, *v;
  const int* table;  // paged: [B][max_blocks] physical block of each logical block; else null
  int max_blocks;
  int B, H, Hkv, Nq, Nk;
  int rows;     // query rows per instance
  int packed;   // 1: instance = (b, kv head); 0: (b, query head)
  int per;      // column tiles per range (split or partition)
  int parts;    // ranges per row tile (S or P)
  float scale;
  T* o;
  float* lse;    // kDirect: may be null (vLLM's kernels write no LSE)
  float* opart;  // kSplit: [S][B·H·Nq][D]; kPaged2: unused
  float* lpart;  // kSplit: [S][B·H·Nq]; kPaged2: [B·H·Nq][2P] (P maxima, then P sums)
  T* tmp;        // kPaged2: [B·H·Nq][P][D]
};

// Copies rows [0, ROWS) of a tile into shared memory (rows LD apart). Thread t copies 16-byte
// chunk t % CHUNKS of rows t / CHUNKS + it·STEP, so a warp's requests are whole 32-byte sectors.
// Row r is read when r < valid (else zero-filled without a read). `row_ptr(r)` gives its address.
template <typename T, int D, int ROWS, typename RowPtr>
__device__ __forceinline__ void load_rows(T* dst, int valid, RowPtr row_ptr) {
  constexpr int LD = D + 8, CHUNKS = D / 8, STEP = THREADS / CHUNKS;
  static_assert(THREADS % CHUNKS == 0 && ROWS % STEP == 0, "tile shape");
  const int r = threadIdx.x / CHUNKS, c = (threadIdx.x % CHUNKS) * 8;
#pragma unroll
  for (int it = 0; it < ROWS / STEP; ++it) {
    const int row = r + it * STEP;
    const bool ok = row < valid;
    cp_async16(dst + row * LD + c, ok ? row_ptr(row) + c : row_ptr(0), ok);
  }
}

// One table entry, a volatile load (served by L2, not L1): the K loop's and the V loop's loads of
// the same entries stay two reads, as vLLM's two loops and iosim count them. With __ldcg, and with
// an asm ld.global.cg, the compiler merged the first tile's two loads into one (Nsight Compute:
// 32 bytes per CTA short).
__device__ __forceinline__ int ld_table(const int* p) {
  int v;
  asm volatile("ld.volatile.global.b32 %0, [%1];\n" : "=r"(v) : "l"(p));
  return v;
}

template <typename T, int D, int WC, bool PAGED, int MODE>
__global__ void __launch_bounds__(THREADS, 2) attend(Params<T> p) {
  constexpr int BC = bc_for(D), LD = D + 8, KSTEPS = D / 16, WR = WARPS / WC, CW = BC / WC;
  constexpr int NT_S = CW / 8, NT_O = D / 8, NB = BC / BLOCK, QROWS = 16 * WR;
  extern __shared__ __align__(16) char smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + QROWS * LD;
  T* sV = sK + BC * LD;
  int* sTab = reinterpret_cast<int*>(sV + BC * LD);  // [K or V][2 slots][NB]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, wr = warp / WC, wc = warp % WC;
  const int z = blockIdx.z, split = blockIdx.y, r0 = blockIdx.x * BR;
  const int g = p.H / p.Hkv;
  const int b = p.packed ? z / p.Hkv : z / p.H;
  const int kvh = p.packed ? z % p.Hkv : (z % p.H) / g;
  const int nrows = min(BR, p.rows - r0);              // rows of this row tile
  const size_t row0 = (size_t)z * p.rows + r0;         // first row in Q / O / LSE
  const size_t R = (size_t)p.B * p.H * p.Nq;           // all query rows
  const int tc = (p.Nk + BC - 1) / BC;
  const int j0 = min(tc, split * p.per), j1 = min(tc, (split + 1) * p.per);
  // Rows of K/V read: contiguous up to Nk; paged up to the end of the last block.
  const int nread = PAGED ? (p.Nk + BLOCK - 1) / BLOCK * BLOCK : p.Nk;
  const int nblocks = (p.Nk + BLOCK - 1) / BLOCK;
  const T* kbase = PAGED ? p.k : p.k + ((size_t)b * p.Hkv + kvh) * p.Nk * D;
  const T* vbase = PAGED ? p.v : p.v + ((size_t)b * p.Hkv + kvh) * p.Nk * D;
  const int* tab = PAGED ? p.table + (size_t)b * p.max_blocks : nullptr;

  // Table entries of tile j for the K loop (which = 0) or the V loop (1): warp 0 loads them with
  // one coalesced load (table_load, issued early) and stores them to slot j & 1 later (table_store,
  // before the barrier that publishes them), so the load's latency overlaps the tile copy in flight.
  auto table_load = [&](int j) {
    const int blk = j * NB + lane;
    return PAGED && warp == 0 && lane < NB && blk < nblocks ? ld_table(tab + blk) : 0;
  };
  auto table_store = [&](int which, int j, int e) {
    if (PAGED && warp == 0 && lane < NB) sTab[(which * 2 + (j & 1)) * NB + lane] = e;
  };
  auto load_kv = [&](T* dst, const T* base, int which, int j) {
    const int valid = min(BC, nread - j * BC);
    if constexpr (PAGED) {
      const int* t = sTab + (which * 2 + (j & 1)) * NB;
      load_rows<T, D, BC>(dst, valid, [&](int r) {
        return base + (((size_t)t[r / BLOCK] * p.Hkv + kvh) * BLOCK + r % BLOCK) * D;
      });
    } else {
      const T* src = base + (size_t)j * BC * D;
      load_rows<T, D, BC>(dst, valid, [&](int r) { return src + (size_t)r * D; });
    }
  };

  float o[NT_O][4];
#pragma unroll
  for (int n = 0; n < NT_O; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {-FLT_MAX, -FLT_MAX}, l[2] = {0.f, 0.f};
  const float sl2 = p.scale * 1.4426950408889634f;  // scores in log2 units

  if (j0 < j1) {
    const T* qsrc = p.q + row0 * D;
    load_rows<T, D, QROWS>(sQ, nrows, [&](int r) { return qsrc + (size_t)r * D; });
    const int ek = table_load(j0), ev = table_load(j0);
    table_store(0, j0, ek);
    table_store(1, j0, ev);
    __syncthreads();
    load_kv(sK, kbase, 0, j0);
    cp_commit();
  }
  uint32_t qf[KSTEPS][4];
  int tv = 0;  // table entries of the next V tile, in flight
  for (int j = j0; j < j1; ++j) {
    if (j > j0) table_store(1, j, tv);
    cp_wait<0>();
    __syncthreads();  // K_j (and Q) landed; every warp is past P V_{j-1}: V's buffer is free
    load_kv(sV, vbase, 1, j);
    cp_commit();
    const int tk = j + 1 < j1 ? table_load(j + 1) : 0;
    if (j == j0) {
#pragma unroll
      for (int kk = 0; kk < KSTEPS; ++kk) ldmatrix_x4(qf[kk], sQ + (wr * 16 + lane % 16) * LD + kk * 16 + (lane / 16) * 8);
    }
    float sc[NT_S][4];
#pragma unroll
    for (int n = 0; n < NT_S; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < KSTEPS; ++kk) {
#pragma unroll
      for (int n = 0; n < NT_S; n += 2) {
        uint32_t bf[4];
        const int mat = lane / 8;
        ldmatrix_x4(bf, sK + (wc * CW + (n + mat / 2) * 8 + lane % 8) * LD + kk * 16 + (mat % 2) * 8);
        Mma<T>::run(sc[n], qf[kk], bf);
        Mma<T>::run(sc[n + 1], qf[kk], bf + 2);
      }
    }
    if ((j + 1) * BC > p.Nk) {  // the tile crossing the end of K: mask columns >= Nk
#pragma unroll
      for (int n = 0; n < NT_S; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (j * BC + wc * CW + n * 8 + (lane % 4) * 2 + (e & 1) >= p.Nk) sc[n][e] = -FLT_MAX;
    }
    float mt[2] = {-FLT_MAX, -FLT_MAX}, alpha[2], rs[2] = {0.f, 0.f}, mn[2];
#pragma unroll
    for (int n = 0; n < NT_S; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) mt[e >> 1] = fmaxf(mt[e >> 1], sc[n][e]);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 1));
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 2));
      mn[h] = fmaxf(m[h], mt[h] == -FLT_MAX ? -FLT_MAX : mt[h] * sl2);
      alpha[h] = m[h] == -FLT_MAX ? 0.f : ex2(m[h] - mn[h]);
      m[h] = mn[h];
      if (mn[h] == -FLT_MAX) mn[h] = 0.f;  // nothing live yet in this warp's columns
    }
#pragma unroll
    for (int n = 0; n < NT_S; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float pr = ex2(fmaf(sc[n][e], sl2, -mn[e >> 1]));  // masked (-FLT_MAX) scores give 0
        sc[n][e] = pr;
        rs[e >> 1] += pr;
      }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      rs[h] += __shfl_xor_sync(0xffffffff, rs[h], 1);
      rs[h] += __shfl_xor_sync(0xffffffff, rs[h], 2);
      l[h] = alpha[h] * l[h] + rs[h];
    }
#pragma unroll
    for (int n = 0; n < NT_O; ++n) o[n][0] *= alpha[0], o[n][1] *= alpha[0], o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    if (j + 1 < j1) table_store(0, j + 1, tk);
    cp_wait<0>();
    __syncthreads();  // V_j landed; every warp is past Q K_jᵀ: K's buffer is free
    if (PAGED && (j + 1) * BC > p.Nk && nread > p.Nk) {
      // The last block's slots past Nk were read (whole blocks) but are not this sequence's:
      // zero them so that P = 0 times whatever they hold (NaN in the driver's poison) stays 0.
      for (int e = threadIdx.x; e < (nread - p.Nk) * D; e += THREADS)
        sV[(p.Nk - j * BC + e / D) * LD + e % D] = Elem<T>::from_float(0.f);
      __syncthreads();
    }
    if (j + 1 < j1) {
      load_kv(sK, kbase, 0, j + 1);
      cp_commit();
      tv = table_load(j + 1);
    }
#pragma unroll
    for (int kk = 0; kk < CW / 16; ++kk) {
      uint32_t a[4];
      a[0] = Mma<T>::pack(sc[2 * kk][0], sc[2 * kk][1]);
      a[1] = Mma<T>::pack(sc[2 * kk][2], sc[2 * kk][3]);
      a[2] = Mma<T>::pack(sc[2 * kk + 1][0], sc[2 * kk + 1][1]);
      a[3] = Mma<T>::pack(sc[2 * kk + 1][2], sc[2 * kk + 1][3]);
#pragma unroll
      for (int n = 0; n < NT_O; n += 2) {
        uint32_t bf[4];
        const int mat = lane / 8;
        ldmatrix_x4_trans(bf, sV + (wc * CW + kk * 16 + (mat % 2) * 8 + lane % 8) * LD + (n + mat / 2) * 8);
        Mma<T>::run(o[n], a, bf);
        Mma<T>::run(o[n + 1], a, bf + 2);
      }
    }
  }

  // Merge the WC column groups of each row group through shared memory (the K/V buffers are
  // free once every copy has landed): per warp its 16 rows' O (fp32, unnormalised), m and l.
  cp_wait<0>();
  __syncthreads();
  float* sO = reinterpret_cast<float*>(sK);                // [WARPS][16][D]
  float* sML = reinterpret_cast<float*>(sV);               // [WARPS][16][2]
  {
    float* w = sO + warp * 16 * D;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int rr = lane / 4 + h * 8;
#pragma unroll
      for (int n = 0; n < NT_O; ++n)
        *reinterpret_cast<float2*>(w + rr * D + n * 8 + (lane % 4) * 2) = make_float2(o[n][2 * h], o[n][2 * h + 1]);
      if (lane % 4 == 0) sML[(warp * 16 + rr) * 2] = m[h], sML[(warp * 16 + rr) * 2 + 1] = l[h];
    }
  }
  __syncthreads();
  // Row statistics: the merged max M (log2 units) and sum L of row rr.
  auto stats = [&](int rr, float& M, float& L) {
    const int grp = rr / 16, r16 = rr % 16;
    M = -FLT_MAX, L = 0.f;
#pragma unroll
    for (int w = 0; w < WC; ++w) M = fmaxf(M, sML[((grp * WC + w) * 16 + r16) * 2]);
#pragma unroll
    for (int w = 0; w < WC; ++w) {
      const int slot = (grp * WC + w) * 16 + r16;
      const float mw = sML[slot * 2];
      L += mw == -FLT_MAX ? 0.f : ex2(mw - M) * sML[slot * 2 + 1];
    }
  };
  // Each thread finishes 4 consecutive columns of one row: coalesced stores.
  for (int e = threadIdx.x; e < nrows * (D / 4); e += THREADS) {
    const int rr = e / (D / 4), c = (e % (D / 4)) * 4, grp = rr / 16, r16 = rr % 16;
    float M, L, acc[4] = {0.f, 0.f, 0.f, 0.f};
    stats(rr, M, L);
#pragma unroll
    for (int w = 0; w < WC; ++w) {
      const int slot = (grp * WC + w) * 16 + r16;
      const float mw = sML[slot * 2], f = mw == -FLT_MAX ? 0.f : ex2(mw - M);
      const float4 x = *reinterpret_cast<const float4*>(sO + slot * D + c);
      acc[0] += f * x.x, acc[1] += f * x.y, acc[2] += f * x.z, acc[3] += f * x.w;
    }
    const float inv = L > 0.f ? 1.f / L : 0.f;
    const size_t row = row0 + rr;
    if constexpr (MODE == kSplit) {
      *reinterpret_cast<float4*>(p.opart + ((size_t)split * R + row) * D + c) =
          make_float4(acc[0] * inv, acc[1] * inv, acc[2] * inv, acc[3] * inv);
    } else {
      T* dst = MODE == kDirect ? p.o + row * D + c : p.tmp + (row * p.parts + split) * D + c;
      uint2 packed;
      packed.x = Mma<T>::pack(acc[0] * inv, acc[1] * inv);
      packed.y = Mma<T>::pack(acc[2] * inv, acc[3] * inv);
      *reinterpret_cast<uint2*>(dst) = packed;
    }
  }
  // Per-row values, consecutive threads on consecutive rows.
  if (threadIdx.x < nrows) {
    const int rr = threadIdx.x;
    float M, L;
    stats(rr, M, L);
    const float lse = L > 0.f ? (M + log2f(L)) * 0.6931471805599453f : -INFINITY;
    const size_t row = row0 + rr;
    if (MODE == kSplit) p.lpart[(size_t)split * R + row] = lse;
    if (MODE == kDirect && p.lse) p.lse[row] = lse;
    if (MODE == kPaged2) {  // vLLM's max_logits (natural units) and exp_sums
      p.lpart[row * 2 * p.parts + split] = L > 0.f ? M * 0.6931471805599453f : -INFINITY;
      p.lpart[row * 2 * p.parts + p.parts + split] = L;
    }
  }
}

// FlashAttention-2's combine (split-kv, S > 1): ROWS query rows per CTA. Each row's S LSEpart
// values are read twice (a max pass, then a pass that sums and keeps them), as docs/counting-rules.md counts;
// ROWS = 8 makes each split's LSEpart read one whole 32-byte sector. Opart rows are read once.
constexpr int COMBINE_ROWS = 8, MAX_SPLITS = 128;
template <typename T, int D>
__global__ void __launch_bounds__(THREADS) combine(const float* opart, const float* lpart, T* O, float* LSE, int S, int R) {
  __shared__ float w[MAX_SPLITS][COMBINE_ROWS];
  const int r0 = blockIdx.x * COMBINE_ROWS, t = threadIdx.x;
  if (t < COMBINE_ROWS && r0 + t < R) {
    const int r = r0 + t;
    float M = -INFINITY;
    for (int s = 0; s < S; ++s) M = fmaxf(M, __ldcg(lpart + (size_t)s * R + r));
    float sum = 0.f;
    for (int s = 0; s < S; ++s) {
      const float x = __ldcg(lpart + (size_t)s * R + r);
      w[s][t] = x;
      sum += M == -INFINITY ? 0.f : __expf(x - M);
    }
    const float lse = M == -INFINITY || sum == 0.f ? -INFINITY : M + __logf(sum);
    for (int s = 0; s < S; ++s) w[s][t] = lse == -INFINITY ? 0.f : __expf(w[s][t] - lse);
    LSE[r] = lse;
  }
  __syncthreads();
  for (int e = t; e < COMBINE_ROWS * (D / 4); e += THREADS) {
    const int rr = e / (D / 4), c = (e % (D / 4)) * 4, r = r0 + rr;
    if (r >= R) break;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 4
    for (int s = 0; s < S; ++s) {
      const float4 x = __ldcg(reinterpret_cast<const float4*>(opart + ((size_t)s * R + r) * D + c));
      const float f = w[s][rr];
      acc.x += f * x.x, acc.y += f * x.y, acc.z += f * x.z, acc.w += f * x.w;
    }
    uint2 packed;
    packed.x = Mma<T>::pack(acc.x, acc.y);
    packed.y = Mma<T>::pack(acc.z, acc.w);
    *reinterpret_cast<uint2*>(O + (size_t)r * D + c) = packed;
  }
}

// vLLM's v2 reduce: one CTA per query row. With P > 1: the P maxima and P sums once each, then
// the P partial rows (the dtype) weighted by sum·exp(max − M) / Σ; with P = 1 a copy (d read,
// d written). LSE, which vLLM does not write, only when lse != nullptr (recordings), from the
// maxima and sums already read (P = 1: read then).
template <typename T, int D>
__global__ void __launch_bounds__(D / 2) reduce(const T* tmp, const float* lpart, T* O, float* LSE, int P) {
  __shared__ float wts[1024];
  __shared__ float red[D / 64 + 1][2];
  const size_t row = blockIdx.x;
  const int t = threadIdx.x, c = 2 * t;
  if (P == 1) {
    *reinterpret_cast<uint32_t*>(O + row * D + c) = __ldcg(reinterpret_cast<const uint32_t*>(tmp + row * D + c));
    if (LSE && t == 0) {
      const float mx = lpart[row * 2], sm = lpart[row * 2 + 1];
      LSE[row] = sm > 0.f ? mx + __logf(sm) : -INFINITY;
    }
    return;
  }
  const float* mx = lpart + row * 2 * P;
  float M = -INFINITY;
  for (int s = t; s < P; s += D / 2) M = fmaxf(M, wts[s] = __ldcg(mx + s));
  for (int k = 16; k; k /= 2) M = fmaxf(M, __shfl_xor_sync(0xffffffff, M, k));
  if (t % 32 == 0) red[t / 32][0] = M;
  __syncthreads();
  M = red[0][0];
  for (int w = 1; w < D / 64; ++w) M = fmaxf(M, red[w][0]);
  float sum = 0.f;
  for (int s = t; s < P; s += D / 2) {
    const float x = M == -INFINITY ? 0.f : __ldcg(mx + P + s) * __expf(wts[s] - M);
    wts[s] = x;
    sum += x;
  }
  for (int k = 16; k; k /= 2) sum += __shfl_xor_sync(0xffffffff, sum, k);
  if (t % 32 == 0) red[t / 32][1] = sum;
  __syncthreads();
  sum = 0.f;
  for (int w = 0; w < D / 64; ++w) sum += red[w][1];
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  float a0 = 0.f, a1 = 0.f;
#pragma unroll 4
  for (int s = 0; s < P; ++s) {
    const float2 x = unpack2<T>(__ldcg(reinterpret_cast<const unsigned int*>(tmp + (row * P + s) * D + c)));
    a0 += wts[s] * x.x, a1 += wts[s] * x.y;
  }
  *reinterpret_cast<uint32_t*>(O + row * D + c) = Mma<T>::pack(a0 * inv, a1 * inv);
  if (LSE && t == 0) LSE[row] = sum > 0.f ? M + __logf(sum) : -INFINITY;
}

// ---- Host side -----------------------------------------------------------------------------

// FlashAttention-2's num_splits_heuristic (flash-attention csrc/flash_attn/flash_api.cpp), as
// docs/cli.md states it and iosim's SplitKVHeuristic implements it.
inline int splits_heuristic(int work, int slots, int n_blocks, int max_splits) {
  if ((double)work >= 0.8 * slots) return 1;
  const int limit = std::min(std::min(max_splits, slots), n_blocks);
  if (limit < 1) return 1;
  auto cdiv = [](int a, int b) { return (a + b - 1) / b; };
  auto eligible = [&](int s) { return s == 1 || cdiv(n_blocks, s) != cdiv(n_blocks, s - 1); };
  double eff[MAX_SPLITS + 1] = {0}, best = 0;
  for (int s = 1; s <= limit; ++s) {
    if (!eligible(s)) continue;
    const double waves = (double)work * s / slots;
    eff[s] = waves / std::ceil(waves);
    best = std::max(best, eff[s]);
  }
  for (int s = 1; s <= limit; ++s)
    if (eligible(s) && eff[s] >= 0.85 * best) return s;
  return 1;
}

template <typename T, int D, int WC, bool PAGED, int MODE>
void launch_attend(const Params<T>& p, dim3 grid, cudaStream_t st) {
  constexpr int BC = bc_for(D), QROWS = 16 * (WARPS / WC);
  const size_t bytes = (size_t)(QROWS + 2 * BC) * (D + 8) * sizeof(T) + 4 * (BC / BLOCK) * sizeof(int);
  static_assert((size_t)WARPS * 16 * D * sizeof(float) <= (size_t)BC * (D + 8) * sizeof(T), "merge fits in K's buffer");
  auto kern = attend<T, D, WC, PAGED, MODE>;
  CK(cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
  kern<<<grid, THREADS, bytes, st>>>(p);
  CK(cudaGetLastError());
}

// Warps per row group: enough 16-row groups for the row tile's rows, the rest split columns.
template <typename T, int D, bool PAGED, int MODE>
void dispatch_wc(const Params<T>& p, dim3 grid, cudaStream_t st) {
  const int rows = std::min(BR, p.rows);
  if (rows <= 16) launch_attend<T, D, 4, PAGED, MODE>(p, grid, st);
  else if (rows <= 32) launch_attend<T, D, 2, PAGED, MODE>(p, grid, st);
  else launch_attend<T, D, 1, PAGED, MODE>(p, grid, st);
}

template <typename T, int D, int MODE>
void dispatch(const Params<T>& p, dim3 grid, cudaStream_t st) {
  if (p.table) dispatch_wc<T, D, true, MODE>(p, grid, st);
  else dispatch_wc<T, D, false, MODE>(p, grid, st);
}

// Which kernels a call launches and with what partitioning.
struct Plan {
  enum Kind { SplitKV, PagedV1, PagedV2 } kind;
  int splits;  // split-kv: S; paged-v2: P (partitions); paged-v1: 1
  int per;     // column tiles per range
};

// One decode call: split-kv (S = 1: one kernel writing O; else split + combine), paged-v1
// (one kernel) or paged-v2 (paged + reduce).
template <typename T, int D>
void run(Params<T> p, const Plan& plan, cudaStream_t st) {
  const int tr = (p.rows + BR - 1) / BR;
  const int inst = p.packed ? p.B * p.Hkv : p.B * p.H;
  p.per = plan.per;
  p.parts = plan.splits;
  const dim3 grid(tr, plan.splits, inst);
  const int R = p.B * p.H * p.Nq;
  if (plan.kind == Plan::PagedV2) {
    dispatch<T, D, kPaged2>(p, grid, st);
    reduce<T, D><<<R, D / 2, 0, st>>>(p.tmp, p.lpart, p.o, p.lse, plan.splits);
    CK(cudaGetLastError());
  } else if (plan.splits == 1) {
    dispatch<T, D, kDirect>(p, grid, st);
  } else {
    dispatch<T, D, kSplit>(p, grid, st);
    combine<T, D><<<(R + COMBINE_ROWS - 1) / COMBINE_ROWS, THREADS, 0, st>>>(p.opart, p.lpart, p.o, p.lse, plan.splits, R);
    CK(cudaGetLastError());
  }
}
}  // namespace decode
