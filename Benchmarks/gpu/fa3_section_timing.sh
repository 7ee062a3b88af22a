#!/usr/bin/env bash
# fa3 per-phase timing inside the kernel, without touching Backends/CUDA/fa3.cuh: copies fa3.cuh and
# common.cuh into a temporary folder, patches the COPY (Benchmarks/gpu/fa3_instrument.py: %clock
# stamps by thread 0 of each consumer warpgroup), builds the instrumented and the unpatched driver
# (sm_90a) and Benchmarks/gpu/fa3_softmax_probe.cu (the softmax section alone, dependent-chain
# latencies), runs them at N = 4096, B = 4, H = 2048/d, d = 64 and 128, fp16, not causal.
#   Benchmarks/gpu/fa3_section_timing.sh build   # build only (e.g. locally: NVCC=/opt/cuda13/bin/nvcc)
#   Benchmarks/gpu/fa3_section_timing.sh run     # run the built binaries (GPU machine)
#   Benchmarks/gpu/fa3_section_timing.sh         # both
# BIN (default .build-fa3time/bin, git-ignored) holds the binaries; output goes to $OUT/fa3_section_timing.txt.
set -eu
MODE=${1:-all}
NVCC=${NVCC:-nvcc}
BIN=${BIN:-.build-fa3time/bin}
OUT=${OUT:-out}
if [ "$MODE" != run ]; then
  W=$(mktemp -d)
  mkdir -p "$W/orig" "$W/prof" "$BIN"
  cp Backends/CUDA/common.cuh Backends/CUDA/fa3.cuh "$W/orig/"
  cp Backends/CUDA/common.cuh "$W/prof/"
  python3 Benchmarks/gpu/fa3_instrument.py Backends/CUDA/fa3.cuh "$W/prof/fa3.cuh"
  python3 Benchmarks/gpu/fa3_instrument.py --driver "$W/orig/main.cu"
  cp "$W/orig/main.cu" "$W/prof/main.cu"
  $NVCC -O3 -std=c++17 -Xptxas -v -gencode=arch=compute_90a,code=sm_90a -o "$BIN/fa3_orig" "$W/orig/main.cu" 2> "$BIN/ptxas_orig.txt" &
  $NVCC -O3 -std=c++17 -Xptxas -v -DPROF_BUILD=1 -gencode=arch=compute_90a,code=sm_90a -o "$BIN/fa3_prof" "$W/prof/main.cu" 2> "$BIN/ptxas_prof.txt"
  $NVCC -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -I Backends/CUDA -o "$BIN/fa3_softmax_probe" Benchmarks/gpu/fa3_softmax_probe.cu
  wait
  for v in orig prof; do echo "$v: $(grep -A1 'forwardI6__half' "$BIN/ptxas_$v.txt" | grep -E 'Used|spill' | sed 's/ptxas info    ://' | tr '\n' ' ')"; done
  rm -rf "$W"
fi
if [ "$MODE" != build ]; then
  mkdir -p "$OUT"
  { nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm --format=csv,noheader || true
    "$BIN/fa3_orig"; "$BIN/fa3_prof"; "$BIN/fa3_orig"; "$BIN/fa3_softmax_probe"; } 2>&1 | tee "$OUT/fa3_section_timing.txt"
fi
