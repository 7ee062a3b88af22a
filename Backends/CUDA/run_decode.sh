#!/usr/bin/env bash
# The decode kernels' GPU side in one call (on the GPU machine, from the repository root):
# builds `decode` (unless BIN names a built one), records small outputs for the CPU-side
# cross-validation and checks them against an fp64 reference, checks that the block order does
# not matter (bitwise), profiles each kernel with Nsight Compute and times every kernel beside
# PyTorch's flash decode (Benchmarks/gpu/torch_decode.py) in the same run. Writes to $OUT:
#   env.txt                       GPU, driver / nvcc / ncu / torch versions (make_manifest.py's env)
#   build.txt                     ptxas output (registers, spills) of every kernel
#   decode_recordings.tgz         one directory per recording: command.txt, stdout.txt, o.npy, lse.npy
#   decode_kernels_ncu_raw.csv    ncu --csv --page raw per configuration, each block after a
#                                 "# config NAME Nk COMMAND" line
#   decode_kernels_ncu_details.txt  Nsight sections: split-kv (default S) at Nk = 32K; paged split-kv
#                                 (shuffled and identity table) beside it; paged-v2's L1 hits at 4K
#   decode_kernels_speed.csv      Reports/gpu/decode_speed.csv's columns: ours and torch-flash
#   log.txt                       everything printed
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
BIN=${BIN:-Backends/CUDA/build/decode}
CANON=Backends/CUDA/build/decode   # the name recordings' commands carry
CHECK=Benchmarks/gpu/decode_kernels_check.py
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nvcc --version | tail -2; ncu --version | tail -1;
  python3 -c "import torch; print('torch', torch.__version__)"; } > "$OUT/env.txt"
cat "$OUT/env.txt"
if [ ! -x "$BIN" ]; then
  Backends/CUDA/build.sh build decode > "$OUT/build.txt" 2>&1 || { cat "$OUT/build.txt"; exit 1; }
else
  cp "$(dirname "$BIN")/ptxas_decode.txt" "$OUT/build.txt" 2>/dev/null
fi
grep -E "registers|spill" "$OUT/build.txt" | paste - - | sed 's/ptxas info *: //g' | cut -c1-220 | sort | uniq -c | sort -rn | head -5
FAIL=0

# 1. Recordings: fp16 and bf16; Nq 1 and 4; ragged Nk (1000, 333); GQA (H = 4, Hkv = 2) and H = Hkv;
#    plus split-kv with an empty split (S = 4 > Tc = 3) and split-kv over a paged cache.
R=$(mktemp -d)
record() {  # name, then the command's arguments after the binary
  local name=$1; shift
  mkdir -p "$R/$name"
  if "$BIN" "$@" --seed 7 --out "$R/$name" > "$R/$name/stdout.txt" 2>&1; then
    echo "$CANON $* --seed 7 --out DIR" > "$R/$name/command.txt"
  else echo "FAILED $name"; cat "$R/$name/stdout.txt"; FAIL=1; fi
}
for dtype in fp16 bf16; do
  for shape in "1 4 2 1 1000 64" "2 4 2 4 333 128" "1 2 2 1 333 128" "2 4 4 4 1000 64"; do
    set -- $shape
    for kernel in split-kv paged-v1 paged-v2; do
      record "$kernel-$dtype-B$1H$2Hkv$3N$4Nk$5D$6" $kernel $dtype --B $1 --H $2 --Hkv $3 --N $4 --Nk $5 --D $6
    done
  done
  record "split-kv-$dtype-B1H2Hkv2N1Nk333D128-S4" split-kv $dtype --B 1 --H 2 --Hkv 2 --N 1 --Nk 333 --D 128 --splits 4
  record "split-kv-$dtype-B1H4Hkv2N1Nk1000D64-paged" split-kv $dtype --B 1 --H 4 --Hkv 2 --N 1 --Nk 1000 --D 64 --block 16
