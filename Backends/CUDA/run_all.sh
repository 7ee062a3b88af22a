#!/usr/bin/env bash
# The whole GPU side in one call (run on the GPU machine from the repository root):
# builds the kernels, records outputs for the CPU-side cross-validation, measures traffic with
# Nsight Compute, and times every kernel beside PyTorch SDPA (flash, cuDNN). Writes to $OUT:
#   env.txt, build.txt, recordings.tgz, ncu.csv, speed.csv, log.txt
# Knobs: SPEED_N (default "1024 4096 16384"), FA2_EXTRAS=0 skips fa2's Nsight sections, the d = 64
# register-budget variants and the copy probe (fa2_ncu_details.txt, fa2_variants.txt);
# KERNELS (default "standard fa1 fa2 fa2-bwd fa3") and SECTIONS (default "record traffic details speed")
# pick a part (for checks; the recorded files come from the default, everything); FLEX_N (default
# 4096): the N of the torch-flex rows (each shape is compiled); TORCH_NCU=0 skips PyTorch's forward
# in ncu.csv; BUILD=attn builds only this driver (build.sh's second argument).
set -uo pipefail
SPEED_N=${SPEED_N:-1024 4096 16384}; FA2_EXTRAS=${FA2_EXTRAS:-1}
KERNELS=${KERNELS:-standard fa1 fa2 fa2-bwd fa3}; SECTIONS=${SECTIONS:-record traffic details speed}
has() { case " $1 " in *" $2 "*) return 0;; esac; return 1; }
FWD=""; for k in $KERNELS; do [ "$k" = fa2-bwd ] || FWD="$FWD $k"; done
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
BIN=Backends/CUDA/build/attn
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nvcc --version | tail -2; ncu --version | tail -1;
  python3 -c "import torch; print('torch', torch.__version__)"; } > "$OUT/env.txt"
cat "$OUT/env.txt"
Backends/CUDA/build.sh build "${BUILD:-all}" > "$OUT/build.txt" 2>&1 || { cat "$OUT/build.txt"; exit 1; }
cat "$OUT/build.txt"

# 1. Recordings: small-to-moderate shapes, both dtypes (fa3: fp8 too), causal and not, ragged N
#    and d = 80 (fa2-bwd: dq, dk, dv besides the forward's o and lse).
if has "$SECTIONS" record; then
R=$(mktemp -d)
# fa2-bwd records N = 3 (causal) instead of N = 1: at N = 1 the exact dQ and dK are 0 (P = 1, so
# dP = D), the emulated baseline gets 0 exactly, and the §7 rule then allows 2 ulps at scale 0, while
# the tensor cores' dP and the fp32 D differ in rounding order (1.5e-8 in bf16, as PyTorch's flash).
for kernel in $KERNELS; do
  tiny="1 1 1 64 0"; [ "$kernel" = fa2-bwd ] && tiny="1 1 3 64 1"
  # fa3 takes d = 64 and 128 only (its TMA boxes and wgmma shapes): a ragged N at d = 64 instead.
  odd="1 1 257 80 0"; [ "$kernel" = fa3 ] && odd="1 1 257 64 0"
  # fa3 also in fp8 (e4m3 with block scales, fa3_fp8.cuh): same shapes; --out adds the
  # dequantized inputs q_deq/k_deq/v_deq.npy that the CPU check uses.
  dtypes="fp16 bf16"; [ "$kernel" = fa3 ] && dtypes="fp16 bf16 fp8"
  for dtype in $dtypes; do
    for shape in "1 2 200 64 0" "1 2 200 64 1" "2 1 333 128 1" "$odd" "$tiny" "1 2 130 128 0"; do
      set -- $shape
      name="$kernel-$dtype-B$1H$2N$3D$4-$([ "$5" = 1 ] && echo causal || echo full)"
      mkdir -p "$R/$name"
      cmd="$BIN $kernel $dtype --B $1 --H $2 --N $3 --D $4 $([ "$5" = 1 ] && echo --causal) --seed 7 --out DIR"
      if ${cmd/DIR/$R/$name} > "$R/$name/stdout.txt" 2>&1; then echo "$cmd" > "$R/$name/command.txt"
      else echo "FAILED $name"; cat "$R/$name/stdout.txt"; fi
    done
  done
