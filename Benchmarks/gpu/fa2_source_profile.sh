#!/usr/bin/env bash
# Experiment (GPU machine): Nsight Compute's full set and per-SASS-instruction source view for our
# fa2 and PyTorch's flash kernel at N = 4096, d = 64 and 128 (2048 / d heads), to compare executed
# instructions by opcode and stall reasons. This is how the mask predication and tile-copy
# arithmetic in the first fa2 kernel were found (Reports/gpu/README.md, Speed).
# Output in $OUT: {ours,torch}{64,128}_sass.csv (source page) and _details.txt (all sections).
set -u
OUT=${OUT:-out}; mkdir -p "$OUT"; W=/tmp/fa2prof; mkdir -p $W
nvcc -O3 -std=c++17 -lineinfo -gencode=arch=compute_90a,code=sm_90a -o $W/attn Backends/CUDA/driver.cu 2> $W/ptx.txt || { cat $W/ptx.txt; exit 1; }
cat > $W/torch_flash.py <<'PY'
import sys, torch
from torch.nn.attention import SDPBackend, sdpa_kernel
d = int(sys.argv[1])
q, k, v = (torch.randn(1, 2048 // d, 4096, d, device="cuda", dtype=torch.float16) for _ in range(3))
with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
    torch.nn.functional.scaled_dot_product_attention(q, k, v)
torch.cuda.synchronize()
PY
for d in 64 128; do
  ncu --clock-control none --set full --import-source yes -o $W/ours$d -f $W/attn fa2 fp16 --B 1 --H $((2048 / d)) --N 4096 --D $d > /dev/null 2>&1
  ncu --clock-control none --set full -k regex:flash -o $W/torch$d -f python3 $W/torch_flash.py $d > /dev/null 2>&1
  for who in ours torch; do
    ncu -i $W/$who$d.ncu-rep --page source --csv --print-source sass > "$OUT/$who${d}_sass.csv" 2>&1
    ncu -i $W/$who$d.ncu-rep --page details --print-details all > "$OUT/$who${d}_details.txt" 2>&1
  done
done
# Executed instructions by opcode, in percent of the kernel's total.
python3 - "$OUT" <<'PY'
import collections, csv, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("*_sass.csv")):
    rows = list(csv.reader(open(f)))
    h = next(i for i, r in enumerate(rows) if "Source" in r)
    src, ex = rows[h].index("Source"), rows[h].index("Instructions Executed")
    c = collections.Counter()
    for r in rows[h + 1:]:
        if len(r) > ex and r[src].strip() and r[ex].replace(",", "").isdigit():
            op = r[src].split()
            c[(op[1] if op[0].startswith("@") else op[0]).split(".")[0]] += int(r[ex].replace(",", ""))
    total = sum(c.values())
    print(f.stem, total, " ".join(f"{k}:{100 * v / total:.1f}" for k, v in c.most_common(12)))
PY
