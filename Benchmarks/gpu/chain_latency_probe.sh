#!/usr/bin/env bash
# On the GPU machine, from the repository root: dependent-issue latencies of mma.sync, ld.shared,
# ldmatrix, a cross-warp shared-memory round trip and bar.sync (Benchmarks/gpu/chain_latency_probe.cu;
# issue 16 item 7). Writes $OUT/chain_latency_probe.txt.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/chain_latency_probe.txt") 2>&1
date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader; nvcc --version | tail -1
echo "nvcc -O3 -gencode arch=compute_90,code=sm_90 -o /tmp/chain_latency_probe Benchmarks/gpu/chain_latency_probe.cu"
nvcc -O3 -gencode arch=compute_90,code=sm_90 -o /tmp/chain_latency_probe Benchmarks/gpu/chain_latency_probe.cu || exit 1
for k in hmma ldsm lds; do
  echo "$k: $(cuobjdump -sass /tmp/chain_latency_probe | awk "/Function : _Z[0-9]*${k}P/{f=1;next} f&&/Function/{f=0} f" | grep -cE 'HMMA|LDSM|LDS') chain instructions in the unrolled loop body (expect 16)"
done
for i in 1 2; do /tmp/chain_latency_probe; done
