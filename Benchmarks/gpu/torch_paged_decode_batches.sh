#!/usr/bin/env bash
# On the GPU machine, from the repository root: FlexAttention decode, contiguous vs paged (shuffled pages,
# with and without the block mask's full-block tensors), Nk = 4096, H = 32, Hkv = 8, d = 128, fp16, at
# batch 2, 4, 8 and 16 - an out-of-sample check of iosim's --stages 1 estimate, whose predictions for these
# batches were written down before this ran (issue 16 item 7; Benchmarks/gpu/torch_paged_decode.py).
# Writes $OUT/paged_decode_batches.txt (log: per variant the kernels of a call with their median time
# over 20 profiled calls) and $OUT/paged_decode_batches.csv (graph-replay call times).
set -uo pipefail
export PYTHONUNBUFFERED=1 TORCHINDUCTOR_CACHE_DIR=/tmp/inductor_cache PD_PROFILE_CALLS=20
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee "$OUT/paged_decode_batches.txt") 2>&1
date -u; python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
FD=$(python3 -c "import os, torch._inductor.kernel.flex as f; print(os.path.dirname(f.__file__))")
grep -n "def get_split_k" -A 12 "$FD/flex_decoding.py"
: > "$OUT/paged_decode_batches.csv"
for b in ${BATCHES:-2 4 16 8}; do
  echo "== batch $b  [t=${SECONDS}s]"
  PD_B=$b timeout 170 python3 Benchmarks/gpu/torch_paged_decode.py time \
    contiguous:4096,paged-shuffled:4096,paged-shuffled-nofull:4096 > /tmp/pdb$b.csv 2> /tmp/pdb$b.err
  echo "rc=$?"
  grep -E "rel_err|kernels per call|graph median|FAILED" /tmp/pdb$b.err
  if [ ! -s "$OUT/paged_decode_batches.csv" ]; then head -1 /tmp/pdb$b.csv > "$OUT/paged_decode_batches.csv"; fi
  tail -n +2 /tmp/pdb$b.csv | tee -a "$OUT/paged_decode_batches.csv"
done
