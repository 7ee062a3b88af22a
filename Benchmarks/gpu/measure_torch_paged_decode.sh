#!/usr/bin/env bash
# On the GPU machine, from the repository root: PyTorch FlexAttention decode over a paged KV cache
# (torch.nn.attention.experimental._paged_attention, page 128) vs a contiguous one, B = 8, H = 32,
# Hkv = 8, Nq = 1, Nk in {4096, 32768}, d = 128, fp16 (issue 16 item 7); Benchmarks/gpu/torch_paged_decode.py
# says what each variant is. Also a CUDA microbenchmark (its source is below, compiled to /tmp) of the
# dependent-load latency (L1, L2, DRAM) and of a table lookup before each K/V tile load.
# Writes to $OUT:
#   log.txt                    versions; the installed PagedAttention source and flex-decode split rule;
#                              per variant the kernels of one call, the error, graph/eager times; the
#                              per-launch ncu summary; the full-set details of the flex kernels
#   paged_decode_times.csv     -> Reports/gpu/paged_decode_times.csv
#   paged_decode_ncu_raw.csv   ncu --import paged.ncu-rep --csv --page raw --print-units base
#                              -> Reports/gpu/paged_decode_ncu_raw.csv
#   paged_ncu_details.txt      ncu --import paged.ncu-rep --page details (the sections, every launch)
#   paged_full_details.txt     ncu --set full on the flex decode kernel: contiguous, paged-shuffled, -nofull, Nk = 4096
#   paged_full_source.csv      that report's SASS source page with per-instruction counters and stall samples
#   dep_load_bench.txt         the microbenchmark's output
#   extras.tgz                 the .ncu-rep files, ncu's logs, the generated Triton kernels (inductor cache)
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-out}; mkdir -p "$OUT"; X=$OUT/extras; mkdir -p "$X"
exec > >(tee -a "$OUT/log.txt") 2>&1
PY=Benchmarks/gpu/torch_paged_decode.py
LIMIT=${LIMIT:-480}   # seconds for the whole script; the full-set step gets what is left
export TORCHINDUCTOR_CACHE_DIR=/tmp/inductor_cache
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader; ncu --version | tail -1
  nvcc --version | tail -1
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"; }

echo "== the installed PagedAttention and flex-decode split rule  [t=${SECONDS}s]"
PA=$(python3 -c "import torch.nn.attention.experimental._paged_attention as m; print(m.__file__)")
echo "$PA"; cat "$PA"
FD=$(python3 -c "import os, torch._inductor.kernel.flex as f; print(os.path.dirname(f.__file__))")
grep -n "def get_split_k" -A 12 "$FD/flex_decoding.py"
grep -n "TILE_KV\|block_n_start =\|block_n_last_valid =\|SPLIT_KV" "$FD/templates/flex_decode.py.jinja"
grep -rn "FlexDecodeConfig(block_n\|default_config = FlexDecodeConfig" "$(dirname "$FD")/../template_heuristics" 2>/dev/null | head

echo "== microbenchmark: dependent loads, lookup before each tile  [t=${SECONDS}s]"
cat > /tmp/dep_load_bench.cu <<'CUDA'
// Dependent-load latency and table-lookup-before-tile cost on the GPU (issue 16 item 7).
// 1. chase: one thread follows a random single-cycle permutation (128-byte node spacing):
//    L1 hit (8 KiB, ld.global.ca, warmed), L2 hit (4 MiB, ld.global.cg, warmed), DRAM (1 GiB, ld.global.cg,
//    L2 flushed by a 256 MiB memset first; TLB misses included). Cycles (clock64) and ns (%globaltimer) per load.
// 2. tiles: G CTAs of NT threads stream K/V "tiles" of 16 KiB (64 rows x 128 fp16, flex decode's BLOCK_N x d):
//    per step a K tile (16-byte coalesced loads, then consumed), then a V tile whose address depends on the
//    consumed K (K then V, as in Q K^T -> softmax -> P V with num_stages = 1). 4096 steps in all (= the
//    134 MB of K+V at B = 8, Hkv = 8, Nk = 4096, d = 128), T = 4096 / G steps per CTA. Modes:
//      0 contiguous: tile id = cta*T + t
//      1 lookup, identity table: id = table[cta*T + t] loaded (ld.global.ca) right before the tile
//      2 lookup, random table (a shuffled page order)
//      3 lookup, random table, next entry loaded one step ahead (prefetched)
//    time = median of 21 runs (CUDA events), two K/V copies alternated (268 MB > 50 MB L2).
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <vector>
#include <random>
#include <algorithm>
#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
  fprintf(stderr, "CUDA error %s at line %d\n", cudaGetErrorString(e_), __LINE__); exit(1); } } while (0)

