#!/usr/bin/env bash
# fa2-bwd on the GPU machine, one call (repository root; OUT=<dir>): builds the driver (and the
# d = 64 two-CTAs-per-SM variant), prints ptxas's registers/spills of the backward kernels, checks
# dQ, dK, dV against fp64 (Benchmarks/gpu/fa2_bwd_check.py), times fa2-bwd beside PyTorch's flash
# and cuDNN backward at N = 4096 (16K tokens, hidden 2048, fp16), and measures each backward
# kernel's L2->SM read bytes with Nsight Compute (N = 4096, 8 heads).
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee -a "$OUT/fa2_bwd_check.txt") 2>&1
B=Backends/CUDA/build; mkdir -p $B/alt
Backends/CUDA/build.sh > $B/build.log 2>&1 || { cat $B/build.log; exit 1; }
nvcc -O3 -std=c++17 -Xptxas -v -DFA2_BWD_D64_BLOCKS=2 -gencode=arch=compute_90a,code=sm_90a -o $B/alt/attn Backends/CUDA/driver.cu 2> $B/alt/ptxas.txt
for f in $B/ptxas.txt $B/alt/ptxas.txt; do echo "== $f (sm_90a fa2_bwd)"
  grep -A2 "Compiling entry function '_ZN7fa2_bwd.*sm_90a" $f | grep -v "^--" | sed 's/.*entry function .\(_ZN7fa2_bwd[0-9]*\)\([a-z_]*\)I\([_a-z0-9]*\)Li\([0-9]*\).*/\2 \3 d=\4/'; done
echo "== correctness (max |x - fp64 ref|; flash = PyTorch flash SDPA on the same rounded inputs)"
PYTHONUNBUFFERED=1 python3 Benchmarks/gpu/fa2_bwd_check.py $B/attn
echo "== speed (N = 4096, fp16, batch 4, heads 2048/d)"
for d in 64 128; do for c in "" --causal; do
  echo "fa2-bwd d=$d $c $($B/attn fa2-bwd fp16 --B 4 --H $((2048 / d)) --N 4096 --D $d $c --time 20 | grep time_us)"
  [ $d = 64 ] && echo "fa2-bwd(2 CTA/SM) d=$d $c $($B/alt/attn fa2-bwd fp16 --B 4 --H 32 --N 4096 --D 64 $c --time 20 | grep time_us)"
done; done
TORCH_ROWS=torch-flash-bwd,torch-cudnn-bwd,torch-flash SPEED_N=4096 python3 Benchmarks/gpu/torch_speed.py
echo "== ncu (N = 4096, 8 heads, fp16): per backward kernel"
for d in 64 128; do for c in "" --causal; do echo "# d=$d $c"
  ncu --clock-control none -k 'regex:preprocess|main_kernel|convert' --metrics l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum,launch__registers_per_thread \
    --csv $B/attn fa2-bwd fp16 --B 1 --H 8 --N 4096 --D $d $c 2>&1 | grep '^"' | grep -v '"ID"' | awk -F'","' '{print $5, $13, $15}' | sed 's/(.*)//'
done; done