done
tar czf "$OUT/recordings.tgz" -C "$R" .
python3 Backends/CUDA/check_recordings.py "$R"
fi

# 2. Traffic (Nsight Compute), N = 4096, 8 heads, fp16. fa2-bwd: its three launches only (not the
#    fa2 forward that makes O and LSE), with the SM->L2 writes (its dQ reductions) too.
if has "$SECTIONS" traffic; then
M=l1tex__m_xbar2l1tex_read_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum
SH=$(ncu --query-metrics 2>/dev/null | awk '{print $1}' | grep -E '^(smsp__sass_data_bytes_mem_shared_op_ld|smsp__sass_data_bytes_mem_shared_op_st|smsp__sass_data_bytes_mem_shared_op_ldsm|smsp__sass_data_bytes_mem_shared_op_ldgsts)$' | sed 's/$/.sum/' | paste -sd, -)
[ -n "$SH" ] && M="$M,$SH"
echo "metrics: $M"
: > "$OUT/ncu.csv"
for kernel in $FWD; do
  for d in 64 128; do
    for causal in 0 1; do
      echo "# run $kernel N=4096 d=$d heads=8 causal=$causal" >> "$OUT/ncu.csv"
      ncu --clock-control none --metrics "$M" --csv $BIN $kernel fp16 --B 1 --H 8 --N 4096 --D $d \
        $([ $causal = 1 ] && echo --causal) >> "$OUT/ncu.csv" 2>&1
    done
  done
done
has "$KERNELS" fa2-bwd && for d in 64 128; do
  for causal in 0 1; do
    echo "# run fa2-bwd N=4096 d=$d heads=8 causal=$causal" >> "$OUT/ncu.csv"
    ncu --clock-control none -k 'regex:preprocess|main_kernel|convert' --metrics "$M,l1tex__m_l1tex2xbar_write_bytes.sum" \
      --csv $BIN fa2-bwd fp16 --B 1 --H 8 --N 4096 --D $d $([ $causal = 1 ] && echo --causal) >> "$OUT/ncu.csv" 2>&1
  done
done
[ "$FA2_EXTRAS" = 1 ] && nvcc -O3 -arch=sm_90 -o Backends/CUDA/build/probe_copy Backends/CUDA/probe_copy.cu && {
  echo "# run probe" >> "$OUT/ncu.csv"
  ncu --clock-control none --metrics l1tex__m_xbar2l1tex_read_bytes.sum --csv Backends/CUDA/build/probe_copy >> "$OUT/ncu.csv" 2>&1; }
[ "${TORCH_NCU:-1}" = 1 ] && echo "# run torch-flash" >> "$OUT/ncu.csv" &&
ncu --clock-control none -k regex:flash --metrics "$M" --csv python3 - >> "$OUT/ncu.csv" 2>&1 <<'PY'
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
for d in (64, 128):
    for causal in (False, True):
        q, k, v = (torch.randn(1, 8, 4096, d, device="cuda", dtype=torch.float16) for _ in range(3))
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
        torch.cuda.synchronize()
        print(f"# torch d={d} causal={causal}")
PY
fi

# What limits each kernel: Nsight Compute's sections for one launch (N = 4096, fp16; fa2 at
# d = 128 with 16 heads; standard and fa1 at d = 64 and 128 in the speed shape, 16K tokens).
if has "$SECTIONS" details; then
NSECTIONS="--section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy --section LaunchStats --section SchedulerStats"
for d in 64 128; do
  for kernel in standard fa1; do
    echo "# $kernel N=4096 d=$d B=4 H=$((2048 / d))"
    ncu --clock-control none $NSECTIONS $BIN $kernel fp16 --B 4 --H $((2048 / d)) --N 4096 --D $d 2>&1
  done