done
tar czf "$OUT/decode_recordings.tgz" -C "$R" .
python3 $CHECK check "$R"/*/ || FAIL=1

# 2. The block order must not matter: shuffled vs identity table, paged vs contiguous split-kv.
T=$(mktemp -d)
same() {  # label, args
  local label=$1; shift
  mkdir -p "$T/$label"; "$BIN" "$@" --seed 3 --out "$T/$label" > "$T/$label/stdout.txt" 2>&1 || { echo "FAILED $label"; FAIL=1; }
}
for kernel in paged-v1 paged-v2; do
  same $kernel-shuffled $kernel fp16 --B 2 --H 8 --Hkv 2 --N 1 --Nk 3001 --D 128 --table shuffled
  same $kernel-identity $kernel fp16 --B 2 --H 8 --Hkv 2 --N 1 --Nk 3001 --D 128 --table identity
  python3 $CHECK same "$T/$kernel-shuffled" "$T/$kernel-identity" || FAIL=1
done
same splitkv-contig split-kv bf16 --B 2 --H 8 --Hkv 2 --N 2 --Nk 3001 --D 64 --splits 3
same splitkv-paged split-kv bf16 --B 2 --H 8 --Hkv 2 --N 2 --Nk 3001 --D 64 --splits 3 --block 16
python3 $CHECK same "$T/splitkv-contig" "$T/splitkv-paged" || FAIL=1

# 3. The profiled / timed shape: B = 8, H = 32, Hkv = 8, Nq = 1, d = 128, fp16.
SHAPE="fp16 --B 8 --H 32 --Hkv 8 --N 1 --D 128"
CONFIGS=("split-kv|split-kv" "split-kv-s1|split-kv --splits 1" "split-kv-paged|split-kv --block 16" "paged-v1|paged-v1" "paged-v2|paged-v2")
args() { local k=${1#*|}; set -- $k; echo "$1 $SHAPE ${*:2}"; }
# Correctness at Nk = 4096 against the fp64 reference, and split-kv paged == contiguous bitwise.
for c in "${CONFIGS[@]}"; do
  name=${c%%|*}; mkdir -p "$T/big-$name"
  $BIN $(args "$c") --Nk 4096 --seed 1 --out "$T/big-$name" > "$T/big-$name/stdout.txt" 2>&1 || { echo "FAILED big-$name"; FAIL=1; }
  echo "$CANON $(args "$c") --Nk 4096 --seed 1 --out DIR" > "$T/big-$name/command.txt"
  head -1 "$T/big-$name/stdout.txt"
done
python3 $CHECK check "$T"/big-*/ || FAIL=1
python3 $CHECK same "$T/big-split-kv" "$T/big-split-kv-paged" || FAIL=1

# 4. Nsight Compute, one call per configuration (every kernel of the call), cold L2 (ncu flushes).
M=l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum
M=$M,gpu__time_duration.sum,launch__grid_size,launch__block_size,launch__registers_per_thread
M=$M,launch__shared_mem_per_block_dynamic,launch__waves_per_multiprocessor
: > "$OUT/decode_kernels_ncu_raw.csv"
for nk in 4096 32768; do
  for c in "${CONFIGS[@]}"; do
    echo "# config ${c%%|*} $nk $CANON $(args "$c") --Nk $nk" >> "$OUT/decode_kernels_ncu_raw.csv"
    timeout 120 ncu --clock-control none --metrics "$M" --csv --page raw --print-units base \
      $BIN $(args "$c") --Nk $nk >> "$OUT/decode_kernels_ncu_raw.csv" 2>&1 || echo "ncu failed: $c $nk"
  done
done
grep -c '^"[0-9]' "$OUT/decode_kernels_ncu_raw.csv"
timeout 150 ncu --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
  --section WarpStateStats --section SchedulerStats --section LaunchStats -k regex:attend \
  $BIN split-kv $SHAPE --Nk 32768 > "$OUT/decode_kernels_ncu_details.txt" 2>&1