__device__ __forceinline__ uint32_t ld_ca(const uint32_t* p) {
  uint32_t v; asm volatile("ld.global.ca.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory"); return v; }
__device__ __forceinline__ uint32_t ld_cg(const uint32_t* p) {
  uint32_t v; asm volatile("ld.global.cg.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory"); return v; }
__device__ __forceinline__ uint64_t gtimer() {
  uint64_t t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); return t; }

template <bool CG>
__global__ void chase(const uint32_t* a, uint32_t start, int warm, int steps, uint32_t* out, long long* res) {
  uint32_t i = start;
  for (int s = 0; s < warm; ++s) i = CG ? ld_cg(a + i) : ld_ca(a + i);
  long long c0 = clock64(); uint64_t t0 = gtimer();
  for (int s = 0; s < steps; ++s) i = CG ? ld_cg(a + i) : ld_ca(a + i);
  out[0] = i;  // the last load completes before the clocks are read
  long long c1 = clock64(); uint64_t t1 = gtimer();
  res[0] = c1 - c0; res[1] = (long long)(t1 - t0);
}

__device__ __forceinline__ uint4 ld16(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}

constexpr int TILE_U4 = 1024;  // 16 KiB

template <int NT, int MODE>
__global__ void tiles(const uint4* K, const uint4* V, const uint32_t* table, int T, uint32_t* out) {
  constexpr int PER = TILE_U4 / NT;
  const int base = blockIdx.x * T;
  uint32_t acc = 0;
  uint32_t nxt = MODE == 3 ? ld_ca(table + base) : 0;
  for (int t = 0; t < T; ++t) {
    uint32_t id;
    if (MODE == 0) id = base + t;
    else if (MODE == 3) { id = nxt; if (t + 1 < T) nxt = ld_ca(table + base + t + 1); }
    else id = ld_ca(table + base + t);
    const uint4* k = K + (size_t)id * TILE_U4;
    uint4 r[PER];
#pragma unroll
    for (int j = 0; j < PER; ++j) r[j] = ld16(k + j * NT + threadIdx.x);
    uint32_t s = 0;
#pragma unroll
    for (int j = 0; j < PER; ++j) s ^= r[j].x ^ r[j].y ^ r[j].z ^ r[j].w;
    uint32_t idv = id ^ (s == 0x9e3779b9u ? 1u : 0u);  // V waits for K (never true in practice)
    const uint4* v = V + (size_t)idv * TILE_U4;
#pragma unroll
    for (int j = 0; j < PER; ++j) r[j] = ld16(v + j * NT + threadIdx.x);
#pragma unroll
    for (int j = 0; j < PER; ++j) s += r[j].x ^ r[j].y ^ r[j].z ^ r[j].w;
    acc += s;
  }
  if (acc == 0x12345678u) out[blockIdx.x * NT + threadIdx.x] = acc;
}

