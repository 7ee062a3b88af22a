#!/usr/bin/env bash
# On the GPU machine, from the repository root (issue 27): PyTorch's compiled FlexAttention forward under
# document, prefix-LM, sinks + sliding-window, random block-sparse, per-head and empty-row masks (plus
# causal and no mask), and FlashAttention-2's varlen forward, fp16, N = 8192, d = 128, batch 1, 8 heads
# (GQA 16/2); Benchmarks/gpu/flex_masks.py says what each case is.
# Writes to $OUT (8 files):
#   log.txt              versions, the installed flex heuristics/grid/template lines, every case's block-mask
#                        summary, check against an fp64 reference, generated-kernel config, do_bench time;
#                        ncu's log; the tidy table and the hand model at the end
#   env.txt              GPU, driver, ncu, nvcc, torch, triton
#   ncu_raw.csv          ncu --import masks.ncu-rep --csv --page raw --print-units base (every profiled launch)
#                        -> split into Reports/gpu/flex_masks_ncu_raw.csv and Reports/gpu/varlen_ncu_raw.csv
#   traffic.csv          python3 flex_masks.py tidy (-> Reports/gpu/flex_masks_traffic.csv)
#   configs.json         the forward kernels' BLOCK_M, BLOCK_N, num_warps, num_stages, OUTPUT_LOGSUMEXP, ...
#                        read off inductor's generated code, per case (d = 128 large, d = 64 small, d = 256 probe)
#   speed.csv            do_bench medians (warm L2; not the ncu time)
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
python3 -c "
import torch
from torch._inductor.template_heuristics.triton import CUDAConfigHeuristic
h = CUDAConfigHeuristic()
for d in (64, 128, 256):
    print('fp16 d =', d, h.get_flex_attn_fwd_configs(d, torch.float16))
" || true
FX=$(python3 -c "import os, torch._inductor.kernel.flex as f; print(os.path.dirname(f.__file__))")
grep -n "def flex_attention_grid" -A 7 "$FX/flex_attention.py"
grep -n "OUTPUT_LOGSUMEXP\|q = load_checked\|kv_num_blocks = tl.load\|tl.store(l_ptrs" "$FX/templates/flex_attention.py.jinja"
mkdir -p "$X/templates"; cp "$FX"/templates/*.jinja "$X/templates/" 2>/dev/null

echo "== prepare: compile, check, time, block masks, small recordings  [t=${SECONDS}s]"
timeout "${PREP_S:-300}" python3 $PY prepare "$X"
echo "prepare rc=$?  [t=${SECONDS}s]"

echo "== ncu  [t=${SECONDS}s]"
M=l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum
M=$M,launch__grid_size,launch__block_size,launch__grid_dim_x,launch__grid_dim_y,launch__grid_dim_z
M=$M,launch__registers_per_thread,launch__shared_mem_per_block_dynamic,sm__ctas_launched.sum
M=$M,l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum,l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum
INC=$(python3 $PY ranges)
# same inductor settings as prepare, so that every graph is an FX-graph-cache hit; compile workers not profiled
echo "ncu --clock-control none --cache-control all --target-processes application-only --nvtx $INC --metrics $M -f -o masks python3 $PY ncu"
timeout "${NCU_S:-200}" ncu --clock-control none --cache-control all --target-processes application-only --nvtx $INC \
  --metrics "$M" -f -o "$X/masks" python3 $PY ncu > "$X/ncu_log.txt" 2>&1
echo "ncu rc=$?  [t=${SECONDS}s]"; grep -v "^==PROF== Profiling" "$X/ncu_log.txt" | tail -25
ncu --import "$X/masks.ncu-rep" --csv --page raw --print-units base > "$OUT/ncu_raw.csv"
python3 $PY split "$OUT/ncu_raw.csv" "$X/flex_raw.csv" "$X/varlen_raw.csv"
python3 $PY tidy "$X/flex_raw.csv" "$X/varlen_raw.csv" "$X/configs.json" > "$OUT/traffic.csv"
cp "$X/configs.json" "$X/speed.csv" "$OUT/"
tar czf "$OUT/mask_recordings.tgz" -C "$X" rec blocks
tar czf "$OUT/extras.tgz" -C "$X" code templates masks.ncu-rep ncu_log.txt
ls -la "$OUT"
echo "== tidy"; cat "$OUT/traffic.csv"
echo "== hand model"; python3 $PY model "$OUT/traffic.csv" "$X/blocks" | column -t -s,
echo "done  [t=${SECONDS}s]"
