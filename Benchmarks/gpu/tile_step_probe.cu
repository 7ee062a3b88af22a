// The time of one unpipelined K-then-V tile step of a CTA, with every load of a tile in flight at
// once (issue 16 item 7: the latency-bound rate of decode CTAs with few warps).
//
// Why a new probe: the tile stream of measure_torch_paged_decode.sh kept only 5-6 of a thread's
// 16 LDG.128 in flight (ptxas interleaved each load with the XOR that consumed it, to save
// registers; its SASS, read with cuobjdump), so its 3.5 us step measured its register allocation,
// not the memory system. Here the loads are volatile asm into a register array and the XORs that
// consume them are volatile asm after the last load, so the SASS has all PER loads back to back
// (checked with cuobjdump, the count is printed by the driver script).
//
// Kernel: a CTA of NT threads does T steps; a step loads a BYTES tile of K (PER = BYTES/16/NT
// 16-byte loads per thread, coalesced), consumes it from shared memory, then loads a V tile whose
// address depends on the consumed K, consumes it. MODE 0: cp.async; MODE 1: ld.global, st.shared
// (a Triton num_stages = 1 kernel's staging), both then bar.sync and ld.shared.
// CHAIN dependent FFMAs sit between K's consumption and V's issue (a stand-in for Q K^T and the
// softmax). Thread 0 stamps %globaltimer and clock64 at the first and last step; the host takes the
// median over CTAs of ns and cycles per step, and the kernel time (CUDA events).
// Occupancy is set with dynamic shared memory: CTAs per SM = k (the SMs' 228 KiB / k, minus the
// reserved 1 KiB per CTA); the grid is G CTAs, each with its own tiles (two copies of 2 x G x T
// tiles alternate, > 50 MB L2 whenever it matters: the L2 is flushed by a 256 MiB memset first).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
#define CK(x)                                                                                  \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      fprintf(stderr, "CUDA error %s at line %d\n", cudaGetErrorString(e_), __LINE__);         \
      exit(1);                                                                                 \
    }                                                                                          \
  } while (0)

__device__ __forceinline__ uint64_t gtimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// MODE 0: every 16-byte piece of the tile by cp.async.cg into shared memory, then wait_all and
// bar.sync: all loads are in flight at once by construction (LDGSTS holds no registers), as
// FlashAttention-2's kernels stage K and V.
template <int PER, int NT>
__device__ __forceinline__ uint32_t tile_async(const uint4* p, uint4* sm, uint32_t s) {
#pragma unroll
  for (int j = 0; j < PER; ++j) {
    const uint32_t dst = (uint32_t)__cvta_generic_to_shared(sm + j * NT + threadIdx.x);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(dst), "l"(p + j * NT + threadIdx.x) : "memory");
  }
  asm volatile("cp.async.wait_all;" ::: "memory");
  __syncthreads();
#pragma unroll
  for (int j = 0; j < PER; ++j) {
    const uint4 v = sm[((j + 1) % PER) * NT + threadIdx.x];  // another thread's piece
    s ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  __syncthreads();
  return s;
}

