#!/usr/bin/env bash
# Benchmark (not a test): data-mode fa2 against the fp64 reference on the same problem, N = 4096,
# d = 64, fp64, interleaved in one run so both see the same machine load. Prints each wall time
# and the ratio of medians (target ≤ 3×).
# Usage: Benchmarks/data_mode_vs_reference.sh [repeats]   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-3}
swift build -c release --product iosim >/dev/null
B=.build/release/iosim
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
python3 - "$T" <<'PY'
import sys, numpy as np
r = np.random.default_rng(0)
for n in "qkv": np.save(f"{sys.argv[1]}/{n}.npy", r.uniform(-1, 1, (4096, 64)))
PY
now() { date +%s.%N; }
ref=(); data=()
for _ in $(seq "$R"); do
  s=$(now); $B attention --q "$T/q.npy" --k "$T/k.npy" --v "$T/v.npy" --out "$T/o.npy" --lse "$T/l.npy"; e=$(now)
  ref+=("$(echo "$e - $s" | bc)")
  s=$(now); $B simulate --mode data --no-check --schedule fa2 --N 4096 --d 64 --dtype fp64 --M 228KiB >/dev/null; e=$(now)
  data+=("$(echo "$e - $s" | bc)")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mr=$(med "${ref[@]}"); md=$(med "${data[@]}")
echo "reference (iosim attention, .npy in/out): ${ref[*]} s  median $mr s"
echo "data-mode fa2 (simulate --mode data --no-check, M=228KiB): ${data[*]} s  median $md s"
echo "ratio data/reference: $(echo "scale=2; $md / $mr" | bc)"
