#!/usr/bin/env bash
# Simulator benchmarks (not tests): wall time of the main job, of count mode at N = 1M, and of
# count mode for decode at batch 256, 64 query / 8 KV heads, Nq = 1, Nk = 1M (each schedule < 1 s),
# of paged-v2 over 10,000 sequence lengths and of kv-memory over 1M (each < 1 s).
# Usage: Benchmarks/simulator.sh   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product iosim >/dev/null
B=.build/release/iosim
t() { local s=$(date +%s.%N); "$@" >/dev/null; echo "$(echo "$(date +%s.%N) - $s" | bc) s  $*"; }
for _ in 1 2 3; do t $B --N 4096 --M 100KB; done
for _ in 1 2 3; do t $B --N 1M --d 128 --M 228KiB; done
for s in fa2 split-kv lean decode; do
  t $B --N 1 --Nk 1M --batch 256 --heads 64 --kv-heads 8 --schedule $s --hardware h100-sxm
done
# Count mode for 10,000 sequences of 1-128K tokens from a lengths file, paged-v2 (< 1 s; 0.47-0.51 s
# on this 2-core machine, 2026-11-24), with and without the time estimate.
seq 1 10000 | awk '{print ($1 * 7919) % 131072 + 1}' > /tmp/iosim-10k-lengths.txt
t $B --N 1 --lengths /tmp/iosim-10k-lengths.txt --batch 10000 --heads 32 --d 128 --schedule paged-v2
t $B --N 1 --lengths /tmp/iosim-10k-lengths.txt --batch 10000 --heads 32 --d 128 --schedule paged-v2 --hardware h100-sxm
# kv-memory for 1M sequence lengths from a file (< 1 s).
seq 1 1000000 | awk '{print ($1 * 7919) % 131072 + 1}' > /tmp/iosim-kv-lengths.txt; t $B kv-memory --model llama-2-7b --lengths /tmp/iosim-kv-lengths.txt --max-len 131072