done > "$OUT/ladder_ncu_details.txt" 2>&1
[ "$FA2_EXTRAS" = 1 ] && ncu --clock-control none --section SpeedOfLight --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis \
  --section WarpStateStats --section Occupancy --section LaunchStats --section SchedulerStats \
  $BIN fa2 fp16 --B 1 --H 16 --N 4096 --D 128 > "$OUT/fa2_ncu_details.txt" 2>&1
# fa2-bwd's main kernel at the speed shape (N = 4096, 16K tokens), d = 64 and 128.
has "$KERNELS" fa2-bwd && for d in 64 128; do
  echo "# fa2-bwd N=4096 d=$d B=4 H=$((2048 / d))"
  ncu --clock-control none -k regex:main_kernel $NSECTIONS $BIN fa2-bwd fp16 --B 4 --H $((2048 / d)) --N 4096 --D $d 2>&1
done > "$OUT/fa2_bwd_ncu_details.txt" 2>&1
fi

# 3. Speed: ours and PyTorch's in one run; 16K tokens per batch, hidden 2048. fa2-bwd and the
#    torch *-bwd rows are backward passes (TFLOP/s = 2.5x the forward's flops over the time).
if has "$SECTIONS" speed; then
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ',' ' ')
echo "kernel,N,d,heads,dtype,causal,time_us,tflops,gpu" > "$OUT/speed.csv"
for n in $SPEED_N; do
  for d in 64 128; do
    b=$((16384 / n)); h=$((2048 / d))
    for causal in 0 1; do
      # fa3 fp8: the attention kernel alone (quantization and V's transposition are not timed),
      # TFLOP/s counted as for fp16.
      runs=""; for kernel in $KERNELS; do runs="$runs $kernel:fp16"; [ "$kernel" = fa3 ] && runs="$runs fa3:fp8"; done
      for run in $runs; do
        kernel=${run%:*}; dtype=${run#*:}
        line=$($BIN $kernel $dtype --B $b --H $h --N $n --D $d $([ $causal = 1 ] && echo --causal) --time 10 | grep time_us)
        t=$(echo "$line" | sed 's/.*time_us=\([0-9.]*\).*/\1/'); f=$(echo "$line" | sed 's/.*tflops=\([0-9.]*\).*/\1/')
        echo "$kernel,$n,$d,$h,$dtype,$([ $causal = 1 ] && echo true || echo false),$t,$f,$GPU" >> "$OUT/speed.csv"
      done
    done
  done
done
SPEED_N="$SPEED_N" FLEX_N="${FLEX_N:-4096}" python3 Benchmarks/gpu/torch_speed.py >> "$OUT/speed.csv"
SPEED_N="$SPEED_N" python3 Benchmarks/gpu/torch_math_speed.py >> "$OUT/speed.csv"
# The d = 64 register budget, both ways (timings only; the recorded kernel is the default build).
B2=Backends/CUDA/build/alt; mkdir -p $B2
[ "$FA2_EXTRAS" = 1 ] && nvcc -O3 -std=c++17 -DFA2_D64_BLOCKS_PER_SM=3 -gencode=arch=compute_90a,code=sm_90a -o $B2/attn Backends/CUDA/driver.cu && \
for n in 1024 4096 16384; do for c in "" --causal; do
  echo "blocks/SM=2 N=$n $c $($BIN fa2 fp16 --B $((16384 / n)) --H 32 --N $n --D 64 $c --time 10 | grep time_us)"
  echo "blocks/SM=3 N=$n $c $($B2/attn fa2 fp16 --B $((16384 / n)) --H 32 --N $n --D 64 $c --time 10 | grep time_us)"
done; done | tee "$OUT/fa2_variants.txt"
cat "$OUT/speed.csv"
fi
