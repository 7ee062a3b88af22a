// Microbenchmark (GPU machine): the dense fp16/bf16 throughput of mma.sync m16n8k16 with fp32
// accumulation — the tensor instruction FA1/FA2-style kernels issue — on this GPU, for the
// hardware model's `tensor_flops_fp16_mma_sync`. Every warp runs 8 independent accumulator
// chains over register operands (no memory traffic), on 4 blocks of 8 warps per SM.
//   nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -o mma_peak mma_sync_peak.cu && ./mma_peak
#include <cstdio>
#include <cstdint>
#include <cuda_runtime.h>

template <bool BF16> __global__ void peak(float* out, int iters) {
  uint32_t a[4] = {0x3c003c00u ^ threadIdx.x, 0x3c003c00u, 0x3c003c00u, 0x3c003c00u}, b[2] = {0x3c003c00u, 0x3c003c00u};
  float c[8][4] = {};
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      if (BF16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[k][0]), "+f"(c[k][1]), "+f"(c[k][2]), "+f"(c[k][3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
      else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[k][0]), "+f"(c[k][1]), "+f"(c[k][2]), "+f"(c[k][3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
  }
  float s = 0;
  for (int k = 0; k < 8; ++k) s += c[k][0] + c[k][1] + c[k][2] + c[k][3];
  if (s == 1.2345f) out[0] = s;
}

int main() {
  int sms;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  float* out;
  cudaMalloc(&out, 4);
  const int iters = 20000, blocks = sms * 4, threads = 256;
  for (int bf = 0; bf < 2; ++bf) {
    for (int rep = 0; rep < 2; ++rep) {
      cudaEvent_t s, e;
      cudaEventCreate(&s); cudaEventCreate(&e);
      cudaEventRecord(s);
      if (bf) peak<true><<<blocks, threads>>>(out, iters); else peak<false><<<blocks, threads>>>(out, iters);
      cudaEventRecord(e); cudaEventSynchronize(e);
      float ms; cudaEventElapsedTime(&ms, s, e);
      const double flops = 2.0 * 16 * 8 * 16 * 8 * (double)iters * blocks * (threads / 32);
      if (rep) printf("%s mma.sync m16n8k16: %.1f TFLOP/s (%d SMs)\n", bf ? "bf16" : "fp16", flops / ms / 1e9, sms);
    }
  }
  return 0;
}
