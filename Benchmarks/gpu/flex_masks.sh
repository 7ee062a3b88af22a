#!/usr/bin/env bash
# On the GPU machine, from the repository root (issue 27): PyTorch's compiled FlexAttention forward under
# document, prefix-LM, sinks + sliding-window, random block-sparse, per-head and empty-row masks (plus
# causal and no mask), and FlashAttention-2's varlen forward, fp16, N = 8192, d = 128, batch 1, 8 heads
# (GQA 16/2); Benchmarks/gpu/flex_masks.py says what each case is.
# Writes to $OUT (7 files):
#   log.txt              versions, the installed flex heuristics/grid/template lines, every case's block-mask
#                        summary, check against an fp64 reference, generated-kernel config;
#                        ncu's log; the tidy table and the hand model at the end
#   env.txt              GPU, driver, ncu, nvcc, torch, triton
#   ncu_raw.csv          ncu --import masks.ncu-rep --csv --page raw --print-units base (every profiled launch)
#                        -> split into Reports/gpu/flex_masks_ncu_raw.csv and Reports/gpu/varlen_ncu_raw.csv
#   traffic.csv          python3 flex_masks.py tidy (-> Reports/gpu/flex_masks_traffic.csv)
#   configs.json         the forward kernels' BLOCK_M, BLOCK_N, num_warps, num_stages, OUTPUT_LOGSUMEXP, ...
#                        read off inductor's generated code, per case (d = 128 large, d = 64 small, d = 256 probe)
#   mask_recordings.tgz  rec/ (small cases: q, k, v, o, lse .npy + cases.json) and blocks/ (large cases'
#                        BlockMask arrays and block tables + cases.json)
#   extras.tgz           the .ncu-rep, ncu's log, the generated kernel files, the installed flex templates
set -uo pipefail
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor_cache
OUT=${OUT:-out}; mkdir -p "$OUT"
X=/tmp/fm_work; rm -rf "$X"; mkdir -p "$X"
exec > >(tee -a "$OUT/log.txt") 2>&1
PY=Benchmarks/gpu/flex_masks.py
{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader
  ncu --version | tail -1; nvcc --version | tail -1
  python3 -c "import torch, triton; p = torch.cuda.get_device_properties(0); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, '|', p.name, p.multi_processor_count, 'SMs, L2', getattr(p, 'L2_cache_size', 0))"
} | tee "$OUT/env.txt"

echo "== installed flex forward heuristics, grid, template  [t=${SECONDS}s]"
FX=$(python3 -c "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])")/_inductor/kernel/flex
grep -n "h100_default_flex_config = {" -A 11 "$FX/../../template_heuristics/triton.py"
grep -n "def flex_attention_grid" -A 7 "$FX/flex_attention.py"
grep -n "OUTPUT_LOGSUMEXP\|q = load_checked\|kv_num_blocks = tl.load\|tl.store(l_ptrs" "$FX/templates/flex_attention.py.jinja"
mkdir -p "$X/templates"; cp "$FX"/templates/*.jinja "$X/templates/" 2>/dev/null

# One process under ncu for the large cases: per case the compile call (the generated kernel's config read off
# inductor's code), the check against an fp64 reference, then one more call inside its NVTX range (the only
# launch ncu profiles). Then, without ncu, the d = 256 probe and the small recordings.
M=l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum
M=$M,launch__grid_size,launch__block_size,launch__grid_dim_x,launch__grid_dim_y,launch__grid_dim_z
M=$M,launch__registers_per_thread,launch__shared_mem_per_block_dynamic,sm__ctas_launched.sum
M=$M,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum
INC=$(python3 $PY ranges)
echo "== large cases under ncu  [t=${SECONDS}s]"
echo "FM_PROFILE=1 FM_BENCH=0 FM_DEADLINE_S=$(( ${LARGE_S:-230} - 50 )) ncu --clock-control none --cache-control all --target-processes application-only --nvtx $INC --metrics $M -f -o masks python3 $PY prepare $X large"
FM_PROFILE=1 FM_BENCH=0 FM_DEADLINE_S=$(( ${LARGE_S:-230} - 50 )) timeout "${LARGE_S:-230}" ncu --clock-control none --cache-control all \
  --target-processes application-only --nvtx $INC --metrics "$M" -f -o "$X/masks" \
  python3 $PY prepare "$X" large > "$X/ncu_log.txt" 2>&1
echo "ncu rc=$?  [t=${SECONDS}s]"; grep -v "^==PROF== Profiling" "$X/ncu_log.txt" | grep -v "^  \|^$" | cut -c1-400
echo "== small recordings and the d = 256 probe  [t=${SECONDS}s]"
FM_BENCH=0 FM_DEADLINE_S=$(( ${SMALL_S:-100} - 20 )) timeout "${SMALL_S:-100}" python3 $PY prepare "$X" small
echo "small rc=$?  [t=${SECONDS}s]"
ncu --import "$X/masks.ncu-rep" --csv --page raw --print-units base > "$OUT/ncu_raw.csv"
python3 $PY split "$OUT/ncu_raw.csv" "$X/flex_raw.csv" "$X/varlen_raw.csv"
python3 $PY tidy "$X/flex_raw.csv" "$X/varlen_raw.csv" "$X/configs.json" > "$OUT/traffic.csv"
cp "$X/configs.json" "$OUT/"
tar czf "$OUT/mask_recordings.tgz" -C "$X" rec blocks
tar czf "$OUT/extras.tgz" -C "$X" code templates masks.ncu-rep ncu_log.txt
ls -la "$OUT"
echo "== tidy"; cat "$OUT/traffic.csv"
echo "== hand model"; python3 $PY model "$OUT/traffic.csv" "$X/blocks" > "$X/model.csv"; column -t -s, "$X/model.csv" || cat "$X/model.csv"
echo "done  [t=${SECONDS}s]"
