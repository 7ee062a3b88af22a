#!/usr/bin/env bash
# On the GPU machine: measure PyTorch flash SDPA's traffic with Nsight Compute.
# Writes $OUT/torch_flash_ncu.csv (one row per kernel launch and metric).
set -euo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
ncu --version | tail -1 | tee -a "$OUT/gpu.txt"
ncu --clock-control none -k regex:flash \
    --metrics l1tex__m_xbar2l1tex_read_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum \
    --csv python3 Benchmarks/gpu/torch_flash_sdpa.py > "$OUT/torch_flash_ncu.csv"
grep -E "xbar2l1tex|dram__bytes|Kernel Name" "$OUT/torch_flash_ncu.csv" | cut -c1-400
