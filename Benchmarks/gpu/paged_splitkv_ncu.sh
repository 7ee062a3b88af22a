#!/usr/bin/env bash
# On the GPU machine, from the repository root: why our block-16 paged split-KV decode kernel takes
# 2x its contiguous time with one split (64 CTAs of 4 warps) but 1.07-1.13x with 4 (issue 16 item 7).
# Nsight Compute sections and the SASS source page of the split kernel, contiguous vs paged (shuffled
# table), S = 1 and 4, Nk = 4096, B = 8, H = 32, Hkv = 8, d = 128, fp16. Writes to $OUT:
#   paged_splitkv_ncu.txt (the details pages), paged_splitkv_source.csv (SASS with per-instruction
#   stall samples and executed instructions, paged S = 1 and contiguous S = 1), log.txt.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
BIN=/tmp/decode_pipelined
if [ ! -x $BIN ]; then
  nvcc -O3 -std=c++17 -lineinfo --threads 2 -gencode=arch=compute_90a,code=sm_90a -o $BIN Backends/CUDA/decode.cu || exit 1
fi
SECS="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section LaunchStats --section Occupancy --section InstructionStats --section SourceCounters"
i=0
for s in 1 4; do
  for blk in 0 16; do
    args="split-kv fp16 --B 8 --H 32 --Hkv 8 --Nk 4096 --D 128 --splits $s"
    [ $blk -gt 0 ] && args="$args --block 16"
    echo "== $args"
    ncu --clock-control none -k regex:attend $SECS --import-source yes -f -o /tmp/r$i $BIN $args > /tmp/ncu$i.log 2>&1
    echo "ncu rc=$?"; tail -2 /tmp/ncu$i.log
    { echo "##### decode $args"; ncu --import /tmp/r$i.ncu-rep --page details; } >> "$OUT/paged_splitkv_ncu.txt"
    if [ $s = 1 ]; then
      { echo "##### decode $args"; ncu --import /tmp/r$i.ncu-rep --page source --csv --print-source sass; } >> "$OUT/paged_splitkv_source.csv"
    fi
    i=$((i + 1))
  done
done