# Paged split-kv beside contiguous (same bytes, more time): shuffled and identity block tables.
for table in shuffled identity; do
  echo "== split-kv paged, --table $table, Nk = 32768" >> "$OUT/decode_kernels_ncu_details.txt"
  timeout 150 ncu --clock-control none --section SpeedOfLight --section InstructionStats --section WarpStateStats \
    --metrics sm__inst_executed.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_sector_hit_rate.pct \
    -k regex:attend $BIN split-kv $SHAPE --Nk 32768 --block 16 --table $table >> "$OUT/decode_kernels_ncu_details.txt" 2>&1
done
echo "== split-kv contiguous, Nk = 32768: instructions" >> "$OUT/decode_kernels_ncu_details.txt"
timeout 150 ncu --clock-control none --section InstructionStats \
  --metrics sm__inst_executed.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,lts__t_sector_hit_rate.pct \
  -k regex:attend $BIN split-kv $SHAPE --Nk 32768 >> "$OUT/decode_kernels_ncu_details.txt" 2>&1
# paged-v2 reads 0.3% under iosim's count: L1 hits between CTAs of one SM that share a KV head?
echo "== paged-v2, Nk = 4096: L1 hits" >> "$OUT/decode_kernels_ncu_details.txt"
timeout 150 ncu --clock-control none --section MemoryWorkloadAnalysis_Tables --section SpeedOfLight \
  --metrics l1tex__t_sector_hit_rate.pct,l1tex__m_xbar2l1tex_read_bytes.sum \
  -k regex:attend $BIN paged-v2 $SHAPE --Nk 4096 >> "$OUT/decode_kernels_ncu_details.txt" 2>&1

# 5. Speed: torch-flash and ours, same run; reps as torch_decode.py picks them (about 1 ms per sample).
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ',' ' ')
echo "kernel,batch,heads,kv_heads,Nq,Nk,d,dtype,time_us,kv_gbps,gpu" > "$OUT/decode_kernels_speed.csv"
python3 - >> "$OUT/decode_kernels_speed.csv" <<'PY'
import sys
sys.path.insert(0, "Benchmarks/gpu")
import torch_decode as t
t.CONFIGS = [(8, 1, 4096), (8, 1, 32768)]
t.time_mode()
PY
sed -i '0,/^kernel,batch/!{/^kernel,batch/d}' "$OUT/decode_kernels_speed.csv"
for nk in 4096 32768; do
  reps=$([ $nk = 4096 ] && echo 22 || echo 3)
  for c in "${CONFIGS[@]}"; do
    line=$($BIN $(args "$c") --Nk $nk --time $reps | tee /dev/stderr | grep '^time_us=')
    us=$(echo "$line" | sed 's/time_us=\([0-9.]*\).*/\1/'); gb=$(echo "$line" | sed 's/.*kv_gbps=\([0-9.]*\).*/\1/')
    echo "${c%%|*},8,32,8,1,$nk,128,fp16,$us,$gb,$GPU" >> "$OUT/decode_kernels_speed.csv"
  done
done
for nk in 4096 32768; do  # the paged split-kv cache with its blocks in order
  reps=$([ $nk = 4096 ] && echo 22 || echo 3)
  line=$($BIN split-kv $SHAPE --Nk $nk --block 16 --table identity --time $reps | tee /dev/stderr | grep '^time_us=')
  us=$(echo "$line" | sed 's/time_us=\([0-9.]*\).*/\1/'); gb=$(echo "$line" | sed 's/.*kv_gbps=\([0-9.]*\).*/\1/')
  echo "split-kv-paged-identity,8,32,8,1,$nk,128,fp16,$us,$gb,$GPU" >> "$OUT/decode_kernels_speed.csv"
done
cat "$OUT/decode_kernels_speed.csv"
echo "FAIL=$FAIL"
exit $FAIL
