// Does the softmax's exponential overlap the tensor cores on Hopper? (issue 19, item 5)
//
// One CTA per SM, three warpgroups. Warpgroups 0 and 1 issue back-to-back wgmma m64n256k16
// (fp16 in, fp32 accumulate, operands from shared memory: the values do not matter for
// throughput); warpgroup 2 issues ex2.approx.f32 (MUFU) in 16 independent chains, optionally with
// the softmax's fp32 work beside it (FMNMX, 2 FFMA, FMUL + FADD per exponential). Modes:
//   mma     only warpgroups 0-1 work          -> the wgmma rate
//   exp     only warpgroup 2 works             -> the MUFU rate
//   fp32    warpgroup 2, exp + fp32 mix        -> the softmax-like instruction mix alone
//   both    mma and exp at once                -> overlap: time(both) vs max / sum of the two
//   bothmix mma and the exp + fp32 mix at once
// Each mode runs for a fixed amount of work per role, so "overlap" means
// time(both) ~ max(time(mma), time(exp)); "no overlap" means ~ the sum.
// Build: nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -o overlap_probe overlap_probe.cu
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <vector>
#include <algorithm>

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); exit(1); } } while (0)

__device__ __forceinline__ uint64_t desc(const void* smem, uint32_t lbo, uint32_t sbo) {
  uint32_t a = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  uint64_t d = 0;
  d |= (uint64_t)((a >> 4) & 0x3FFF);
  d |= (uint64_t)((lbo >> 4) & 0x3FFF) << 16;
  d |= (uint64_t)((sbo >> 4) & 0x3FFF) << 32;
  return d;  // no swizzle, base offset 0
}

#define ACC8(i) "+f"(c[i]), "+f"(c[i + 1]), "+f"(c[i + 2]), "+f"(c[i + 3]), "+f"(c[i + 4]), "+f"(c[i + 5]), "+f"(c[i + 6]), "+f"(c[i + 7])

__device__ __forceinline__ void wgmma_256(float* c, uint64_t da, uint64_t db) {
  asm volatile(
      "{\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "
      "%128, %129, 1, 1, 1, 0, 0;\n"
      "}\n"
      : ACC8(0), ACC8(8), ACC8(16), ACC8(24), ACC8(32), ACC8(40), ACC8(48), ACC8(56), ACC8(64), ACC8(72), ACC8(80),
        ACC8(88), ACC8(96), ACC8(104), ACC8(112), ACC8(120)
      : "l"(da), "l"(db));
}

enum Mode { MMA = 1, EXP = 2, MIX = 4 };

__global__ void __launch_bounds__(384, 1) probe(int mode, int mma_iters, int exp_iters, float* sink, long long* cycles) {
  extern __shared__ __align__(1024) unsigned char smem[];
  const int wg = threadIdx.x / 128;
  for (int i = threadIdx.x; i < 48 * 1024 / 4; i += blockDim.x) reinterpret_cast<float*>(smem)[i] = 0.001f * (i % 97);
  __syncthreads();
  long long t0 = clock64();
  if (wg < 2) {
    if (mode & MMA) {
      float c[128];
#pragma unroll
      for (int i = 0; i < 128; ++i) c[i] = 0.f;
      // A: 64x16 fp16 (2 KiB) per warpgroup, B: 256x16 fp16 (8 KiB), core matrices 8x8 (128 B).
      const uint64_t da = desc(smem + wg * 2048, 128, 256), db = desc(smem + 8192, 128, 256);
      asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
      for (int it = 0; it < mma_iters; ++it) {
        wgmma_256(c, da, db);
        asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
        asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
      }
      asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
      float s = 0;
#pragma unroll
      for (int i = 0; i < 128; ++i) s += c[i];
      if (s == 12345.f) sink[threadIdx.x] = s;
    }
  } else if (mode & (EXP | MIX)) {
    // 16 independent chains, each step's exponentials issued before their consumers, so the
    // MUFU pipe, not its latency, sets the rate (in-order issue would otherwise stall at the
    // first consumer: an earlier version measured the latency, 32 cycles per exponential).
    constexpr int C = 16;
    float x[C], m[C], l[C], y[C];
#pragma unroll
    for (int j = 0; j < C; ++j) { x[j] = 1e-3f * (threadIdx.x + j); m[j] = -1.f; l[j] = 0.f; }
    for (int it = 0; it < exp_iters; ++it) {
      if (mode & MIX) {
        // The online softmax per score: row max, scaled subtract (FFMA), exp2, row-sum FFMA.
#pragma unroll
        for (int j = 0; j < C; ++j) m[j] = fmaxf(m[j], x[j]);
#pragma unroll
        for (int j = 0; j < C; ++j) asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y[j]) : "f"(fmaf(x[j], 1.4427f, -m[j])));
#pragma unroll
        for (int j = 0; j < C; ++j) { l[j] = fmaf(l[j], 0.999f, y[j]); x[j] = y[j] * 0.5f + 1e-3f; }
      } else {
#pragma unroll
        for (int j = 0; j < C; ++j) asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y[j]) : "f"(x[j]));
