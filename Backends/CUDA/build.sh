#!/usr/bin/env bash
# Builds the attention kernels' driver with nvcc: sm_90a (H100) and sm_80 (A100) machine code.
# Usage: Backends/CUDA/build.sh [BUILD_DIR]   -> BUILD_DIR/attn (default Backends/CUDA/build)
set -euo pipefail
cd "$(dirname "$0")"
B=${1:-build}
mkdir -p "$B"
nvcc -O3 -std=c++17 -lineinfo -Xptxas -v \
  --threads 2 -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80 \
  -o "$B/attn" driver.cu 2> "$B/ptxas.txt" || { cat "$B/ptxas.txt"; exit 1; }
cat "$B/ptxas.txt"
