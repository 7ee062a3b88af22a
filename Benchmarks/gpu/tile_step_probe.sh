#!/usr/bin/env bash
# On the GPU machine, from the repository root: the unpipelined K-then-V tile step probe
# (Benchmarks/gpu/tile_step_probe.cu; issue 16 item 7). Writes $OUT/tile_step_probe.txt (the
# build line, the LDGSTS count of the 2-warp 16 KiB kernel's SASS, nvidia-smi clocks, the CSV).
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/tile_step_probe.txt") 2>&1
date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem --format=csv,noheader
nvcc --version | tail -1
echo "nvcc -O3 -gencode arch=compute_90,code=sm_90 -o /tmp/tile_step_probe Benchmarks/gpu/tile_step_probe.cu"
nvcc -O3 -gencode arch=compute_90,code=sm_90 -o /tmp/tile_step_probe Benchmarks/gpu/tile_step_probe.cu || exit 1
echo "runs of back-to-back LDGSTS in the 64-thread 16 KiB cp.async kernel (expect two runs of 16: K, then V):"
cuobjdump -sass /tmp/tile_step_probe | awk '/Function : _Z5stepsILi64ELi16384ELi0E/{f=1;next} f&&/Function/{f=0} f' |
  grep -oE "LDGSTS|LDGDEPBAR|LDS|BAR" | uniq -c | grep LDGSTS
timeout 300 /tmp/tile_step_probe
echo "rc=$?"
nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader
