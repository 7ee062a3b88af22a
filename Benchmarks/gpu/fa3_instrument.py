#!/usr/bin/env python3
"""Patch a COPY of Backends/CUDA/fa3.cuh with per-phase clock stamps (never the original).

usage: fa3_instrument.py SRC_FA3_CUH DST_FA3_CUH     writes the patched header
       fa3_instrument.py --driver DST_CU             writes the timing/profile driver

Thread 0 of each consumer warpgroup reads %clock at every phase boundary of an iteration and adds
the difference to a 32-bit register accumulator per phase; at the end it stores them, its
iteration count, its clock64 span and its globaltimer span into fa3_prof[block][consumer][16].
Phases (same indices for both loop shapes; a phase absent in one shape stays 0):
  0 kwait   mbar_wait(kfull)              1 turn    turn_wait (named barrier)
  2 issue   issue_s (+ overlap: vfull wait, issue_pv) + turn_pass
  3 swait   wgmma wait for S, release K, mask
  4 softmax max, shuffles, alpha, exp, row sums     5 pvwait  wgmma wait for PV, release V
  6 rescale O *= alpha                  7 to_p    fp32 -> fp16 packing of P
  8 vwait   mbar_wait(vfull) (no overlap)   9 issue_pv (no overlap)
 10 edge    overlap: a tile's first S/softmax and its last PV     11 tile   init, Q wait, epilogue
 12 iterations   13 final barrier   14 clock64 span   15 globaltimer span (ns)
"""
import sys

HEADER = r'''constexpr int STAGES = FA3_STAGES;
#ifndef FA3_PROF
#define FA3_PROF 1
#endif
__device__ unsigned long long fa3_prof[1024][2][16];
__device__ __forceinline__ unsigned prof_clk() {
  unsigned r;
  asm volatile("mov.u32 %0, %%clock;" : "=r"(r)::"memory");
  return r;
}
__device__ __forceinline__ unsigned long long prof_gt() {
  unsigned long long r;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(r)::"memory");
  return r;
}
#if FA3_PROF
#define PH(k) do { const unsigned n_ = prof_clk(); acc_[k] += n_ - pt_; pt_ = n_; } while (0)
#else
#define PH(k) do { } while (0)
#endif
'''

