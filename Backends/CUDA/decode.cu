// Host driver of the decode kernels (decode.cuh): builds deterministic inputs, runs one decode
// call, writes O and LSE as .npy, and optionally times it.
//
//   decode KERNEL DTYPE --B b --H h [--Hkv hkv] [--N nq] --Nk nk --D d [--splits S] [--block 16]
//          [--table shuffled|identity] [--sms n] [--seed s] [--out DIR] [--time R]
//   KERNEL: split-kv | paged-v1 | paged-v2      DTYPE: fp16 | bf16      D: 64 | 128
//
// split-kv: FlashAttention-2's split-KV decode, GQA packed; S from --splits or FlashAttention-2's
// heuristic with the device's SM count (printed). With --block b the K/V cache is paged (iosim's
// `--kv-layout paged --block-size b`). paged-v1/v2: vLLM's PagedAttention kernels, always paged
// (--block, default 16).
//
// Inputs exactly as driver.cu makes them (Q from t = 0, K from 1, V from 2, the same generator and
// values; this file keeps its own copies of the generator, threaded, and of write_npy(), so that
// the recorded attn kernels' driver stays untouched): Q is [B, H, Nq, D], K and V are logical
// [B, Hkv, Nk, D]. A paged cache stores them in physical blocks [n_blocks][Hkv][b][D] in an order
// given by a SplitMix64 Fisher–Yates permutation of the B·⌈Nk/b⌉ blocks (seeded; --table identity
// keeps them in order) and a block table int32 [B][⌈Nk/b⌉]. The slots of a last block past Nk
// hold NaN: a kernel that lets them into O fails.
//
// Bad input: one line on stderr, exit 64.
#include "common.cuh"
#include "decode.cuh"
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

// driver.cu's generate() (the same values), rounded to T and computed by several threads: chunk c starts from the state
// after i0 steps, x_{i0} = a^{i0}·x_0 + c·(1 + a + … + a^{i0−1}) (mod 2^64), found by squaring.
// Large K/V caches (268 M elements at Nk = 32K) would otherwise cost seconds of device time.
template <typename T> static void generate_into(uint64_t seed, int t, size_t n, T* out) {
  const uint64_t A = 6364136223846793005ull, C = 1442695040888963407ull;
  const uint64_t x0 = seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(t + 1));
  auto jump = [&](size_t steps) {  // state after `steps` steps from x0
    uint64_t mul = 1, add = 0, pm = A, pa = C;  // (mul, add): x -> mul·x + add; (pm, pa): 2^k steps
    for (size_t k = steps; k; k >>= 1) {
      if (k & 1) mul *= pm, add = add * pm + pa;
      pa = pa * pm + pa, pm *= pm;
    }
    return mul * x0 + add;
  };
  const int threads = (int)std::max(1u, std::min(32u, std::thread::hardware_concurrency()));
  const size_t per = (n + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int c = 0; c < threads; ++c)
    pool.emplace_back([&, c] {
      const size_t i0 = std::min(n, c * per), i1 = std::min(n, i0 + per);
      uint64_t x = jump(i0);
      for (size_t i = i0; i < i1; ++i) {
        x = x * A + C;
        out[i] = Elem<T>::from_float((float)((double)((int64_t)(x >> 44) - 524288) / 524288.0));
      }
    });
  for (auto& th : pool) th.join();
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

[[noreturn]] static void usage_error(const std::string& msg) {
  fprintf(stderr, "decode: %s\n", msg.c_str());
  exit(64);
}

struct Options {
  std::string kernel, dtype, out, table = "shuffled";
  int B = 1, H = 1, Hkv = 0, Nq = 1, Nk = 0, D = 64, splits = 0, block = 0, sms = 0, reps = 0;
  uint64_t seed = 0;
};

static uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <typename T, int D> int run(const Options& a) {
  using namespace decode;
  const int g = a.H / a.Hkv, BC = bc_for(D);
  const bool paged = a.block > 0;
  const size_t nq = (size_t)a.B * a.H * a.Nq * D, nkv = (size_t)a.B * a.Hkv * a.Nk * D, R = (size_t)a.B * a.H * a.Nq;
  const int tc = (a.Nk + BC - 1) / BC;

  // The call's plan: ranges of column tiles per CTA.
  Plan plan{Plan::SplitKV, 1, tc};
  if (a.kernel == "split-kv") {
    int S = a.splits;
    if (S == 0) {
      const int mblocks = (g * a.Nq + 63) / 64;
      S = splits_heuristic(a.B * a.Hkv * mblocks, 2 * a.sms, tc, MAX_SPLITS);
    }
    plan.splits = S;
    plan.per = (tc + S - 1) / S;
    printf("sms=%d splits=%d tiles=%dx%d\n", a.sms, S, BR, BC);
  } else if (a.kernel == "paged-v1") {
    plan.kind = Plan::PagedV1;
    printf("tiles=%dx%d block=%d\n", BR, BC, a.block);
  } else {
    plan.kind = Plan::PagedV2;
    plan.per = std::max(1, 512 / BC);  // vLLM's PARTITION_SIZE = 512 tokens
    plan.splits = (tc + plan.per - 1) / plan.per;
    printf("partitions=%d tiles=%dx%d block=%d\n", plan.splits, BR, BC, a.block);
  }

  // Inputs, rounded to T.
  std::vector<T> hq(nq), hk(nkv), hv(nkv);
  double checksum = 0;
  generate_into(a.seed, 0, nq, hq.data());
  for (size_t i = 0; i < std::min(nq, (size_t)1000); ++i) checksum += Elem<T>::to_float(hq[i]);
  generate_into(a.seed, 1, nkv, hk.data());
  generate_into(a.seed, 2, nkv, hv.data());
  // Paged layout: physical blocks [n][Hkv][b][D] in a shuffled order, the table [B][nblk].
  const int nblk = paged ? (a.Nk + a.block - 1) / a.block : 0;
  std::vector<int> table;
  size_t kv_elems = nkv;
  if (paged) {
    const size_t n = (size_t)a.B * nblk, blk = (size_t)a.Hkv * a.block * D;
    std::vector<int> perm(n);
    for (size_t i = 0; i < n; ++i) perm[i] = (int)i;
    if (a.table == "shuffled") {
      uint64_t s = a.seed ^ 0x5DEECE66Dull;
      for (size_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[splitmix(s) % (i + 1)]);
    }
    table.assign(perm.begin(), perm.end());  // logical block (b, i) -> physical perm[b·nblk + i]
    kv_elems = n * blk;
    std::vector<T> pk(kv_elems, Elem<T>::from_float(NAN)), pv(kv_elems, Elem<T>::from_float(NAN));
    std::vector<std::thread> pool;
    for (int b = 0; b < a.B; ++b)
      pool.emplace_back([&, b] {
        for (int h = 0; h < a.Hkv; ++h)
          for (int t = 0; t < a.Nk; ++t) {
            const size_t src = (((size_t)b * a.Hkv + h) * a.Nk + t) * D;
            const size_t dst = (((size_t)table[(size_t)b * nblk + t / a.block] * a.Hkv + h) * a.block + t % a.block) * D;
            std::copy(hk.begin() + src, hk.begin() + src + D, pk.begin() + dst);
            std::copy(hv.begin() + src, hv.begin() + src + D, pv.begin() + dst);
          }
      });
    for (auto& th : pool) th.join();
    hk.swap(pk);
    hv.swap(pv);
  }

  // K/V copies rotated between timed calls while the cache is under 4x the 50 MB L2, as
  // Benchmarks/gpu/torch_decode.py does for PyTorch.
  const size_t kv_bytes = 2 * kv_elems * sizeof(T);
  const int copies = a.reps > 0 ? (int)std::max<size_t>(1, (4 * 50000000ull + kv_bytes - 1) / kv_bytes) : 1;
  T *q, *o;
  CK(cudaMalloc(&q, nq * sizeof(T)));
  CK(cudaMalloc(&o, nq * sizeof(T)));
  CK(cudaMemcpy(q, hq.data(), nq * sizeof(T), cudaMemcpyHostToDevice));
  std::vector<T*> ks(copies), vs(copies);
  for (int c = 0; c < copies; ++c) {
    CK(cudaMalloc(&ks[c], kv_elems * sizeof(T)));
    CK(cudaMalloc(&vs[c], kv_elems * sizeof(T)));
    CK(cudaMemcpy(ks[c], hk.data(), kv_elems * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(vs[c], hv.data(), kv_elems * sizeof(T), cudaMemcpyHostToDevice));
  }
  int* dtable = nullptr;
  if (paged) {
    CK(cudaMalloc(&dtable, table.size() * sizeof(int)));
    CK(cudaMemcpy(dtable, table.data(), table.size() * sizeof(int), cudaMemcpyHostToDevice));
  }
  float *lse, *opart = nullptr, *lpart = nullptr;
  T* tmp = nullptr;
  CK(cudaMalloc(&lse, R * sizeof(float)));
  CK(cudaMemset(lse, 0, R * sizeof(float)));
  if (plan.kind == Plan::SplitKV && plan.splits > 1) {
    CK(cudaMalloc(&opart, (size_t)plan.splits * R * D * sizeof(float)));
    CK(cudaMalloc(&lpart, (size_t)plan.splits * R * sizeof(float)));
  } else if (plan.kind == Plan::PagedV2) {
    CK(cudaMalloc(&tmp, (size_t)plan.splits * R * D * sizeof(T)));
    CK(cudaMalloc(&lpart, (size_t)2 * plan.splits * R * sizeof(float)));
  }
  Params<T> p{};
  p.q = q;
  p.table = dtable;
  p.max_blocks = nblk;
  p.B = a.B, p.H = a.H, p.Hkv = a.Hkv, p.Nq = a.Nq, p.Nk = a.Nk;
  p.packed = plan.kind == Plan::SplitKV;
  p.rows = p.packed ? g * a.Nq : a.Nq;
  p.scale = 1.0f / sqrtf((float)D);
  p.o = o;
  // vLLM's kernels write no LSE: the paged kernels write it only for a recording (--out).
  p.lse = plan.kind == Plan::SplitKV || !a.out.empty() ? lse : nullptr;
  p.opart = opart, p.lpart = lpart, p.tmp = tmp;
  cudaStream_t st;
  CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  auto call = [&](int c) {
    p.k = ks[c], p.v = vs[c];
    run<T, D>(p, plan, st);
  };
  call(0);
  CK(cudaStreamSynchronize(st));
  printf("q_checksum=%.17g\n", checksum);
  if (!a.out.empty()) {
    std::vector<T> h(nq);
    std::vector<float> of(nq), lf(R);
    CK(cudaMemcpy(h.data(), o, nq * sizeof(T), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < nq; ++i) of[i] = Elem<T>::to_float(h[i]);
    CK(cudaMemcpy(lf.data(), lse, R * sizeof(float), cudaMemcpyDeviceToHost));
    write_npy(a.out + "/o.npy", of, {a.B, a.H, a.Nq, D});
    write_npy(a.out + "/lse.npy", lf, {a.B, a.H, a.Nq});
  }
  if (a.reps > 0) {
    // Median over 30 samples of (events around `reps` back-to-back calls replayed from one CUDA
    // graph) / reps, after warm-up: Benchmarks/gpu/torch_decode.py's method for PyTorch.
    const int reps = std::max(copies, copies * (a.reps / copies));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed));
    for (int r = 0; r < reps; ++r) call(r % copies);
    CK(cudaStreamEndCapture(st, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    for (int w = 0; w < 3; ++w) CK(cudaGraphLaunch(exec, st));
    CK(cudaStreamSynchronize(st));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    std::vector<float> us;
    for (int sample = 0; sample < 30; ++sample) {
      CK(cudaEventRecord(e0, st));
      CK(cudaGraphLaunch(exec, st));
      CK(cudaEventRecord(e1, st));
      CK(cudaEventSynchronize(e1));
      float ms;
      CK(cudaEventElapsedTime(&ms, e0, e1));
      us.push_back(1000.f * ms / reps);
    }
    std::sort(us.begin(), us.end());
    const double med = 0.5 * (us[14] + us[15]);
    const double logical = 2.0 * a.B * a.Hkv * (double)a.Nk * D * sizeof(T);
    printf("time_us=%.3f kv_gbps=%.1f min_us=%.3f max_us=%.3f reps=%d copies=%d\n", med, logical / med / 1e3, us.front(), us.back(), reps, copies);
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) usage_error("usage: decode split-kv|paged-v1|paged-v2 fp16|bf16 --B b --H h [--Hkv hkv] [--N nq] --Nk nk --D 64|128 [--splits S] [--block 16] [--table shuffled|identity] [--sms n] [--seed s] [--out DIR] [--time R]");
  Options a;
  a.kernel = argv[1], a.dtype = argv[2];
  auto integer = [](const std::string& flag, const std::string& v) {
    char* end = nullptr;
    errno = 0;
    const long long x = strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end || errno || x < 0 || x > 1000000000) usage_error(flag + " needs a non-negative integer, got '" + v + "'");
    return x;
  };
  for (int i = 3; i < argc; ++i) {
    const std::string f = argv[i];
    if (i + 1 >= argc) usage_error(f + " needs a value");
    const std::string v = argv[++i];
    if (f == "--B") a.B = (int)integer(f, v);
    else if (f == "--H") a.H = (int)integer(f, v);
    else if (f == "--Hkv") a.Hkv = (int)integer(f, v);
    else if (f == "--N") a.Nq = (int)integer(f, v);
    else if (f == "--Nk") a.Nk = (int)integer(f, v);
    else if (f == "--D") a.D = (int)integer(f, v);
    else if (f == "--splits") { a.splits = (int)integer(f, v); if (a.splits == 0) usage_error("--splits must be positive"); }
    else if (f == "--block") a.block = (int)integer(f, v);
    else if (f == "--sms") a.sms = (int)integer(f, v);
    else if (f == "--seed") a.seed = (uint64_t)integer(f, v);
    else if (f == "--time") a.reps = (int)integer(f, v);
    else if (f == "--out") a.out = v;
    else if (f == "--table") a.table = v;
    else usage_error("unknown option " + f);
  }
  if (a.kernel != "split-kv" && a.kernel != "paged-v1" && a.kernel != "paged-v2") usage_error("unknown kernel '" + a.kernel + "' (split-kv, paged-v1, paged-v2)");
  if (a.dtype != "fp16" && a.dtype != "bf16") usage_error("unknown dtype '" + a.dtype + "' (fp16, bf16)");
  if (a.Hkv == 0) a.Hkv = a.H;
  if (a.B <= 0 || a.H <= 0 || a.Hkv <= 0 || a.Nq <= 0 || a.Nk <= 0) usage_error("--B, --H, --Hkv, --N and --Nk must be positive");
  if (a.H % a.Hkv) usage_error("--H must be a multiple of --Hkv");
  if (a.D != 64 && a.D != 128) usage_error("--D must be 64 or 128");
  if (a.kernel != "split-kv" && a.block == 0) a.block = 16;
  if (a.block != 0 && a.block != 16) usage_error("--block must be 16 (vLLM's block size)");
  if (a.kernel != "split-kv" && a.splits) usage_error("--splits is for split-kv only");
  if (a.splits > decode::MAX_SPLITS) usage_error("--splits must be at most 128");
  if (a.table != "shuffled" && a.table != "identity") usage_error("--table must be shuffled or identity");
  if (a.kernel == "paged-v2" && (a.Nk + 511) / 512 > 1024) usage_error("paged-v2 takes at most 1024 partitions (Nk <= 524288)");
  if ((double)a.B * a.Hkv * a.Nk * a.D > 2e9 || (double)a.B * a.H * a.Nq * a.D > 2e9) usage_error("problem too large for this driver");
  if (a.sms == 0) {
    int dev;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&a.sms, cudaDevAttrMultiProcessorCount, dev));
  }
  const bool half = a.dtype == "fp16";
  if (a.D == 64) return half ? run<__half, 64>(a) : run<__nv_bfloat16, 64>(a);
  return half ? run<__half, 128>(a) : run<__nv_bfloat16, 128>(a);
}
