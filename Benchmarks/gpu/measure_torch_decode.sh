#!/usr/bin/env bash
# On the GPU machine, from the repository root: PyTorch flash SDPA in decode shapes (issue 15 item 4),
# timed and then profiled with Nsight Compute (Benchmarks/gpu/torch_decode.py says what is run).
# Writes to $OUT:
#   log.txt              GPU, driver, ncu, torch; per configuration the kernels one call launched,
#                        the error against fp32, graph-replay and eager times; the ncu summary
#   decode_speed.csv     -> Reports/gpu/decode_speed.csv
#   decode.ncu-rep       the Nsight Compute report
#   decode_ncu_raw.csv   ncu --import decode.ncu-rep --csv --page raw --print-units base
#                        -> Reports/gpu/decode_ncu_raw.csv
#   decode_ncu_nvtx.csv  the same with --print-nvtx-rename kernel (each launch named by its NVTX range)
#   decode_traffic.csv   -> Reports/gpu/decode_traffic.csv
#   ncu_log.txt          ncu's own output while profiling
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
PY=Benchmarks/gpu/torch_decode.py
{ nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader; ncu --version | tail -1;
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; }

# Metrics; launch__grid_dim_{x,y,z} are dropped if this ncu does not know them (a probe run says).
M=l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum
M=$M,gpu__time_duration.sum,launch__grid_size
DIMS=launch__grid_dim_x,launch__grid_dim_y,launch__grid_dim_z
probe() {
  timeout 120 ncu --clock-control none --nvtx --nvtx-include "probe/" --metrics "$1" --csv --page raw \
    python3 -c "import torch; x = torch.ones(1 << 20, device='cuda'); torch.cuda.synchronize()
torch.cuda.nvtx.range_push('probe'); y = x * 2; torch.cuda.synchronize(); torch.cuda.nvtx.range_pop()" 2>&1
}
P=$(probe "$M,$DIMS"); echo "$P" | cut -c1-300
if echo "$P" | grep -q '^"0",'; then M=$M,$DIMS
else P=$(probe "$M"); echo "$P" | cut -c1-300; fi
echo "metrics: $M"

echo "== timing"
timeout 240 python3 $PY time > "$OUT/decode_speed.csv"
cat "$OUT/decode_speed.csv"

echo "== ncu"
INC=$(python3 -c "import sys; sys.path.insert(0, 'Benchmarks/gpu'); import torch_decode as t
print(' '.join(f'--nvtx-include {t.range_name(*c)}/' for c in t.CONFIGS))")
timeout 300 ncu --clock-control none --nvtx $INC --metrics "$M" -f -o "$OUT/decode" \
  python3 $PY ncu > "$OUT/ncu_log.txt" 2>&1
echo "ncu rc=$?"; grep -v "^==PROF== Profiling" "$OUT/ncu_log.txt" | tail -20
ncu --import "$OUT/decode.ncu-rep" --csv --page raw --print-units base > "$OUT/decode_ncu_raw.csv"
ncu --import "$OUT/decode.ncu-rep" --csv --page raw --print-units base --print-nvtx-rename kernel \
  > "$OUT/decode_ncu_nvtx.csv"
python3 $PY traffic "$OUT/decode_ncu_raw.csv" "$OUT/decode_ncu_nvtx.csv" > "$OUT/decode_traffic.csv"
cut -d, -f4-6,9- "$OUT/decode_traffic.csv"
python3 - "$OUT/decode_ncu_nvtx.csv" <<'EOF'
import csv, sys
rows = list(csv.reader(l for l in open(sys.argv[1]) if l.startswith('"')))
print("nvtx-renamed launches:", [(r[0], r[4][:60], r[8]) for r in rows[2:]])
EOF
