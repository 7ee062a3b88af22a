#!/usr/bin/env bash
# Mask benchmarks (not tests; docs/cli.md §2): count mode at N = 128K, 32 heads, d = 128 for every
# forward schedule under 1,000 packed documents (varlen and mask packing) and under a random
# 128-block mask of 10% density (each < 1 s); and `check` on N = 8192, 8 heads, d = 64 with a block
# mask beside the same check without one (the ratio: no slower with the mask).
# Usage: Benchmarks/masks.sh   (builds the release binary first; NumPy from the project's .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product iosim >/dev/null
B=.build/release/iosim
PY=$(bash scripts/setup_python.sh)/python
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
t() { local s=$(date +%s.%N); "$@" >/dev/null; echo "$(echo "$(date +%s.%N) - $s" | bc) s  ${*: -6}"; }
"$PY" - "$dir" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(1)
cuts = np.sort(rng.choice(np.arange(1, 131072), 999, replace=False))
np.savetxt(f"{d}/docs.txt", np.diff(np.concatenate([[0], cuts, [131072]])), fmt="%d")
# 10% of the 1024 x 1024 blocks non-empty (half partial, half full), the diagonal kept.
t = rng.choice(3, size=(1, 1024, 1024), p=[0.9, 0.05, 0.05]).astype(np.int8)
t[0, np.arange(1024), np.arange(1024)] = 1
np.save(f"{d}/blocks.npy", t)
# check's inputs: N = 8192, 8 heads, d = 64, fp16, O from a fp32 reference on a 64-block mask.
n, h, dd, bs = 8192, 8, 64, 128
q, k, v = (rng.standard_normal((1, h, n, dd)).astype(np.float16) for _ in range(3))
bt = rng.choice(3, size=(1, n // bs, n // bs), p=[0.7, 0.15, 0.15]).astype(np.int8)
bt[0, np.arange(n // bs), np.arange(n // bs)] = 1
np.save(f"{d}/check_blocks.npy", bt)
for name, x in (("q", q), ("k", k), ("v", v)):
    np.save(f"{d}/{name}.npy", x)
np.save(f"{d}/o.npy", np.zeros((1, h, n, dd), np.float16))
PY
common=(--N 131072 --heads 32 --d 128 --causal --format json)
for s in standard fa1 fa2 fa3 small-m split-kv; do
  t $B "${common[@]:2}" --documents "$dir/docs.txt" --packing varlen --schedule $s
  t $B "${common[@]:2}" --documents "$dir/docs.txt" --packing mask --schedule $s
  t $B "${common[@]}" --block-mask "$dir/blocks.npy" --schedule $s
done
t $B "${common[@]}" --block-mask "$dir/blocks.npy" --schedule flex
# check: a wrong O (zeros) is still checked in full; exit 1 is its verdict. The baseline is the
# same check without a mask (the reference's GEMMs cover every key either way); causal alone, which
# skips the keys past the diagonal, is shown beside.
files=(--q "$dir/q.npy" --k "$dir/k.npy" --v "$dir/v.npy" --o "$dir/o.npy" --dtype fp16)
c() { local s=$(date +%s.%N); $B check "${files[@]}" "$@" >/dev/null || true; echo "$(echo "$(date +%s.%N) - $s" | bc) s  check $*"; }
for _ in 1 2; do
  c
  c --causal --block-mask "$dir/check_blocks.npy"
  c --causal
done
