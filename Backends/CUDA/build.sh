#!/usr/bin/env bash
# Builds the attention kernels' drivers with nvcc: sm_90a (H100) and sm_80 (A100) machine code.
# Usage: Backends/CUDA/build.sh [BUILD_DIR] [all|attn|decode]
#   -> BUILD_DIR/attn (driver.cu) and BUILD_DIR/decode (decode.cu); default Backends/CUDA/build, all
set -euo pipefail
cd "$(dirname "$0")"
B=${1:-build}
WHAT=${2:-all}
mkdir -p "$B"
if [ "$WHAT" = all ] || [ "$WHAT" = attn ]; then
nvcc -O3 -std=c++17 -lineinfo -Xptxas -v \
  --threads 2 -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80 \
  -o "$B/attn" driver.cu 2> "$B/ptxas.txt" || { cat "$B/ptxas.txt"; exit 1; }
cat "$B/ptxas.txt"
fi
if [ "$WHAT" = all ] || [ "$WHAT" = decode ]; then
nvcc -O3 -std=c++17 -lineinfo -Xptxas -v \
  --threads 2 -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80 \
  -o "$B/decode" decode.cu 2> "$B/ptxas_decode.txt" || { cat "$B/ptxas_decode.txt"; exit 1; }
cat "$B/ptxas_decode.txt"
fi
