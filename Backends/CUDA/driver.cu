// Host driver: builds deterministic inputs (or reads none), runs one kernel, writes O and LSE as
// .npy, and optionally times it.
//
//   attn KERNEL DTYPE --B b --H h --N n --D d [--causal] [--seed s] [--out DIR] [--time R]
//   KERNEL: standard | fa1 | fa2 | fa2-bwd | fa3 (sm_90a only)      DTYPE: fp16 | bf16 | fp8 (fa3 only)
//
// fa2-bwd: the fa2 forward gives O and LSE (outside any timing), then FlashAttention-2's backward
// (fa2_bwd.cuh: preprocess, main, convert) takes dO and writes dQ, dK, dV; --out also writes
// dq.npy, dk.npy, dv.npy; --time times the three backward launches together, TFLOP/s counted as
// 2.5x the forward's flops.
//
// Inputs: element e of Q (t = 0), K (1), V (2), dO (3) comes from a 64-bit LCG,
//   x = s ^ (0x9E3779B97F4A7C15 * (t + 1)) with s the seed, then per element
//   x = x * 6364136223846793005 + 1442695040888963407, value = ((x >> 44) - 2^19) / 2^19,
// a 20-bit fixed-point number in [-1, 1) (exact in fp32), rounded to the dtype (round to nearest
// even). Tests/CUDARecordingTests regenerates the same inputs in Swift.
//
// fp8 (fa3 only, fa3_fp8.cuh): the same generator values, as doubles, quantized to e4m3 with one
// power-of-two scale per 128-row tile of each head (fa3fp8::quantize, iosim's FP8Quantizer), V
// transposed for the kernel (fa3fp8::transpose_v); O is bf16. --out also writes the dequantized
// inputs q_deq.npy, k_deq.npy, v_deq.npy (s * e4m3(x / s), exact in fp32): the values the kernel
// computed with, which the Swift check uses as they are. --time times the attention kernel alone.
#include "common.cuh"
#include "fa1.cuh"
#include "fa2.cuh"
#include "fa2_bwd.cuh"
#include "fa3.cuh"
#include "fa3_fp8.cuh"
#include "standard.cuh"
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

static std::vector<float> generate(uint64_t seed, int t, size_t n) {
  std::vector<float> out(n);
  uint64_t x = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(t + 1));
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    out[i] = (float)((double)((int64_t)(x >> 44) - 524288) / 524288.0);
  }
  return out;
}

static void write_npy(const std::string& path, const std::vector<float>& data, const std::vector<int>& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  FILE* f = fopen((path + ".tmp").c_str(), "wb");
  if (!f) { perror(path.c_str()); exit(1); }
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const uint16_t len = (uint16_t)header.size();
  fwrite(magic, 1, 8, f);
  fwrite(&len, 2, 1, f);
  fwrite(header.data(), 1, header.size(), f);
  fwrite(data.data(), sizeof(float), data.size(), f);
  fclose(f);
  rename((path + ".tmp").c_str(), path.c_str());
}

// Forward flops: 4 N^2 d per head, half that when causal.
static double fwd_flops(const Shape& s) { return 4.0 * s.B * s.H * (double)s.N * s.N * s.D / (s.causal ? 2 : 1); }

// Times `reps` back-to-back launches (after one untimed launch) and prints time_us and tflops,
// then `note`.
template <typename F> void time_launches(F launch, int reps, double flops, const char* note) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  CK(cudaEventRecord(a));
  launch();
  CK(cudaEventRecord(b));
  CK(cudaEventSynchronize(b));
  float ms;
  CK(cudaEventElapsedTime(&ms, a, b));
  if (ms > 200) reps = 1;  // slow kernels (fa1 and standard at long N): one timed run is enough
  CK(cudaEventRecord(a));
  for (int r = 0; r < reps; ++r) launch();
  CK(cudaEventRecord(b));
  CK(cudaEventSynchronize(b));
  CK(cudaEventElapsedTime(&ms, a, b));
  const double us = 1000.0 * ms / reps;
  printf("time_us=%.3f tflops=%.3f%s\n", us, flops / us / 1e6, note);
}

template <typename T> int run(const std::string& kernel, Shape s, uint64_t seed, const std::string& out, int reps) {
  const size_t n = (size_t)s.B * s.H * s.N * s.D, rows = (size_t)s.B * s.H * s.N;
  const bool bwd = kernel == "fa2-bwd";
  T *q, *k, *v, *o, *dO = nullptr, *dq = nullptr, *dk = nullptr, *dv = nullptr;
  for (T** p : {&q, &k, &v, &o}) CK(cudaMalloc(p, n * sizeof(T)));
  float *delta = nullptr, *dqacc = nullptr;
  if (bwd) {
    for (T** p : {&dO, &dq, &dk, &dv}) CK(cudaMalloc(p, n * sizeof(T)));
    CK(cudaMalloc(&delta, rows * sizeof(float)));
    CK(cudaMalloc(&dqacc, n * sizeof(float)));
  }
  double checksum = 0;
  for (int t = 0; t < (bwd ? 4 : 3); ++t) {
    std::vector<float> x = generate(seed, t, n);
    std::vector<T> h(n);
    for (size_t i = 0; i < n; ++i) h[i] = Elem<T>::from_float(x[i]);
    if (t == 0) for (size_t i = 0; i < std::min(n, (size_t)1000); ++i) checksum += Elem<T>::to_float(h[i]);
    CK(cudaMemcpy(t == 0 ? q : t == 1 ? k : t == 2 ? v : dO, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  float* lse;
  CK(cudaMalloc(&lse, rows * sizeof(float)));
  T *S = nullptr, *P = nullptr;
  float *oacc = nullptr, *L = nullptr, *M = nullptr;
  if (kernel == "standard") {
    CK(cudaMalloc(&S, rows * standard::ld_s(s.N) * sizeof(T)));
    CK(cudaMalloc(&P, rows * standard::ld_s(s.N) * sizeof(T)));
  } else if (kernel == "fa1") {
    CK(cudaMalloc(&oacc, n * sizeof(float)));
    CK(cudaMalloc(&L, rows * sizeof(float)));
    CK(cudaMalloc(&M, rows * sizeof(float)));
  } else if (kernel != "fa2" && kernel != "fa3" && !bwd) {
    fprintf(stderr, "attn: unknown kernel '%s' (standard, fa1, fa2, fa2-bwd, fa3)\n", kernel.c_str());
    return 2;
  }
  auto launch = [&] {
    if (kernel == "standard") standard::run<T>(q, k, v, o, lse, S, P, s);
    else if (kernel == "fa1") fa1::run<T>(q, k, v, o, oacc, L, M, s);
    else if (kernel == "fa3") fa3::run<T>(q, k, v, o, lse, s);
    else if (bwd) fa2_bwd::run<T>(q, k, v, o, dO, lse, delta, dqacc, dq, dk, dv, s);
    else fa2::run<T>(q, k, v, o, lse, s);
  };
  if (bwd) fa2::run<T>(q, k, v, o, lse, s);  // O and LSE: the backward's inputs, not timed
  launch();
  CK(cudaDeviceSynchronize());
  printf("q_checksum=%.17g\n", checksum);
  if (!out.empty()) {
    std::vector<T> h(n);
    std::vector<float> of(n), lf(rows);
    CK(cudaMemcpy(h.data(), o, n * sizeof(T), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; ++i) of[i] = Elem<T>::to_float(h[i]);
    if (kernel == "fa1") {  // LSE = m + log l from the final statistics
      std::vector<float> hm(rows), hl(rows);
      CK(cudaMemcpy(hm.data(), M, rows * sizeof(float), cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(hl.data(), L, rows * sizeof(float), cudaMemcpyDeviceToHost));
      for (size_t r = 0; r < rows; ++r) lf[r] = hl[r] > 0 ? hm[r] + logf(hl[r]) : -INFINITY;
    } else {
      CK(cudaMemcpy(lf.data(), lse, rows * sizeof(float), cudaMemcpyDeviceToHost));
    }
    write_npy(out + "/o.npy", of, {s.B, s.H, s.N, s.D});
    write_npy(out + "/lse.npy", lf, {s.B, s.H, s.N});
    if (bwd) {
      for (auto [name, ptr] : {std::make_pair("dq", dq), std::make_pair("dk", dk), std::make_pair("dv", dv)}) {
        CK(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
        for (size_t i = 0; i < n; ++i) of[i] = Elem<T>::to_float(h[i]);
        write_npy(out + "/" + name + ".npy", of, {s.B, s.H, s.N, s.D});
      }
    }
  }
  if (reps > 0) time_launches(launch, reps, (bwd ? 2.5 : 1.0) * fwd_flops(s), "");
  return 0;
}

// fa3 in fp8 e4m3 (see the header): quantization and V's transposition on the host, outside any
// timing; O (bf16) and LSE as for the other dtypes, plus the dequantized inputs.
static int run_fp8(Shape s, uint64_t seed, const std::string& out, int reps) {
  const int bh = s.B * s.H, tiles = (s.N + 127) / 128;
  const size_t n = (size_t)bh * s.N * s.D, rows = (size_t)bh * s.N, nsc = (size_t)bh * tiles;
  std::vector<uint8_t> bytes[3];
  std::vector<float> scales[3], deq[3];
  for (int t = 0; t < 3; ++t) {
    const std::vector<float> x = generate(seed, t, n);
    const std::vector<double> xd(x.begin(), x.end());
    std::vector<double> d(n);
    bytes[t].resize(n);
    scales[t].resize(nsc);
    fa3fp8::quantize(xd.data(), bh, s.N, s.D, 128, bytes[t].data(), scales[t].data(), d.data());
    deq[t].assign(d.begin(), d.end());  // exact: s * e4m3(x / s) with s a power of two
  }
  // The checksum of the values the kernel computes with: the first 1000 dequantized Q values
  // (the Swift test quantizes its regenerated Q the same way and must get the same sum).
  double checksum = 0;
  for (size_t i = 0; i < std::min(n, (size_t)1000); ++i) checksum += deq[0][i];
  const std::vector<uint8_t> vt = fa3fp8::transpose_v(bytes[2].data(), bh, s.N, s.D);
  uint8_t *q, *k, *v;
  float *sq, *sk, *sv, *lse;
  __nv_bfloat16* o;
  CK(cudaMalloc(&q, n));
  CK(cudaMalloc(&k, n));
  CK(cudaMalloc(&v, vt.size()));
  for (float** p : {&sq, &sk, &sv}) CK(cudaMalloc(p, nsc * sizeof(float)));
  CK(cudaMalloc(&o, n * sizeof(__nv_bfloat16)));
  CK(cudaMalloc(&lse, rows * sizeof(float)));
  CK(cudaMemcpy(q, bytes[0].data(), n, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(k, bytes[1].data(), n, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(v, vt.data(), vt.size(), cudaMemcpyHostToDevice));
  float* sc[3] = {sq, sk, sv};
  for (int t = 0; t < 3; ++t) CK(cudaMemcpy(sc[t], scales[t].data(), nsc * sizeof(float), cudaMemcpyHostToDevice));
  const fa3fp8::Inputs in{q, k, v, sq, sk, sv};
  auto launch = [&] { fa3fp8::run(in, o, lse, s); };
  launch();
  CK(cudaDeviceSynchronize());
  printf("q_checksum=%.17g\n", checksum);
  if (!out.empty()) {
    std::vector<__nv_bfloat16> h(n);
    std::vector<float> of(n), lf(rows);
    CK(cudaMemcpy(h.data(), o, n * sizeof(__nv_bfloat16), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; ++i) of[i] = __bfloat162float(h[i]);
    CK(cudaMemcpy(lf.data(), lse, rows * sizeof(float), cudaMemcpyDeviceToHost));
    write_npy(out + "/o.npy", of, {s.B, s.H, s.N, s.D});
    write_npy(out + "/lse.npy", lf, {s.B, s.H, s.N});
    const char* names[3] = {"q_deq", "k_deq", "v_deq"};
    for (int t = 0; t < 3; ++t) write_npy(out + "/" + names[t] + ".npy", deq[t], {s.B, s.H, s.N, s.D});
  }
  // TFLOP/s counted as for fp16 (4 N^2 d per head); quantization and transposition not timed.
  if (reps > 0) time_launches(launch, reps, fwd_flops(s), " (kernel only: quantization and V transposition excluded)");
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: attn standard|fa1|fa2|fa2-bwd|fa3 fp16|bf16|fp8 (fp8: fa3 only) --B b --H h --N n --D d [--causal] [--seed s] [--out DIR] [--time R]\n");
    return 2;
  }
  const std::string kernel = argv[1], dtype = argv[2];
  Shape s{1, 1, 128, 64, false, 0};
  uint64_t seed = 0;
  std::string out;
  int reps = 0;
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { if (i + 1 >= argc) { fprintf(stderr, "attn: %s needs a value\n", a.c_str()); exit(2); } return std::string(argv[++i]); };
    if (a == "--B") s.B = std::stoi(next());
    else if (a == "--H") s.H = std::stoi(next());
    else if (a == "--N") s.N = std::stoi(next());
    else if (a == "--D") s.D = std::stoi(next());
    else if (a == "--causal") s.causal = true;
    else if (a == "--seed") seed = std::stoull(next());
    else if (a == "--out") out = next();
    else if (a == "--time") reps = std::stoi(next());
    else { fprintf(stderr, "attn: unknown option %s\n", a.c_str()); return 2; }
  }
  if (s.B <= 0 || s.H <= 0 || s.N <= 0 || s.D <= 0 || s.D % 16) { fprintf(stderr, "attn: sizes must be positive, D a multiple of 16\n"); return 2; }
  s.scale = 1.0f / sqrtf((float)s.D);
  if (dtype == "fp16") return run<__half>(kernel, s, seed, out, reps);
  if (dtype == "bf16") return run<__nv_bfloat16>(kernel, s, seed, out, reps);
  if (dtype == "fp8") {
    if (kernel == "fa3") return run_fp8(s, seed, out, reps);
    fprintf(stderr, "attn: dtype fp8 is built for kernel fa3 only, not '%s'\n", kernel.c_str());
    return 2;
  }
  fprintf(stderr, "attn: unknown dtype '%s' (fp16, bf16, fp8)\n", dtype.c_str());
  return 2;
}
