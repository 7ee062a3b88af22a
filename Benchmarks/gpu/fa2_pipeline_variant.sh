#!/usr/bin/env bash
# Experiment (GPU machine): fa2 variants built from Backends/CUDA/fa2.cuh's macros (column tile at
# d <= 64 and above, Q in registers, cp.async.cg), beside the kernel before the rewrite and
# PyTorch's flash SDPA in the same run. The old kernel is compared when exp_old/fa2.cuh exists:
#   mkdir exp_old && git show 2b9d6e7:Backends/CUDA/fa2.cuh > exp_old/fa2.cuh
# For each variant: registers and spills (ptxas), max |O - ref| on small shapes, L2->SM bytes and
# executed instructions at N = 4096 (iosim: 272,629,760 d=64, 142,606,336 causal; 545,259,520
# d=128, 285,212,672 causal), and speed. Output: $OUT/pipeline_variants.txt
# (Reports/gpu/fa2_pipeline_variants.txt is one run, ptxas chatter removed).
set -u
echo "start $(date +%T)"
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee -a "$OUT/pipeline_variants.txt") 2>&1
W=/tmp/fa2var; mkdir -p $W; PIDS=()
VARIANTS=${VARIANTS:-"64_64_1_0 128_64_0_0 64_64_1_1 128_64_0_1"}   # BC at d<=64 _ BC at d>64 _ Q in registers _ cp.async.cg
for v in $VARIANTS; do
  IFS=_ read -r s l q g <<< "$v"; mkdir -p $W/$v
  [ -x $W/$v/attn ] || timeout ${BUILD_S:-400} nvcc -O3 -std=c++17 -DFA2_BC_SMALL_D=$s -DFA2_BC_LARGE_D=$l -DFA2_Q_IN_REGS=$q -DFA2_CP_CG=$g -Xptxas -v \
    -gencode=arch=compute_90a,code=sm_90a -o $W/$v/attn Backends/CUDA/driver.cu 2> $W/$v/ptx.txt & PIDS+=($!)
done
if [ -f exp_old/fa2.cuh ]; then
  mkdir -p $W/old/src && cp Backends/CUDA/{common.cuh,driver.cu,fa1.cuh,standard.cuh} $W/old/src/ && cp exp_old/fa2.cuh $W/old/src/
  [ -x $W/old/attn ] || timeout ${BUILD_S:-400} nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -o $W/old/attn $W/old/src/driver.cu 2> $W/old/ptx.txt & PIDS+=($!)
fi
wait "${PIDS[@]}"  # a bare wait would also wait for tee
echo "built $(date +%T): $(ls $W/*/attn 2>/dev/null | tr '\n' ' ')"
VARIANTS=$(for v in $VARIANTS; do [ -x $W/$v/attn ] && echo $v; done)
ALL="$VARIANTS"; [ -x $W/old/attn ] && ALL="old $ALL"
for v in $VARIANTS; do
  echo "== $v"; grep -A1 "fa27forwardI6__half" $W/$v/ptx.txt | grep -E "Used|spill" | sed 's/ptxas info    ://'
  R=$W/$v/rec; mkdir -p $R
  for shape in "1 2 200 64 1" "2 1 333 128 1" "1 1 257 80 0" "1 2 130 128 0"; do
    set -- $shape; name=B$1H$2N$3D$4c$5; mkdir -p $R/$name
    cmd="$W/$v/attn fa2 fp16 --B $1 --H $2 --N $3 --D $4 $([ "$5" = 1 ] && echo --causal) --seed 7 --out $R/$name"
    $cmd > /dev/null && echo "$cmd" > $R/$name/command.txt
  done
  python3 Backends/CUDA/check_recordings.py $R
done
for v in $ALL; do for d in 64 128; do for c in "" --causal; do
  echo "$v d=$d $c $(ncu --clock-control none --metrics l1tex__m_xbar2l1tex_read_bytes.sum,smsp__inst_executed.sum --csv $W/$v/attn fa2 fp16 --B 1 --H 8 --N 4096 --D $d $c 2>&1 | grep -E 'xbar|inst_exec' | awk -F'","' '{print $(NF-2), $NF}' | tr '\n' ' ')"
done; done; done
for n in 1024 4096 16384; do for d in 64 128; do for c in "" --causal; do for v in $ALL; do
  echo "$v N=$n d=$d $c $($W/$v/attn fa2 fp16 --B $((16384 / n)) --H $((2048 / d)) --N $n --D $d $c --time 20 | grep time_us)"
done; done; done; done
python3 Benchmarks/gpu/torch_speed.py 2>/dev/null | grep torch-flash
