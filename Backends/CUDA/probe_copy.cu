// Probe (diagnostic, not a kernel of the project): how many L2->SM bytes Nsight Compute counts for
// 64 MiB copied into shared memory by four kinds of 16-byte load. Run under ncu; each kernel
// should show 67,108,864 bytes if the metric counts exactly the bytes loaded.
#include <cstdio>
#include <cstdint>
#include <cuda_runtime.h>

constexpr int ROWS = 64, ROWB = 128, THREADS = 256;  // 64 rows of 128 bytes per tile

template <int MODE> __global__ void copy(const char* src, size_t tiles, int* sink) {
  __shared__ __align__(16) char tile[ROWS * (ROWB + 16)];
  int acc = 0;
  for (size_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const char* g = src + t * ROWS * ROWB;
    for (int e = threadIdx.x; e < ROWS * ROWB / 16; e += THREADS) {
      const int r = e / (ROWB / 16), c = (e % (ROWB / 16)) * 16;
      char* d = tile + r * (ROWB + 16) + c;
      const uint32_t sd = (uint32_t)__cvta_generic_to_shared(d);
      if (MODE == 0) asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sd), "l"(g + r * ROWB + c), "r"(16));
      if (MODE == 1) asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sd), "l"(g + r * ROWB + c));
      if (MODE == 2) asm volatile("cp.async.ca.shared.global [%0], [%1], 16;\n" ::"r"(sd), "l"(g + r * ROWB + c));
      if (MODE == 3) *reinterpret_cast<int4*>(d) = __ldcg(reinterpret_cast<const int4*>(g + r * ROWB + c));
    }
    asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::);
    __syncthreads();
    acc += tile[threadIdx.x];
    __syncthreads();
  }
  if (acc == 12345) *sink = acc;
}

int main() {
  const size_t bytes = 64ull << 20, tiles = bytes / (ROWS * ROWB);
  char* src; int* sink;
  cudaMalloc(&src, bytes); cudaMalloc(&sink, 4);
  cudaMemset(src, 1, bytes);
  copy<0><<<264, THREADS>>>(src, tiles, sink);
  copy<1><<<264, THREADS>>>(src, tiles, sink);
  copy<2><<<264, THREADS>>>(src, tiles, sink);
  copy<3><<<264, THREADS>>>(src, tiles, sink);
  cudaDeviceSynchronize();
  printf("probe done: %s\n", cudaGetErrorString(cudaGetLastError()));
}
