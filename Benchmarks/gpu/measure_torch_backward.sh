#!/usr/bin/env bash
# On the GPU machine, from the repository root: PyTorch's attention backward (issue 14 items 5 and 6,
# issue 17 item 3, issue 18 item 6). Benchmarks/gpu/torch_backward.py says what each step runs.
# Writes to $OUT:
#   log.txt                       versions, every step's output, the per-kernel summary, cross-checks
#   bwd_ncu_raw.csv               A: ncu --import bwd.ncu-rep --csv --page raw --print-units base
#   bwd_traffic.csv               A: one row per backward launch and byte metric (from bwd_ncu_raw.csv)
#   ncu_sample_torch_fwd_bwd.csv  D: the literal stdout of an unfiltered ncu --csv --page raw run
#   bwd_times.csv                 B: flash backward at the shapes of Reports/gpu/time_estimates.csv
#   bwd_speed_torch.csv           C: speed.csv's columns, N = 4096, forward and backward of each backend
#   extras.tgz                    bwd.ncu-rep, ncu's own logs, the sample's stderr
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-out}; mkdir -p "$OUT"; X=$OUT/extras; mkdir -p "$X"
exec > >(tee -a "$OUT/log.txt") 2>&1
PY=Benchmarks/gpu/torch_backward.py
LIMIT=${LIMIT:-570}   # seconds for the whole script; the last step gets what is left
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader; ncu --version | tail -1;
  python3 -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'triton', triton.__version__)"; }

M5=l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum
L=launch__grid_size,launch__grid_dim_x,launch__grid_dim_y,launch__grid_dim_z,launch__block_size,launch__shared_mem_per_block,launch__shared_mem_per_block_static,launch__shared_mem_per_block_dynamic,launch__registers_per_thread

echo "== A: ncu, backward launches only (NVTX ranges bwd_N*_d*_c*)  [t=${SECONDS}s]"
INC=$(python3 $PY ranges)
echo "ncu --clock-control none --nvtx $INC --metrics $M5,$L -f -o bwd python3 $PY ncu"
timeout 240 ncu --clock-control none --nvtx $INC --metrics "$M5,$L" -f -o "$X/bwd" \
  python3 $PY ncu > "$X/ncu_log.txt" 2>&1
echo "ncu rc=$?"; grep -v "^==PROF== Profiling" "$X/ncu_log.txt" | tail -15
ncu --import "$X/bwd.ncu-rep" --csv --page raw --print-units base > "$OUT/bwd_ncu_raw.csv"
python3 $PY traffic "$OUT/bwd_ncu_raw.csv" > "$OUT/bwd_traffic.csv"
python3 $PY summary "$OUT/bwd_ncu_raw.csv"

echo "== D: unfiltered ncu sample (issue 17)  [t=${SECONDS}s]"
echo "ncu --clock-control none --csv --page raw --metrics $M5 python3 $PY sample > ncu_sample_torch_fwd_bwd.csv"
timeout 120 ncu --clock-control none --csv --page raw --metrics "$M5" python3 $PY sample \
  > "$OUT/ncu_sample_torch_fwd_bwd.csv" 2> "$X/ncu_sample_stderr.txt"
echo "ncu rc=$?; stdout lines $(wc -l < "$OUT/ncu_sample_torch_fwd_bwd.csv"), stderr lines $(wc -l < "$X/ncu_sample_stderr.txt")"
cut -c1-200 "$OUT/ncu_sample_torch_fwd_bwd.csv" | head -12; echo "-- stderr:"; head -5 "$X/ncu_sample_stderr.txt"

echo "== B: flash backward times  [t=${SECONDS}s]"
timeout 180 python3 $PY time > "$OUT/bwd_times.csv"
echo "rc=$?"; cat "$OUT/bwd_times.csv"

echo "== C: speeds at N = 4096  [t=${SECONDS}s]"
timeout 180 python3 $PY speed > "$OUT/bwd_speed_torch.csv"
echo "rc=$?"
LEFT=$((LIMIT - SECONDS)); echo "flex gets ${LEFT}s  [t=${SECONDS}s]"
if [ "$LEFT" -gt 30 ]; then
  timeout "$LEFT" python3 $PY speed flex >> "$OUT/bwd_speed_torch.csv"; echo "flex rc=$?"
fi
cat "$OUT/bwd_speed_torch.csv"
tar czf "$OUT/extras.tgz" -C "$OUT" extras && rm -rf "$X"
echo "done  [t=${SECONDS}s]"