# (old, new): every old must occur exactly once in fa3.cuh.
PATCHES = [
    ("constexpr int STAGES = FA3_STAGES;\n", HEADER),
    ("  if (FA3_PINGPONG && c == 1) bar_arrive(1, 256);\n",
     "  if (FA3_PINGPONG && c == 1) bar_arrive(1, 256);\n"
     "  unsigned acc_[14] = {};\n  unsigned pt_ = prof_clk();\n"
     "  const long long c0_ = clock64();\n  const unsigned long long g0_ = prof_gt();\n"),
    # overlap path: first tile, steady loop, tail
    ("""      pst = st, pph = ph, ++it;
      for (int j = 1; j < jn; ++j, ++it) {
        st = it % STAGES, ph = (it / STAGES) & 1;
        mbar_wait(kfull + st, ph);
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
      if (lane == 0) mbar_arrive(qempty);  // every S GEMM of this tile is done
      mbar_wait(vfull + pst, pph);
      issue_pv(pst);
      wg_wait<0>();
      pin(o);
      release(vempty + pst);
""", """      pst = st, pph = ph, ++it;
      PH(10);
      for (int j = 1; j < jn; ++j, ++it) {
        st = it % STAGES, ph = (it / STAGES) & 1;
        mbar_wait(kfull + st, ph);
        PH(0);
        turn_wait();
        PH(1);
        issue_s(st);
        mbar_wait(vfull + pst, pph);
        issue_pv(pst);
        turn_pass();
        PH(2);
        wg_wait<1>();
        pin(sc);
        release(kempty + st);
        mask(j, r0);
        PH(3);
        softmax();
        PH(4);
        wg_wait<0>();
        pin(o);
        pin(p);
        release(vempty + pst);
        PH(5);
        rescale();
        PH(6);
        to_p();
        PH(7);
        acc_[12] += 1;
        pst = st, pph = ph;
      }
      if (lane == 0) mbar_arrive(qempty);  // every S GEMM of this tile is done
      mbar_wait(vfull + pst, pph);
      issue_pv(pst);
      wg_wait<0>();
      pin(o);
      release(vempty + pst);
      PH(10);
"""),
    # no-overlap path
    ("""        mbar_wait(kfull + st, ph);
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
""", """        mbar_wait(kfull + st, ph);
        PH(0);
        turn_wait();
        PH(1);
        issue_s(st);
        turn_pass();
        PH(2);
        wg_wait<0>();
        pin(sc);
        release(kempty + st);
        if (j == jn - 1 && lane == 0) mbar_arrive(qempty);
        mask(j, r0);
        PH(3);
        softmax();
        PH(4);
        rescale();
        PH(6);
        to_p();
        PH(7);
        mbar_wait(vfull + st, ph);
        PH(8);
        issue_pv(st);
        PH(9);
        wg_wait<0>();
        pin(o);
        release(vempty + st);
        PH(5);
        acc_[12] += 1;
"""),
    ("    mbar_wait(qfull, tl & 1);\n", "    mbar_wait(qfull, tl & 1);\n    PH(11);\n"),
    ("""    int pst = 0;
    uint32_t pph = 0;
""", """    int pst = 0;
    uint32_t pph = 0;
    PH(11);
"""),
    ("  if (FA3_PINGPONG && c == 0) bar_sync(1, 256);  // consumer 1's last pass, so no barrier is left half-arrived\n",
     "  PH(11);\n"
     "  if (FA3_PINGPONG && c == 0) bar_sync(1, 256);  // consumer 1's last pass, so no barrier is left half-arrived\n"
     "  PH(13);\n"
     "#if FA3_PROF\n"
     "  if (tid == 0) {\n"
     "    const long long c1_ = clock64();\n    const unsigned long long g1_ = prof_gt();\n"
     "#pragma unroll\n    for (int k = 0; k < 14; ++k) fa3_prof[blockIdx.x][c][k] = acc_[k];\n"
     "    fa3_prof[blockIdx.x][c][14] = (unsigned long long)(c1_ - c0_);\n"
     "    fa3_prof[blockIdx.x][c][15] = g1_ - g0_;\n  }\n#endif\n"),
]