template <int NT, int MODE>
float time_tiles(const uint4* K, const uint4* V, const uint32_t* table, int G, size_t copy_u4, uint32_t* out) {
  const int T = 4096 / G;
  cudaEvent_t a, b; CK(cudaEventCreate(&a)); CK(cudaEventCreate(&b));
  std::vector<float> ts;
  for (int r = 0; r < 24; ++r) {
    size_t off = (r & 1) ? copy_u4 : 0;
    CK(cudaEventRecord(a));
    tiles<NT, MODE><<<G, NT>>>(K + off, V + off, table, T, out);
    CK(cudaEventRecord(b));
    CK(cudaEventSynchronize(b)); CK(cudaGetLastError());
    float ms; CK(cudaEventElapsedTime(&ms, a, b));
    if (r >= 3) ts.push_back(ms * 1000.f);
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

static uint32_t* make_chase(size_t bytes, int spacing_u32, std::mt19937_64& rng, size_t* nodes_out) {
  size_t n = bytes / 4 / spacing_u32;
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = (uint32_t)i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<uint32_t> h(bytes / 4, 0);
  for (size_t i = 0; i < n; ++i) h[(size_t)order[i] * spacing_u32] = order[(i + 1) % n] * spacing_u32;
  uint32_t* d; CK(cudaMalloc(&d, bytes));
  CK(cudaMemcpy(d, h.data(), bytes, cudaMemcpyHostToDevice));
  *nodes_out = n;
  return d;
}

int main() {
  cudaDeviceProp p; CK(cudaGetDeviceProperties(&p, 0));
  printf("device %s, %d SMs, L2 %d bytes\n", p.name, p.multiProcessorCount, p.l2CacheSize);
  std::mt19937_64 rng(7);
  uint32_t* out; CK(cudaMalloc(&out, 1 << 20));
  long long* res; CK(cudaMalloc(&res, 16));
  void* scrub; CK(cudaMalloc(&scrub, 256ull << 20));
  printf("\n== dependent-load chase (one thread, random cycle, 128-byte node spacing)\n");
  printf("level,working_set_bytes,load,steps,cycles_per_load,ns_per_load,sm_clock_mhz\n");
  struct Case { const char* level; size_t bytes; bool cg; int warm_passes; int steps; };
  Case cases[] = {{"L1", 8 << 10, false, 4, 20000}, {"L2", 4 << 20, true, 1, 20000},
                  {"DRAM", 1ull << 30, true, 0, 4000}};
  for (auto& c : cases) {
    size_t n; uint32_t* a = make_chase(c.bytes, 32, rng, &n);
    for (int rep = 0; rep < 3; ++rep) {
      CK(cudaMemset(scrub, rep, 256ull << 20));  // evict L2
      int warm = (int)std::min<size_t>(n * c.warm_passes, 1u << 22);
      if (c.cg) chase<true><<<1, 1>>>(a, 0, warm, c.steps, out, res);
      else chase<false><<<1, 1>>>(a, 0, warm, c.steps, out, res);
      CK(cudaDeviceSynchronize()); CK(cudaGetLastError());
      long long h[2]; CK(cudaMemcpy(h, res, 16, cudaMemcpyDeviceToHost));
      printf("%s,%zu,%s,%d,%.1f,%.1f,%.0f\n", c.level, c.bytes, c.cg ? "ld.global.cg" : "ld.global.ca", c.steps,
             (double)h[0] / c.steps, (double)h[1] / c.steps, (double)h[0] / (double)h[1] * 1000.0);
    }
    CK(cudaFree(a));
  }

  printf("\n== tile stream: per step a 16 KiB K tile then a dependent 16 KiB V tile, 4096 steps in all\n");
  const size_t ntiles = 4096, copy_u4 = ntiles * TILE_U4;
  uint4 *K, *V; CK(cudaMalloc(&K, 2 * copy_u4 * 16)); CK(cudaMalloc(&V, 2 * copy_u4 * 16));
  CK(cudaMemset(K, 1, 2 * copy_u4 * 16)); CK(cudaMemset(V, 2, 2 * copy_u4 * 16));
  std::vector<uint32_t> ident(ntiles), perm(ntiles);
  for (size_t i = 0; i < ntiles; ++i) ident[i] = perm[i] = (uint32_t)i;
  std::shuffle(perm.begin(), perm.end(), rng);
  uint32_t *tid, *tperm; CK(cudaMalloc(&tid, ntiles * 4)); CK(cudaMalloc(&tperm, ntiles * 4));
  CK(cudaMemcpy(tid, ident.data(), ntiles * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(tperm, perm.data(), ntiles * 4, cudaMemcpyHostToDevice));
  const char* names[] = {"contiguous", "lookup-identity", "lookup-random", "lookup-random-prefetched"};
  printf("threads,ctas,steps_per_cta,mode,time_us,kv_GBps,ns_per_step\n");
  int grids[] = {64, 128, 256, 512, 1024};
  for (int nt : {64, 128}) for (int G : grids) for (int mode = 0; mode < 4; ++mode) {
    const uint32_t* tb = mode == 1 ? tid : tperm;
    float us = 0;
    if (nt == 64) {
      if (mode == 0) us = time_tiles<64, 0>(K, V, tb, G, copy_u4, out);
      if (mode == 1) us = time_tiles<64, 1>(K, V, tb, G, copy_u4, out);
      if (mode == 2) us = time_tiles<64, 2>(K, V, tb, G, copy_u4, out);
      if (mode == 3) us = time_tiles<64, 3>(K, V, tb, G, copy_u4, out);
    } else {
      if (mode == 0) us = time_tiles<128, 0>(K, V, tb, G, copy_u4, out);
      if (mode == 1) us = time_tiles<128, 1>(K, V, tb, G, copy_u4, out);
      if (mode == 2) us = time_tiles<128, 2>(K, V, tb, G, copy_u4, out);
      if (mode == 3) us = time_tiles<128, 3>(K, V, tb, G, copy_u4, out);
    }
    int T = 4096 / G;
    printf("%d,%d,%d,%s,%.2f,%.0f,%.1f\n", nt, G, T, names[mode], us, 2.0 * copy_u4 * 16 / us / 1e3, us * 1e3 / T);
  }
  return 0;
}
CUDA
nvcc -O3 -gencode arch=compute_90,code=sm_90 -o /tmp/dep_load_bench /tmp/dep_load_bench.cu && \
  cuobjdump -sass /tmp/dep_load_bench | grep -c "LDG" && \
  timeout 60 /tmp/dep_load_bench | tee "$OUT/dep_load_bench.txt"
echo "rc=$?"

echo "== timing  [t=${SECONDS}s]"
timeout 200 python3 $PY time > "$OUT/paged_decode_times.csv"
echo "rc=$?"; cat "$OUT/paged_decode_times.csv"

echo "== ncu: sections and byte metrics, every launch of one call per variant  [t=${SECONDS}s]"
M5=l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum
CAND="launch__grid_size launch__grid_dim_x launch__grid_dim_y launch__grid_dim_z launch__block_size
launch__registers_per_thread launch__shared_mem_per_block launch__waves_per_multiprocessor
sm__inst_executed.sum smsp__inst_executed.sum sm__warps_active.avg.pct_of_peak_sustained_active
sm__cycles_active.min sm__cycles_active.avg sm__cycles_active.max sm__cycles_elapsed.max
sm__ctas_launched.sum sm__ctas_launched.min sm__ctas_launched.max smsp__warps_launched.sum
l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum
l1tex__t_requests_pipe_lsu_mem_global_op_ldgsts.sum l1tex__t_sectors_pipe_lsu_mem_global_op_ldgsts.sum
smsp__sass_inst_executed_op_global_ld.sum smsp__sass_inst_executed_op_ldgsts.sum
l1tex__t_sector_hit_rate.pct lts__t_sector_hit_rate.pct
smsp__average_warp_latency_issue_stalled_long_scoreboard.ratio
smsp__average_warps_issue_stalled_long_scoreboard_per_issue_active.ratio
smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct
smsp__average_warp_latency_per_inst_issued.ratio smsp__issue_active.avg.pct_of_peak_sustained_active"
ncu --query-metrics --chip gh100 > "$X/query_metrics.txt" 2>&1
M=$M5; DROP=""
for m in $CAND; do
  base=${m%%.*}
  if grep -q "^$base\b" "$X/query_metrics.txt" || [[ $base == launch__* ]]; then M=$M,$m; else DROP="$DROP $m"; fi
done
echo "metrics: $M"; echo "not known to this ncu (dropped):$DROP"
SECS="--section SpeedOfLight --section MemoryWorkloadAnalysis --section MemoryWorkloadAnalysis_Tables --section WarpStateStats --section SchedulerStats --section LaunchStats --section Occupancy --section InstructionStats"
INC=$(python3 $PY ranges)
echo "ncu --clock-control none --nvtx $INC $SECS --metrics <above> -f -o paged python3 $PY ncu"
timeout 170 ncu --clock-control none --nvtx $INC $SECS --metrics "$M" -f -o "$X/paged" python3 $PY ncu > "$X/ncu_log.txt" 2>&1
echo "ncu rc=$?"; grep -v "^==PROF== Profiling" "$X/ncu_log.txt" | tail -15
if [ ! -s "$X/paged.ncu-rep" ]; then
  echo "no report: again with the byte metrics and sections only"
  timeout $(( LIMIT - SECONDS > 60 ? LIMIT - SECONDS - 40 : 20 )) ncu --clock-control none --nvtx $INC $SECS --metrics "$M5" -f -o "$X/paged" python3 $PY ncu > "$X/ncu_log2.txt" 2>&1
  echo "ncu rc=$?"; grep -v "^==PROF== Profiling" "$X/ncu_log2.txt" | tail -8
fi
ncu --import "$X/paged.ncu-rep" --csv --page raw --print-units base > "$OUT/paged_decode_ncu_raw.csv"
ncu --import "$X/paged.ncu-rep" --page details > "$OUT/paged_ncu_details.txt"
python3 $PY summary "$OUT/paged_decode_ncu_raw.csv"

LEFT=$((LIMIT - SECONDS)); echo "== ncu --set full on the flex decode kernel (Nk = 4096)  [t=${SECONDS}s, ${LEFT}s left]"
if [ "$LEFT" -gt 40 ]; then
  ONLY=contiguous:4096,paged-shuffled:4096,paged-shuffled-nofull:4096
  echo "ncu --clock-control none --nvtx $(python3 $PY ranges $ONLY) -k 'regex:triton_tem|flex_decod' --set full -f -o full python3 $PY ncu $ONLY"
  timeout "$((LEFT - 15))" ncu --clock-control none --nvtx $(python3 $PY ranges $ONLY) -k 'regex:triton_tem|flex_decod' --set full \
    -f -o "$X/full" python3 $PY ncu $ONLY > "$X/ncu_full_log.txt" 2>&1
  echo "ncu rc=$?"; grep -v "^==PROF== Profiling" "$X/ncu_full_log.txt" | tail -8
  ncu --import "$X/full.ncu-rep" --page details > "$OUT/paged_full_details.txt"
  ncu --import "$X/full.ncu-rep" --page source --csv --print-source sass > "$OUT/paged_full_source.csv" 2>&1
  echo "source page: $(wc -l < "$OUT/paged_full_source.csv") lines"; head -3 "$OUT/paged_full_source.csv" | cut -c1-600
  grep -n "Stall\|Warp Cycles\|Long Scoreboard\|Achieved Occupancy\|Registers Per\|Waves Per\|Executed Instructions \|Duration\|Block Limit" \
    "$OUT/paged_full_details.txt" | head -80
fi
mkdir -p "$X/kernels"
grep -rl "flex_decoding\|triton_tem" /tmp/inductor_cache 2>/dev/null | grep "\.py$" | head -40 | xargs -r cp -t "$X/kernels" 2>/dev/null
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
tar czf "$OUT/extras.tgz" -C "$OUT" extras && rm -rf "$X"
echo "done  [t=${SECONDS}s]"
