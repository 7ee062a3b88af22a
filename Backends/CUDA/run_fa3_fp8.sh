#!/usr/bin/env bash
# fa3 fp8 on the GPU machine, one call (repository root, OUT=<dir>): builds
# Backends/CUDA/fa3_fp8_dev.cu (default kernel and variants), checks it (fa3_fp8_dev check), runs
# iosim fp8-error's outlier experiment on the kernel, times fa3 fp8 beside fa3 fp16, and profiles
# it with Nsight Compute (L2->SM bytes; sections). Every step runs whatever an earlier one printed;
# the log says which checks failed. STEPS picks parts (default: all):
#   build check experiment time ncu sections
# VARIANTS: extra builds "name:-DFLAG=V ..." checked and timed at N = 4K, 16K.
set -uo pipefail
OUT=${OUT:-out}; mkdir -p "$OUT"
STEPS=${STEPS:-build check experiment time ncu sections}
VARIANTS=${VARIANTS-"s3:-DFP8_STAGES=3 ov0:-DFP8_OVERLAP=0 ov1:-DFP8_OVERLAP=1 nopp:-DFP8_PINGPONG=0"}
exec > >(tee -a "$OUT/fa3_fp8_log.txt") 2>&1
B=Backends/CUDA/build; mkdir -p $B
has() { [[ " $STEPS " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader; nvcc --version | tail -1; ncu --version | tail -1
NV="nvcc -O3 -std=c++17 -lineinfo -Xptxas -v -gencode=arch=compute_90a,code=sm_90a"
if has build; then
  $NV -o $B/fa3_fp8_dev Backends/CUDA/fa3_fp8_dev.cu > $B/fa3_fp8_ptxas.txt 2>&1 & pids=$!
  for v in $VARIANTS; do $NV ${v#*:} -o $B/fa3_fp8_dev_${v%%:*} Backends/CUDA/fa3_fp8_dev.cu > $B/fa3_fp8_ptxas_${v%%:*}.txt 2>&1 & pids="$pids $!"; done
  wait $pids  # (a bare wait would also wait for the tee above)
  grep -A2 "fa3fp87forward" $B/fa3_fp8_ptxas.txt | grep -v "^--"; grep -i "warn\|error" $B/fa3_fp8_ptxas*.txt
  cuobjdump -sass $B/fa3_fp8_dev | grep -o "QGMMA[^ ]*" | sort | uniq -c
fi
if has check; then
  timeout 150 $B/fa3_fp8_dev check | tee "$OUT/fa3_fp8_check.txt" || {
    echo "check failed: memcheck on a small case"
    timeout 60 compute-sanitizer --tool memcheck $B/fa3_fp8_dev one fp8 1 1 200 64 0 2>&1 | head -30
  }
  for v in $VARIANTS; do echo "== variant ${v%%:*} (${v#*:})"; timeout 150 $B/fa3_fp8_dev_${v%%:*} check | tail -1; done
fi
if has experiment; then
  for a in "1024 128 1 0" "1024 128 1 1" "1024 128 1 2" "1024 64 1 0" "4096 128 8 0"; do timeout 60 $B/fa3_fp8_dev experiment $a; done | tee "$OUT/fa3_fp8_experiment.txt"
fi
if has time; then
  timeout 150 $B/fa3_fp8_dev time | tee "$OUT/fa3_fp8_speed.csv"
  for v in $VARIANTS; do echo "== variant ${v%%:*}"; timeout 60 $B/fa3_fp8_dev_${v%%:*} time 4096 16384 | grep "fp8"; done
fi
if has ncu; then
  M=l1tex__m_xbar2l1tex_read_bytes.sum,lts__t_sectors_srcunit_tex_op_read.sum,dram__bytes_read.sum,dram__bytes_write.sum,l1tex__m_l1tex2xbar_write_bytes.sum,gpu__time_duration.sum,launch__registers_per_thread,launch__grid_size
  : > "$OUT/fa3_fp8_ncu_raw.csv"
  for d in 64 128; do for c in 0 1; do
    echo "# run fp8 N=4096 d=$d heads=8 causal=$c" >> "$OUT/fa3_fp8_ncu_raw.csv"
    timeout 120 ncu --clock-control none --metrics "$M" --csv $B/fa3_fp8_dev one fp8 1 8 4096 $d $c >> "$OUT/fa3_fp8_ncu_raw.csv" 2>&1
  done; done
  python3 -c "import csv,sys
for l in open(sys.argv[1]):
    if l.startswith('#'): print(l.strip())
    elif l.startswith('\"0\"'): r = next(csv.reader([l])); print('   ', r[12], r[14])" "$OUT/fa3_fp8_ncu_raw.csv"
fi
if has sections; then
  S="--section SpeedOfLight --section ComputeWorkloadAnalysis --section InstructionStats --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats"
  for k in fp8 fp16; do echo "# fa3 $k B=1 H=16 N=4096 d=128"; timeout 150 ncu --clock-control none $S $B/fa3_fp8_dev one $k 1 16 4096 128 0; done > "$OUT/fa3_fp8_ncu_details.txt" 2>&1
  grep -E "^#|Duration|Compute \(SM\) Throughput|Memory Throughput|Issue Slots Busy|No Eligible|Registers Per|Executed Ipc A|Warp Cycles Per Issued|SM Busy|pipe" "$OUT/fa3_fp8_ncu_details.txt" | head -60
fi
