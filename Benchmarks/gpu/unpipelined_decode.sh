#!/usr/bin/env bash
# On the GPU machine, from the repository root: our split-KV decode kernel (Backends/CUDA/decode.cuh)
# as recorded (pipelined: FlashAttention-2's overlap) beside an unpipelined copy of it
# (Benchmarks/gpu/unpipelined_decode.py: each K and V tile waited for as soon as it is issued),
# contiguous and paged (blocks of 16, shuffled and in order), S = 1, 4, 16 splits, Nk = 4K and 32K, B = 8, H = 32,
# Hkv = 8, d = 128, fp16 (issue 16 item 7: iosim's --stages 1 model against a kernel we know).
# Writes $OUT/unpipelined_decode.txt (log) and $OUT/unpipelined_decode.csv.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/unpipelined_decode.txt") 2>&1
date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader; nvcc --version | tail -1
python3 Benchmarks/gpu/unpipelined_decode.py /tmp/unpipe || exit 1
FLAGS="-O3 -std=c++17 -Xptxas -v --threads 2 -gencode=arch=compute_90a,code=sm_90a"
echo "nvcc $FLAGS -o /tmp/decode_pipelined Backends/CUDA/decode.cu   (and /tmp/unpipe/decode.cu -> /tmp/decode_unpipelined)"
if [ -z "${REUSE:-}" ] || [ ! -x /tmp/decode_unpipelined ]; then
  nvcc $FLAGS -o /tmp/decode_pipelined Backends/CUDA/decode.cu 2> /tmp/ptxas_p.txt & P1=$!
  nvcc $FLAGS -o /tmp/decode_unpipelined /tmp/unpipe/decode.cu 2> /tmp/ptxas_u.txt & P2=$!
  wait $P1 || { cat /tmp/ptxas_p.txt; exit 1; }
  wait $P2 || { cat /tmp/ptxas_u.txt; exit 1; }
fi
grep -c "0 bytes spill stores" /tmp/ptxas_p.txt /tmp/ptxas_u.txt
# The copy computes the same O, bitwise (the same arithmetic in the same order).
for v in pipelined unpipelined; do
  mkdir -p /tmp/chk_$v
  /tmp/decode_$v split-kv fp16 --B 2 --H 8 --Hkv 2 --Nk 1000 --D 128 --splits 3 --block 16 --out /tmp/chk_$v > /dev/null || exit 1
done
python3 -c "
import numpy as np
a, b = np.load('/tmp/chk_pipelined/o.npy'), np.load('/tmp/chk_unpipelined/o.npy')
print('same O bitwise:', a.tobytes() == b.tobytes(), a.shape)"
echo "variant,layout,block,splits,Nk,time_us,kv_gbps,command" > "$OUT/unpipelined_decode.csv"
for nk in 4096 32768; do
  for s in 1 4 16; do
    for layout in contiguous paged paged-identity; do
      for v in pipelined unpipelined; do
        args="split-kv fp16 --B 8 --H 32 --Hkv 8 --Nk $nk --D 128 --splits $s --time 30"
        blk=0
        if [ $layout = paged ]; then args="$args --block 16"; blk=16; fi
        if [ $layout = paged-identity ]; then args="$args --block 16 --table identity"; blk=16; fi
        line=$(/tmp/decode_$v $args | grep "^time_us=")
        t=$(echo "$line" | sed 's/.*time_us=\([0-9.]*\).*/\1/'); g=$(echo "$line" | sed 's/.*kv_gbps=\([0-9.]*\).*/\1/')
        echo "$v,$layout,$blk,$s,$nk,$t,$g,decode $args" | tee -a "$OUT/unpipelined_decode.csv"
      done
    done
  done
done
