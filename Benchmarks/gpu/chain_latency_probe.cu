// Dependent-issue latencies of the instructions on a warp-level (mma.sync) attention CTA's critical
// path between two tile loads (issue 16 item 7: the arithmetic chain of an unpipelined decode step).
// Each chain is N dependent instructions in a loop of one CTA; cycles from clock64 / N. Printed:
//   hmma      mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32, each on the previous accumulator
//   lds       ld.shared.u32 whose address is the previous load's value (one warp)
//   ldsm      ldmatrix.sync.aligned.m8n8.x4.shared.b16 whose address comes from the previous result
//   smem_rt   a value through shared memory to another warp and back: st.shared, bar.sync (2 warps),
//             ld.shared of the other warp's value (a cross-warp reduction's step), per round trip
//   bar       bar.sync of 2 warps alone
//   ffma      fma.rn.f32 on the previous result (the reference: 4 cycles on sm_90)
// Reported per chain: cycles per dependent instruction, median of 5 launches.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
#define CK(x)                                                                          \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      fprintf(stderr, "CUDA error %s at line %d\n", cudaGetErrorString(e_), __LINE__); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

constexpr int N = 4096;

__global__ void hmma(long long* cyc, float* out) {
  uint32_t a0 = 0x3c003c00u, a1 = a0, a2 = a0, a3 = a0, b0 = 0x00000000u, b1 = b0;
  float d0 = threadIdx.x, d1 = 0, d2 = 0, d3 = 0;
  long long c0 = clock64();
#pragma unroll 16
  for (int i = 0; i < N; ++i)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  long long c1 = clock64();
  if (threadIdx.x == 0) cyc[0] = c1 - c0;
  out[threadIdx.x] = d0 + d1 + d2 + d3;
}

__global__ void lds(long long* cyc, uint32_t* out) {
  __shared__ uint32_t s[1024];
  for (int i = threadIdx.x; i < 1024; i += blockDim.x) s[i] = ((i * 4 + 132) % 4096);  // byte offsets, a cycle
  __syncthreads();
  uint32_t base = (uint32_t)__cvta_generic_to_shared(s), a = (threadIdx.x * 4) % 4096;
  long long c0 = clock64();
#pragma unroll 16
  for (int i = 0; i < N; ++i) asm volatile("ld.shared.u32 %0, [%1];" : "=r"(a) : "r"(base + a));
  long long c1 = clock64();
  if (threadIdx.x == 0) cyc[0] = c1 - c0;
  out[threadIdx.x] = a;
}

__global__ void ldsm(long long* cyc, uint32_t* out) {
  __shared__ __align__(16) uint16_t s[8 * 1024];
  for (int i = threadIdx.x; i < 8 * 1024; i += blockDim.x) s[i] = 0;  // every result is 0: the address stays
  __syncthreads();
  uint32_t base = (uint32_t)__cvta_generic_to_shared(s) + (threadIdx.x % 32) * 16, r0 = 0, r1 = 0, r2 = 0, r3 = 0;
  long long c0 = clock64();
#pragma unroll 16
  for (int i = 0; i < N; ++i)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(base + r0));
  long long c1 = clock64();
  if (threadIdx.x == 0) cyc[0] = c1 - c0;
  out[threadIdx.x] = r0 + r1 + r2 + r3;
}

__global__ void smem_rt(long long* cyc, float* out) {
  __shared__ float s[64];
  float v = threadIdx.x;
  const int other = (threadIdx.x + 32) % 64;
  long long c0 = clock64();
  for (int i = 0; i < N; ++i) {
    s[threadIdx.x] = v;
    asm volatile("bar.sync 1, 64;" ::: "memory");
    v = fmaxf(v, s[other]) + 1.f;  // the other warp's value, combined (a row max across warps)
    asm volatile("bar.sync 1, 64;" ::: "memory");
  }
  long long c1 = clock64();
  if (threadIdx.x == 0) cyc[0] = c1 - c0;
  out[threadIdx.x] = v;
}

__global__ void bar(long long* cyc, float* out) {
  long long c0 = clock64();
#pragma unroll 16
  for (int i = 0; i < N; ++i) asm volatile("bar.sync 1, 64;" ::: "memory");
  long long c1 = clock64();
  if (threadIdx.x == 0) cyc[0] = c1 - c0;
  out[threadIdx.x] = 0;
}

__global__ void ffma(long long* cyc, float* out) {
  float f = threadIdx.x;
  long long c0 = clock64();
#pragma unroll 16
  for (int i = 0; i < N; ++i) asm volatile("fma.rn.f32 %0, %0, %0, %0;" : "+f"(f));
  long long c1 = clock64();
  if (threadIdx.x == 0) cyc[0] = c1 - c0;
  out[threadIdx.x] = f;
}

int main() {
  long long* cyc;
  void* out;
  CK(cudaMalloc(&cyc, 64));
  CK(cudaMalloc(&out, 1 << 16));
  auto run = [&](const char* name, int threads, auto launch) {
    std::vector<double> v;
    for (int r = 0; r < 6; ++r) {
      launch(threads);
      CK(cudaDeviceSynchronize());
      CK(cudaGetLastError());
      long long h;
      CK(cudaMemcpy(&h, cyc, 8, cudaMemcpyDeviceToHost));
      if (r) v.push_back((double)h / N);
    }
    std::sort(v.begin(), v.end());
    printf("%s,%d,%.2f,%.2f,%.2f\n", name, threads, v[v.size() / 2], v.front(), v.back());
  };
  printf("chain,threads,cycles_per_dependent_instruction_median,min,max\n");
  run("hmma", 32, [&](int t) { hmma<<<1, t>>>(cyc, (float*)out); });
  run("lds", 32, [&](int t) { lds<<<1, t>>>(cyc, (uint32_t*)out); });
  run("ldsm", 32, [&](int t) { ldsm<<<1, t>>>(cyc, (uint32_t*)out); });
  run("smem_rt", 64, [&](int t) { smem_rt<<<1, t>>>(cyc, (float*)out); });
  run("bar", 64, [&](int t) { bar<<<1, t>>>(cyc, (float*)out); });
  run("ffma", 32, [&](int t) { ffma<<<1, t>>>(cyc, (float*)out); });
  return 0;
}
