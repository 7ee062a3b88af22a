#!/usr/bin/env bash
# fa3 on the GPU machine, one call (repository root, OUT=<dir>): builds Backends/CUDA/fa3_dev.cu
# (the default kernel and variants), checks every build against the fp32 reference, times fa3 and
# fa2 (fa3_dev time) beside PyTorch SDPA (Benchmarks/gpu/torch_speed.py: flash and cuDNN), and
# profiles fa3 with Nsight Compute (L2->SM bytes; sections). STEPS picks parts (default: all):
#   build check time torch ncu sections driver
# (driver: builds driver.cu for sm_90a and compares `attn fa3` with `attn fa2` on the recording
# shapes: max |O_fa3 - O_fa2| and |LSE_fa3 - LSE_fa2|, then one --time run)
# VARIANTS: extra builds "name:-DFLAG=V ..." checked and timed at N = 4K, 16K.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
STEPS=${STEPS:-build check time torch ncu sections driver}
VARIANTS=${VARIANTS-"nopp:-DFA3_PINGPONG=0 ov0:-DFA3_OVERLAP=0 ov1:-DFA3_OVERLAP=1 pers0:-DFA3_PERSISTENT=0 pers1:-DFA3_PERSISTENT=1 s3:-DFA3_STAGES=3"}
exec > >(tee -a "$OUT/fa3_log.txt") 2>&1
B=Backends/CUDA/build; mkdir -p $B
has() { [[ " $STEPS " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader; nvcc --version | tail -1; ncu --version | tail -1
NV="nvcc -O3 -std=c++17 -lineinfo -Xptxas -v -gencode=arch=compute_90a,code=sm_90a"
if has build; then
  $NV -o $B/fa3_dev Backends/CUDA/fa3_dev.cu > $B/fa3_ptxas.txt 2>&1 & pids=$!
  for v in $VARIANTS; do $NV ${v#*:} -o $B/fa3_dev_${v%%:*} Backends/CUDA/fa3_dev.cu > $B/fa3_ptxas_${v%%:*}.txt 2>&1 & pids="$pids $!"; done
  if has driver; then $NV -o $B/attn_sm90 Backends/CUDA/driver.cu > $B/attn_ptxas.txt 2>&1 & pids="$pids $!"; fi
  wait $pids  # (a bare wait would also wait for the tee above)
  grep -A2 "fa37forward" $B/fa3_ptxas.txt | grep -v "^--"; grep -i "warn\|error" $B/fa3_ptxas*.txt
  cuobjdump -sass $B/fa3_dev | grep -c HGMMA
fi
ok=1
if has check; then
  timeout 60 $B/fa3_dev check || ok=0
  for v in $VARIANTS; do echo "== variant ${v%%:*} (${v#*:})"; timeout 60 $B/fa3_dev_${v%%:*} check | tail -1; done
  if [ $ok = 0 ]; then
    timeout 60 compute-sanitizer --tool memcheck $B/fa3_dev one fa3 fp16 1 1 200 64 0 2>&1 | head -30
  fi
fi
if [ $ok = 1 ] && has time; then
  timeout 120 $B/fa3_dev time | tee "$OUT/fa3_speed.csv"
  for v in $VARIANTS; do echo "== variant ${v%%:*}"; timeout 60 $B/fa3_dev_${v%%:*} time 4096 16384 | grep "^fa3"; done
fi
if [ $ok = 1 ] && has torch; then  # torch_speed.py's method (3 warm-ups, mean of 20 back-to-back calls), forward only
  timeout 180 python3 - <<'PY' | tee "$OUT/torch_speed.csv"
import torch, torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
gpu = torch.cuda.get_device_name().replace(",", " ")
for n in (1024, 4096, 16384):
    for d in (64, 128):
        b, h = 16384 // n, 2048 // d
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        for causal in (False, True):
            for name, be in (("torch-cudnn", SDPBackend.CUDNN_ATTENTION), ("torch-flash", SDPBackend.FLASH_ATTENTION)):
                with sdpa_kernel(be):
                    for _ in range(3): F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    torch.cuda.synchronize()
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    for _ in range(20): F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    e.record(); torch.cuda.synchronize()
                us = s.elapsed_time(e) * 1000 / 20
                fl = 4 * b * h * n * n * d / (2 if causal else 1)
                print(f"{name},{n},{d},{h},fp16,{str(causal).lower()},{us:.3f},{fl / us / 1e6:.3f},{gpu}", flush=True)
PY
fi
if [ $ok = 1 ] && has ncu; then
  ncu --query-metrics 2>/dev/null | grep -iE "tma|xbar2l1tex|srcunit_tex_op_read|utma" | cut -c1-160 > "$OUT/fa3_ncu_metrics.txt"
  M=l1tex__m_xbar2l1tex_read_bytes.sum,lts__t_sectors_srcunit_tex_op_read.sum,lts__t_sectors_srcunit_tex.sum,dram__bytes_read.sum,dram__bytes_write.sum,l1tex__m_l1tex2xbar_write_bytes.sum,gpu__time_duration.sum,launch__registers_per_thread,launch__grid_size
  : > "$OUT/fa3_ncu_raw.csv"
  for d in 64 128; do for c in 0 1; do for k in ${NCU_KERNELS:-fa3}; do
    echo "# run $k N=4096 d=$d heads=8 causal=$c" >> "$OUT/fa3_ncu_raw.csv"
    timeout 120 ncu --clock-control none --metrics "$M" --csv $B/fa3_dev one $k fp16 1 8 4096 $d $c >> "$OUT/fa3_ncu_raw.csv" 2>&1
  done; done; done
  python3 -c "import csv,sys
for l in open(sys.argv[1]):
    if l.startswith('#'): print(l.strip())
    elif l.startswith('\"0\"'): r = next(csv.reader([l])); print('   ', r[12], r[14])" "$OUT/fa3_ncu_raw.csv"
fi
if [ $ok = 1 ] && has sections; then
  S="--section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats"
  for k in ${NCU_KERNELS:-fa3}; do echo "# $k fp16 B=1 H=16 N=4096 d=128"; timeout 150 ncu --clock-control none $S $B/fa3_dev one $k fp16 1 16 4096 128 0; done > "$OUT/fa3_ncu_details.txt" 2>&1
  grep -E "^#|Duration|Compute \(SM\) Throughput|Memory Throughput|Issue Slots Busy|No Eligible|Registers Per|Achieved Occupancy|Executed Ipc A|Warp Cycles Per Issued|SM Busy" "$OUT/fa3_ncu_details.txt"
fi
if [ $ok = 1 ] && has driver; then
  D=$(mktemp -d)
  for shape in "1 2 200 64 0" "1 2 200 64 1" "2 1 333 128 1" "1 1 1 64 0" "1 2 130 128 0" "1 4 1000 128 1"; do
    set -- $shape
    for k in fa2 fa3; do mkdir -p $D/$k; $B/attn_sm90 $k bf16 --B $1 --H $2 --N $3 --D $4 $([ "$5" = 1 ] && echo --causal) --seed 7 --out $D/$k > /dev/null || echo "attn $k failed"; done
    python3 -c "import numpy as np, sys; d = sys.argv[1]; o = [np.load(f'{d}/{k}/o.npy') for k in ('fa2', 'fa3')]; l = [np.load(f'{d}/{k}/lse.npy') for k in ('fa2', 'fa3')]
print('attn bf16 shape', sys.argv[2:], 'max|O_fa3-O_fa2| %.3e' % np.abs(o[0] - o[1]).max(), 'max|LSE diff| %.3e' % np.abs(l[0] - l[1]).max(), 'nan', int(np.isnan(o[1]).sum()))" $D $shape
  done
  $B/attn_sm90 fa3 fp16 --B 4 --H 16 --N 4096 --D 128 --time 20; $B/attn_sm90 fa2 fp16 --B 4 --H 16 --N 4096 --D 128 --time 20
fi
