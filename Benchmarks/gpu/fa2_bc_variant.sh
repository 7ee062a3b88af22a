#!/usr/bin/env bash
# Experiment (GPU machine): fa2 with 48-row K/V tiles at d = 128 — L2->SM bytes and times.
set -u
OUT=${OUT:-out}
mkdir -p Backends/CUDA/build/v48
nvcc -O3 -std=c++17 -DFA2_WIDE_BC=48 -gencode=arch=compute_90a,code=sm_90a -Xptxas -v -o Backends/CUDA/build/v48/attn Backends/CUDA/driver.cu 2> $OUT/ptxas48.txt || { cat $OUT/ptxas48.txt; exit 1; }
B=Backends/CUDA/build/v48/attn
for c in "" --causal; do
  ncu --clock-control none --metrics l1tex__m_xbar2l1tex_read_bytes.sum --csv $B fa2 fp16 --B 1 --H 8 --N 4096 --D 128 $c 2>&1 | grep xbar | sed 's/.*"byte","//'
done
for n in 1024 4096 16384; do for c in "" --causal; do
  echo "BC48 N=$n $c $($B fa2 fp16 --B $((16384 / n)) --H 16 --N $n --D 128 $c --time 10 | grep time_us)"
done; done
$B fa2 fp16 --B 1 --H 2 --N 333 --D 128 --causal --seed 7 --out /tmp && python3 -c "print('ran')"