DRIVER = r'''// Generated by Benchmarks/gpu/fa3_instrument.py: times fa3 (fp16, non-causal, B = 4, N = 4096,
// H = 2048/d) and, when built with the patched header, prints per-phase cycles per iteration.
#include "common.cuh"
#include "fa3.cuh"
#include <cmath>
#include <cstdio>
#include <vector>
#ifndef FA3_PROF
#define FA3_PROF 0
#endif
#ifndef PROF_BUILD
#define PROF_BUILD 0
#endif
int main() {
  const char* names[16] = {"kwait", "turn", "issue", "swait", "softmax", "pvwait", "rescale", "to_p",
                           "vwait", "issue_pv", "edge", "tile", "iters", "final"};
  for (int d : {64, 128}) {
    Shape s{4, 2048 / d, 4096, d, false, 1.0f / sqrtf((float)d)};
    const size_t n = (size_t)s.B * s.H * s.N * s.D;
    __half *q, *k, *v, *o;
    float* lse;
    for (__half** p : {&q, &k, &v, &o}) CK(cudaMalloc(p, n * sizeof(__half)));
    CK(cudaMalloc(&lse, (size_t)s.B * s.H * s.N * sizeof(float)));
    for (int t = 0; t < 3; ++t) {  // fa3_dev's timing inputs (a cheap hash)
      std::vector<__half> h(n);
      for (size_t i = 0; i < n; ++i) h[i] = __float2half((float)((int)((i * 2654435761u + t * 97u) % 2048u) - 1024) / 1024.f);
      CK(cudaMemcpy(t == 0 ? q : t == 1 ? k : v, h.data(), n * sizeof(__half), cudaMemcpyHostToDevice));
    }
    for (int r = 0; r < 3; ++r) fa3::run<__half>(q, k, v, o, lse, s);
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    const int reps = 20;
    CK(cudaEventRecord(e0));
    for (int r = 0; r < reps; ++r) fa3::run<__half>(q, k, v, o, lse, s);
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    std::vector<__half> ho(n);
    CK(cudaMemcpy(ho.data(), o, n * sizeof(__half), cudaMemcpyDeviceToHost));
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += fabs((double)__half2float(ho[i]));
    printf("%s d=%d B=%d H=%d N=%d: %.1f us (mean of %d launches), sum|O| = %.6e\n", PROF_BUILD ? "instrumented" : "uninstrumented",
           d, s.B, s.H, s.N, 1000.0 * ms / reps, reps, sum);
#if PROF_BUILD
    static unsigned long long h[1024][2][16];
    memset(h, 0, sizeof(h));
    CK(cudaMemcpyToSymbol(fa3::fa3_prof, h, sizeof(h)));
    fa3::run<__half>(q, k, v, o, lse, s);  // one profiled launch
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpyFromSymbol(h, fa3::fa3_prof, sizeof(h)));
    int sms;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    double tot[16] = {0};
    double span_max = 0, gt_max = 0;
    for (int b = 0; b < sms; ++b)
      for (int c = 0; c < 2; ++c) {
        for (int x = 0; x < 16; ++x) tot[x] += (double)h[b][c][x];
        span_max = std::max(span_max, (double)h[b][c][14]);
        gt_max = std::max(gt_max, (double)h[b][c][15]);
      }
    const double it = tot[12], wgs = 2.0 * sms;
    printf("  CTAs %d, warpgroup iterations %.0f (steady loop), SM clock %.3f GHz (clock64 span / globaltimer span)\n", sms, it,
           tot[14] / tot[15]);
    double loop = 0;
    printf("  %-8s %12s %12s\n", "phase", "cycles/iter", "share");
    for (int x = 0; x < 10; ++x) loop += tot[x];
    for (int x = 0; x < 10; ++x)
      if (tot[x] > 0) printf("  %-8s %12.1f %11.1f%%\n", names[x], tot[x] / it, 100.0 * tot[x] / loop);
    printf("  %-8s %12.1f   (sum of loop phases per warpgroup iteration = measured round)\n", "round", loop / it);
    printf("  per warpgroup, cycles: loop %.0f, edge %.0f, tile %.0f, final %.0f, sum %.0f; clock64 span mean %.0f max %.0f\n",
           loop / wgs, tot[10] / wgs, tot[11] / wgs, tot[13] / wgs, (loop + tot[10] + tot[11] + tot[13]) / wgs, tot[14] / wgs, span_max);
    printf("  kernel-level: profiled launch's longest warpgroup %.1f us (globaltimer); round x iterations/warpgroup / clock = %.1f us\n",
           gt_max / 1000.0, loop / wgs / (tot[14] / tot[15]) / 1000.0);
#endif
    for (void* p : {(void*)q, (void*)k, (void*)v, (void*)o, (void*)lse}) cudaFree(p);
  }
  return 0;
}
'''


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--driver":
        open(sys.argv[2], "w").write(DRIVER)
        return
    if len(sys.argv) != 3:
        sys.stderr.write("usage: fa3_instrument.py SRC_FA3_CUH DST_FA3_CUH | --driver DST_CU\n")
        sys.exit(64)
    src = open(sys.argv[1]).read()
    for old, new in PATCHES:
        if src.count(old) != 1:
            sys.stderr.write(f"fa3_instrument: anchor found {src.count(old)} times (fa3.cuh changed?): {old[:60]!r}\n")
            sys.exit(1)
        src = src.replace(old, new)
    open(sys.argv[2], "w").write(src)


if __name__ == "__main__":
    main()
