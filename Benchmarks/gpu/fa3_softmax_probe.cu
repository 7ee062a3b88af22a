// fa3's per-iteration softmax section outside the kernel (no wgmma, no barriers), to tell its
// latency-bound length from the in-kernel interaction measured by fa3_section_timing.sh:
//   chains   dependent-issue latency (cycles) of FMNMX, SHFL.BFLY, MUFU.EX2, FADD, FFMA, one warp
//   section  the same operations as fa3.cuh's softmax / rescale / to_p on a 64 x 128 score tile
//            (64 scores per thread), per warpgroup iteration, with 1 or 2 warpgroups per SM
//            (2 = both consumers in their softmax at once) and d = 64, 128 for the rescale.
// Build: nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -I Backends/CUDA fa3_softmax_probe.cu
#include "common.cuh"
#include <cstdio>

template <int OP> __global__ void chain(float* out, long long* cyc, int iters) {
  float x = threadIdx.x * 1e-3f, y = 0.5f;
  const long long t0 = clock64();
  for (int i = 0; i < iters; ++i)
#pragma unroll
    for (int u = 0; u < 64; ++u) {
      if (OP == 0) asm volatile("max.f32 %0, %0, %1;" : "+f"(x) : "f"(y));
      if (OP == 1) asm volatile("shfl.sync.bfly.b32 %0, %0, 1, 31, -1;" : "+f"(x));
      if (OP == 2) asm volatile("ex2.approx.ftz.f32 %0, %0;" : "+f"(x));
      if (OP == 3) asm volatile("add.f32 %0, %0, %1;" : "+f"(x) : "f"(y));
      if (OP == 4) asm volatile("fma.rn.f32 %0, %0, %1, %1;" : "+f"(x) : "f"(y));
    }
  const long long t1 = clock64();
  if (threadIdx.x == 0) *cyc = t1 - t0;
  out[threadIdx.x] = x;
}

template <int N> __device__ __forceinline__ void pin(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

// Per warpgroup iteration: new S (pinned, as after the wgmma wait), then softmax, rescale, to_p.
template <int D> __global__ void section(float* out, unsigned long long* cyc, int iters, float sl2) {
  float sc[64], o[D / 2], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f}, alpha[2];
  uint32_t p[8][4], px[8][4] = {};
#pragma unroll
  for (int k = 0; k < 64; ++k) sc[k] = (threadIdx.x * 7 + k * 13) % 29 * 0.1f;
#pragma unroll
  for (int k = 0; k < D / 2; ++k) o[k] = 1.f;
  unsigned long long ts = 0, tr = 0;
  for (int i = 0; i < iters; ++i) {
    pin(sc);
    const long long t0 = clock64();
    float mt[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int k = 0; k < 64; ++k) mt[(k >> 1) & 1] = fmaxf(mt[(k >> 1) & 1], sc[k]);
    float mn[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 1));
      mt[h] = fmaxf(mt[h], __shfl_xor_sync(0xffffffff, mt[h], 2));
      mn[h] = fmaxf(m[h], mt[h] * sl2);
      alpha[h] = ex2(m[h] - mn[h]);
      m[h] = mn[h];
    }
    float rs[2] = {0.f, 0.f};
#pragma unroll
    for (int k = 0; k < 64; ++k) {
      sc[k] = ex2(fmaf(sc[k], sl2, -mn[(k >> 1) & 1]));
      rs[(k >> 1) & 1] += sc[k];
    }
    l[0] = l[0] * alpha[0] + rs[0];
    l[1] = l[1] * alpha[1] + rs[1];
    asm volatile("" : "+f"(l[0]), "+f"(l[1])::"memory");
    const long long t1 = clock64();
#pragma unroll
    for (int k = 0; k < D / 2; ++k) o[k] *= alpha[(k >> 1) & 1];
#pragma unroll
    for (int kk = 0; kk < 8; ++kk)
#pragma unroll
      for (int x = 0; x < 4; ++x) p[kk][x] = Mma<__half>::pack(sc[kk * 8 + 2 * x], sc[kk * 8 + 2 * x + 1]);
#pragma unroll
    for (int kk = 0; kk < 8; ++kk)
#pragma unroll
      for (int x = 0; x < 4; ++x) asm volatile("" : "+r"(p[kk][x])::"memory");
    pin(o);
    const long long t2 = clock64();
    ts += t1 - t0, tr += t2 - t1;
#pragma unroll
    for (int kk = 0; kk < 8; ++kk)
#pragma unroll
      for (int x = 0; x < 4; ++x) px[kk][x] ^= p[kk][x];  // keeps every packed word live
    m[0] = m[1] = 0.f;  // keep alpha's input the same every iteration
  }
  float acc = l[0] + l[1];
#pragma unroll
  for (int k = 0; k < D / 2; ++k) acc += o[k];
#pragma unroll
  for (int kk = 0; kk < 8; ++kk)
#pragma unroll
    for (int x = 0; x < 4; ++x) acc += __uint_as_float(px[kk][x]);
  out[blockIdx.x * blockDim.x + threadIdx.x] = acc;
  if (threadIdx.x % 128 == 0) atomicAdd(&cyc[0], ts), atomicAdd(&cyc[1], tr), atomicAdd(&cyc[2], (unsigned long long)iters);
}

int main() {
  float* out;
  long long* c;
  unsigned long long* cy;
  CK(cudaMalloc(&out, 1 << 22));
  CK(cudaMalloc(&c, 8));
  CK(cudaMalloc(&cy, 24));
  const char* names[5] = {"FMNMX (max.f32)", "SHFL.BFLY", "MUFU.EX2", "FADD", "FFMA"};
  auto run_chain = [&](int op) {
    const int iters = 100;
    for (int r = 0; r < 2; ++r) {  // second launch is the reading
      switch (op) {
        case 0: chain<0><<<1, 32>>>(out, c, iters); break;
        case 1: chain<1><<<1, 32>>>(out, c, iters); break;
        case 2: chain<2><<<1, 32>>>(out, c, iters); break;
        case 3: chain<3><<<1, 32>>>(out, c, iters); break;
        default: chain<4><<<1, 32>>>(out, c, iters); break;
      }
      CK(cudaDeviceSynchronize());
    }
    long long h;
    CK(cudaMemcpy(&h, c, 8, cudaMemcpyDeviceToHost));
    printf("chain %-16s %6.2f cycles per dependent instruction (one warp)\n", names[op], (double)h / (iters * 64));
  };
  for (int op = 0; op < 5; ++op) run_chain(op);
  int sms;
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  for (int d : {64, 128})
    for (int wgs : {1, 2}) {
      unsigned long long h[3];
      for (int r = 0; r < 2; ++r) {
        CK(cudaMemset(cy, 0, 24));
        if (d == 64) section<64><<<sms, 128 * wgs>>>(out, cy, 2000, 0.18f);
        else section<128><<<sms, 128 * wgs>>>(out, cy, 2000, 0.13f);
        CK(cudaDeviceSynchronize());
      }
      CK(cudaMemcpy(h, cy, 24, cudaMemcpyDeviceToHost));
      const double s = (double)h[0] / h[2], rr = (double)h[1] / h[2];
      printf("section d=%-3d warpgroups/SM %d: softmax %7.1f  rescale+to_p %6.1f  cycles per warpgroup iteration; %.2f scores/clk/SM%s\n",
             d, wgs, s, rr, 8192.0 * wgs / (s + rr), wgs == 1 ? " (one warpgroup)" : " (both, each iteration overlapping)");
    }
  return 0;
}