#pragma unroll
        for (int j = 0; j < C; ++j) x[j] = y[j] * 0.5f;
      }
    }
    float s = 0;
#pragma unroll
    for (int j = 0; j < C; ++j) s += x[j] + l[j];
    if (s == 12345.f) sink[threadIdx.x] = s;
  }
  __syncthreads();
  if (threadIdx.x == 0) cycles[blockIdx.x] = clock64() - t0;
}

int main(int argc, char** argv) {
  int mma_iters = argc > 1 ? atoi(argv[1]) : 20000, exp_iters = argc > 2 ? atoi(argv[2]) : 20000;
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  const int sms = prop.multiProcessorCount;
  float* sink;
  long long* cycles;
  CK(cudaMalloc(&sink, 4096 * sizeof(float)));
  CK(cudaMalloc(&cycles, sms * sizeof(long long)));
  CK(cudaFuncSetAttribute(probe, cudaFuncAttributeMaxDynamicSharedMemorySize, 48 * 1024));
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  struct { const char* name; int mode; } modes[] = {
      {"mma", MMA}, {"exp", EXP}, {"fp32mix", MIX}, {"both", MMA | EXP}, {"bothmix", MMA | MIX}};
  // FLOPs of one wgmma m64n256k16: 2*64*256*16; two warpgroups per SM.
  const double mma_flops = 2.0 * 64 * 256 * 16 * 2 * (double)mma_iters * sms;
  // Exponentials: 128 threads x 16 chains per iteration per SM.
  const double exps = 128.0 * 16 * exp_iters * sms;
  int khz = 0;
  CK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0));
  printf("SMs %d, clock %d kHz; mma_iters %d exp_iters %d\n", sms, khz, mma_iters, exp_iters);
  printf("%-8s %10s %10s %12s %12s\n", "mode", "time_us", "cycles", "TFLOP/s", "Gexp/s");
  for (auto& md : modes) {
    std::vector<float> ts;
    for (int rep = 0; rep < 7; ++rep) {
      CK(cudaEventRecord(a));
      probe<<<sms, 384, 48 * 1024>>>(md.mode, mma_iters, exp_iters, sink, cycles);
      CK(cudaGetLastError());
      CK(cudaEventRecord(b));
      CK(cudaEventSynchronize(b));
      float ms;
      CK(cudaEventElapsedTime(&ms, a, b));
      ts.push_back(ms);
    }
    std::sort(ts.begin(), ts.end());
    std::vector<long long> cy(sms);
    CK(cudaMemcpy(cy.data(), cycles, sms * sizeof(long long), cudaMemcpyDeviceToHost));
    const double us = ts[3] * 1e3;
    const long long cmax = *std::max_element(cy.begin(), cy.end());
    printf("%-8s %10.1f %10lld %12.1f %12.1f\n", md.name, us, cmax, (md.mode & MMA) ? mma_flops / us * 1e-6 : 0.0,
           (md.mode & (EXP | MIX)) ? exps / us * 1e-3 : 0.0);
  }
  return 0;
}
