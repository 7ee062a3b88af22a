#!/usr/bin/env bash
# fa2's masks on the GPU machine, from the repository root, in one call (issue "any mask", items 4
# and 6). driver.cu and fa2.cuh changed with them, so every kernel of driver.cu is re-recorded too.
# SECTIONS (default "record masks traffic speed flex") picks parts; a later call on a warm machine
# reuses the build. Writes $OUT/log.txt and $OUT/masks_run.tgz, which holds:
#   all/                  run_all.sh's record section (env.txt, build.txt, recordings.tgz, log.txt)
#   mask_recordings.tgz   fa2 varlen and block-sparse recordings (command.txt, stdout.txt, o.npy,
#                         lse.npy, block_mask.npy), checked here by check_recordings.py
#   masks_ncu_raw.csv     Nsight Compute per run, each after a "# run NAME COMMAND" line
#   masks_blocks.tgz      the block masks of the profiled block-sparse runs (NAME/block_mask.npy)
#   masks_speed.txt       fa2 dense beside its masked instantiation (varlen with one document,
#                         block-sparse with every block live) and at real sparsity
#   flex_head_dims_ncu_raw.csv   PyTorch's compiled flex_attention at d = 64 and 256 (ncu)
#   log.txt
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-out}; mkdir -p "$OUT"
SECTIONS=${SECTIONS:-record masks traffic speed flex}
has() { case " $SECTIONS " in *" $1 "*) return 0;; esac; return 1; }
exec > >(tee -a "$OUT/log.txt") 2>&1
W=$(mktemp -d)
trap 'tar czf "$OUT/masks_run.tgz" -C "$W" .' EXIT
BIN=Backends/CUDA/build/attn
if has record || [ ! -x $BIN ]; then
echo "== 1. build and re-record every kernel of driver.cu  [t=${SECONDS}s]"
OUT="$W/all" SECTIONS=record BUILD=attn bash Backends/CUDA/run_all.sh > /dev/null 2>&1
tail -5 "$W/all/log.txt"; grep -c . "$W/all/log.txt"
[ -x $BIN ] || { cat "$W/all/build.txt"; exit 1; }
fi

if has masks; then
echo "== 2. mask recordings  [t=${SECONDS}s]"
R=$(mktemp -d)
for dtype in fp16 bf16; do
  for causal in 0 1; do
    c=$([ $causal = 1 ] && echo --causal)
    for spec in "varlen-a:--B 1 --H 2 --D 64 --documents 37,200,1,150" "varlen-b:--B 2 --H 1 --D 128 --documents 130,3,333" \
                "varlen-c:--B 1 --H 1 --D 80 --documents 257,64" \
                "blocks-a:--B 1 --H 2 --N 300 --D 64 --block-sparse 0.5" \
                "blocks-b:--B 2 --H 2 --N 333 --D 128 --block-sparse 0.4 --mask-block 128x64 --mask-heads 1"; do
      name="fa2-$dtype-${spec%%:*}-$([ $causal = 1 ] && echo causal || echo full)"
      mkdir -p "$R/$name"
      cmd="$BIN fa2 $dtype ${spec#*:} $c --seed 7 --out DIR"
      if ${cmd/DIR/$R/$name} > "$R/$name/stdout.txt" 2>&1; then echo "$cmd" > "$R/$name/command.txt"
      else echo "FAILED $name"; cat "$R/$name/stdout.txt"; fi
    done
  done
done
tar czf "$W/mask_recordings.tgz" -C "$R" .
python3 Backends/CUDA/check_recordings.py "$R"
fi

DOCS5=3000,1000,2500,700,993
if has traffic; then
echo "== 3. traffic (Nsight Compute)  [t=${SECONDS}s]"
M=l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum,launch__grid_size
T=$(mktemp -d)
DOCS40=$(python3 -c "import random; r = random.Random(5); print(','.join(str(r.randint(1, 400)) for _ in range(40)))")
: > "$W/masks_ncu_raw.csv"
while read -r name args; do
  [ -z "$name" ] && continue
  mkdir -p "$T/$name"
  echo "# run $name $BIN fa2 fp16 $args --seed 7" >> "$W/masks_ncu_raw.csv"
  timeout 120 ncu --clock-control none --metrics "$M" --csv $BIN fa2 fp16 $args --seed 7 --out "$T/$name" >> "$W/masks_ncu_raw.csv" 2>&1
done <<EOF
dense-d128 --B 1 --H 8 --N 4096 --D 128
dense-d128-causal --B 1 --H 8 --N 4096 --D 128 --causal
dense-d64 --B 1 --H 8 --N 4096 --D 64
dense-d64-causal --B 1 --H 8 --N 4096 --D 64 --causal
varlen5-d128 --B 1 --H 8 --D 128 --documents $DOCS5
varlen5-d128-causal --B 1 --H 8 --D 128 --documents $DOCS5 --causal
varlen5-d64-causal --B 1 --H 8 --D 64 --documents $DOCS5 --causal
varlen40-d128-causal --B 2 --H 8 --D 128 --documents $DOCS40 --causal
varlen1-d128 --B 1 --H 8 --D 128 --documents 8192
blocks30-d128 --B 1 --H 8 --N 8192 --D 128 --block-sparse 0.3
blocks30-d128-causal --B 1 --H 8 --N 8192 --D 128 --block-sparse 0.3 --causal
blocks10-d64-128x64-shared --B 1 --H 8 --N 8192 --D 64 --block-sparse 0.1 --mask-block 128x64 --mask-heads 1
blocks10-d64-128x64-shared-causal --B 1 --H 8 --N 8192 --D 64 --block-sparse 0.1 --mask-block 128x64 --mask-heads 1 --causal
blocks100-d128 --B 1 --H 8 --N 8193 --D 128 --block-sparse 1.0
EOF
(cd "$T" && find . -name block_mask.npy | tar czf - -T -) > "$W/masks_blocks.tgz"
grep -c l1tex__m_xbar2l1tex_read_bytes "$W/masks_ncu_raw.csv"
fi

if has speed; then
echo "== 4. speed  [t=${SECONDS}s]"
S="--mask-heads 1"
for args in "--N 8192" "--documents 8192" "--N 8192 --block-sparse 1.0 $S" "--N 8192 --causal" "--documents 8192 --causal" \
            "--documents $DOCS5 --causal" "--N 8192 --block-sparse 0.3 $S" "--N 8192 --block-sparse 0.1 $S"; do
  echo "fa2 fp16 --B 2 --H 16 --D 128 $args: $($BIN fa2 fp16 --B 2 --H 16 --D 128 $args --time 20 | grep time_us)"
done | tee "$W/masks_speed.txt"
fi

if has flex; then
echo "== 5. flex at d = 64 and 256  [t=${SECONDS}s]"
timeout 240 ncu --clock-control none --nvtx --nvtx-include "fd_d64/" --nvtx-include "fd_d256/" \
  --metrics "$M,launch__grid_dim_x,launch__grid_dim_y,launch__grid_dim_z,launch__block_size" --csv \
  python3 Benchmarks/gpu/flex_head_dims.py > "$W/flex_head_dims_ncu_raw.csv" 2>&1
echo "flex rc=$?"; grep -v "^==PROF==" "$W/flex_head_dims_ncu_raw.csv" | grep -v '^"' | head -20
fi
echo "done  [t=${SECONDS}s]"