// MODE 1: ld.global into registers, st.shared, bar.sync, ld.shared (a Triton num_stages = 1 decode
// kernel's staging). ptxas interleaves the loads with the stores (to save registers): how many
// loads it keeps in flight is its choice, as it is in such kernels.
template <int PER, int NT>
__device__ __forceinline__ uint32_t tile_regs(const uint4* p, uint4* sm, uint32_t s) {
  uint4 r[PER];
#pragma unroll
  for (int j = 0; j < PER; ++j)
    asm volatile("ld.global.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[j].x), "=r"(r[j].y), "=r"(r[j].z), "=r"(r[j].w)
                 : "l"(p + j * NT + threadIdx.x));
#pragma unroll
  for (int j = 0; j < PER; ++j) sm[j * NT + threadIdx.x] = r[j];
  __syncthreads();
#pragma unroll
  for (int j = 0; j < PER; ++j) {
    const uint4 v = sm[((j + 1) % PER) * NT + threadIdx.x];
    s ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  __syncthreads();
  return s;
}

template <int NT, int BYTES, int MODE>
__global__ void __launch_bounds__(NT) steps(const uint4* K, const uint4* V, int T, int chain, uint32_t* out,
                                            long long* stamps) {
  constexpr int TILE_U4 = BYTES / 16, PER = TILE_U4 / NT;
  static_assert(PER >= 1 && PER * NT == TILE_U4, "tile must be a multiple of 16 B per thread");
  extern __shared__ uint4 sm[];
  uint32_t s = threadIdx.x;
  float f = (float)threadIdx.x;
  long long c0 = clock64();
  uint64_t t0 = gtimer();
  for (int t = 0; t < T; ++t) {
    const size_t id = (size_t)blockIdx.x * T + t;
    s = MODE == 0 ? tile_async<PER, NT>(K + id * TILE_U4, sm, s) : tile_regs<PER, NT>(K + id * TILE_U4, sm, s);
    for (int c = 0; c < chain; ++c) asm volatile("fma.rn.f32 %0, %0, %0, %0;" : "+f"(f));
    // V's address depends on the consumed K (never changes it in practice).
    const size_t idv = id ^ (s == 0x9e3779b9u ? 1u : 0u);
    s = MODE == 0 ? tile_async<PER, NT>(V + idv * TILE_U4, sm, s) : tile_regs<PER, NT>(V + idv * TILE_U4, sm, s);
  }
  long long c1 = clock64();
  uint64_t t1 = gtimer();
  if (threadIdx.x == 0) {
    stamps[2 * blockIdx.x] = c1 - c0;
    stamps[2 * blockIdx.x + 1] = (long long)(t1 - t0);
  }
  if (s == 0x12345678u && f == 1.f) out[blockIdx.x * NT + threadIdx.x] = s;
}

struct Result {
  float kernel_us, ns_step, cyc_step, ns_step_max;
};

template <int NT, int BYTES, int MODE>
Result run(int G, int k, int T, int chain, const uint4* K, const uint4* V, size_t copy_u4, uint32_t* out,
           long long* stamps, void* scrub, int smem_per_sm) {
  // k CTAs per SM: each asks for just over 1/(k+1) of the SM's shared memory.
  const int smem = std::max(smem_per_sm / (k + 1) + 2048, BYTES);
  CK(cudaFuncSetAttribute(steps<NT, BYTES, MODE>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  std::vector<float> us, ns, cyc, nsmax;
  std::vector<long long> h(2 * G);
  for (int rep = 0; rep < 7; ++rep) {
    CK(cudaMemsetAsync(scrub, rep, 256ull << 20));
    size_t off = (rep & 1) ? copy_u4 : 0;
    CK(cudaEventRecord(a));
    steps<NT, BYTES, MODE><<<G, NT, smem>>>(K + off, V + off, T, chain, out, stamps);
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b));
    CK(cudaGetLastError());
    float ms;
    CK(cudaEventElapsedTime(&ms, a, b));
    CK(cudaMemcpy(h.data(), stamps, 16 * G, cudaMemcpyDeviceToHost));
    std::vector<double> c(G), n(G);
    for (int i = 0; i < G; ++i) c[i] = (double)h[2 * i] / T, n[i] = (double)h[2 * i + 1] / T;
    std::sort(c.begin(), c.end());
    std::sort(n.begin(), n.end());
    if (rep >= 2) us.push_back(ms * 1000.f), ns.push_back(n[G / 2]), cyc.push_back(c[G / 2]), nsmax.push_back(n[G - 1]);
  }
  auto med = [](std::vector<float> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  return {med(us), med(ns), med(cyc), med(nsmax)};
}

template <int NT, int BYTES, int MODE>
void row(int G, int k, int chain, const uint4* K, const uint4* V, size_t copy_u4, uint32_t* out, long long* stamps,
         void* scrub, int smem_per_sm, size_t tiles_per_copy) {
  int T = 64;
  while ((size_t)2 * G * T > tiles_per_copy) T /= 2;
  // Each copy holds K and V; the offset of V is half a copy.
  Result r = run<NT, BYTES, MODE>(G, k, T, chain, K, V, copy_u4, out, stamps, scrub, smem_per_sm);
  double gbps_cta = 2.0 * BYTES / r.ns_step;
  printf("%d,%d,%d,%d,%d,%d,%d,%.2f,%.1f,%.0f,%.1f,%.2f,%.0f\n", NT, BYTES, MODE, chain, G, k, T, r.kernel_us,
         r.ns_step, r.cyc_step, r.ns_step_max, gbps_cta, 2.0 * BYTES * G * T / (r.kernel_us * 1e3));
}

int main() {
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  const int SMS = p.multiProcessorCount, smem_per_sm = (int)p.sharedMemPerMultiprocessor;
  printf("device %s, %d SMs, L2 %d bytes, %d B shared memory per SM\n", p.name, SMS, p.l2CacheSize, smem_per_sm);
  // One copy: K and V regions of 512 MiB each (at 32 KiB tiles, 16384 tiles each).
  const size_t region = 512ull << 20, copy_u4 = 2 * region / 16;
  uint4* base;
  CK(cudaMalloc(&base, 2 * 2 * region));
  CK(cudaMemset(base, 1, 2 * 2 * region));
  uint32_t* out;
  CK(cudaMalloc(&out, 1 << 22));
  long long* stamps;
  CK(cudaMalloc(&stamps, 16 * 8192));
  void* scrub;
  CK(cudaMalloc(&scrub, 256ull << 20));
  const uint4* K = base;
  const uint4* V = base + region / 16;
  printf("threads,tile_bytes,mode,chain,ctas,ctas_per_sm,steps_per_cta,kernel_us,ns_per_step,cycles_per_step,"
         "ns_per_step_max,GBps_per_cta,GBps_total\n");
#define ROW(NT, B, M, G, k, c) row<NT, B, M>(G, k, c, K, V, copy_u4, out, stamps, scrub, smem_per_sm, region / (B) / 2)
  // 1. One CTA per SM on every SM, and on 64 SMs (the flex paged case), by warps and tile bytes.
  for (int G : {SMS, 64}) {
    ROW(32, 4096, 0, G, 1, 0); ROW(32, 8192, 0, G, 1, 0); ROW(32, 16384, 0, G, 1, 0);
    ROW(64, 4096, 0, G, 1, 0); ROW(64, 8192, 0, G, 1, 0); ROW(64, 16384, 0, G, 1, 0); ROW(64, 32768, 0, G, 1, 0);
    ROW(128, 4096, 0, G, 1, 0); ROW(128, 8192, 0, G, 1, 0); ROW(128, 16384, 0, G, 1, 0); ROW(128, 32768, 0, G, 1, 0);
    ROW(256, 4096, 0, G, 1, 0); ROW(256, 8192, 0, G, 1, 0); ROW(256, 16384, 0, G, 1, 0); ROW(256, 32768, 0, G, 1, 0);
  }
  // 2. A single CTA on the whole GPU (no other traffic).
  ROW(64, 4096, 0, 1, 1, 0); ROW(64, 16384, 0, 1, 1, 0); ROW(64, 32768, 0, 1, 1, 0); ROW(256, 16384, 0, 1, 1, 0);
  // 3. Several CTAs per SM (2 warps each, 16 KiB): flex's contiguous case has ~2 per SM.
  for (int k : {2, 3, 4, 8}) ROW(64, 16384, 0, SMS * k, k, 0);
  ROW(64, 16384, 0, 256, 2, 0);
  for (int k : {2, 4}) ROW(128, 16384, 0, SMS * k, k, 0);
  // 4. Through shared memory, and a dependent FFMA chain between K and V (2 warps, 16 KiB, 64 CTAs).
  ROW(64, 16384, 1, 64, 1, 0); ROW(64, 16384, 1, SMS, 1, 0); ROW(64, 16384, 1, 256, 2, 0);
  for (int c : {64, 256, 1024}) ROW(64, 16384, 0, 64, 1, c);
  return 0;
}
