"""Builds Reports/gpu/fa2_masks_traffic.csv from run_masks.sh's Nsight Compute output (masks_ncu_raw.csv:
each run after a "# run NAME COMMAND" line) and iosim's prediction for the same run: fa2 with the
kernel's tiles (Br 128, Bc 64, 4 warps, M = 228KiB as traffic_csv.py), `--documents` (varlen, iosim's
default packing) or `--block-mask` with the block mask the driver drew (BLOCKS/NAME/block_mask.npy,
from masks_blocks.tgz; `--mask-block 128xBk`). Run from the repository root after
`swift build -c release --product iosim` (or IOSIM=binary):
    python3 Backends/CUDA/masks_traffic.py RAW.csv BLOCKS > Reports/gpu/fa2_masks_traffic.csv
Columns: case, batch, heads, N, d, causal, documents (';'-separated), block_mask (path), mask_block,
grid (CTAs launched), metric, measured_bytes, predicted_bytes (iosim's L2->SM reads for the read
metrics, its writes for the write metrics)."""
import collections
import csv
import json
import os
import subprocess
import sys

IOSIM = os.environ.get("IOSIM", ".build/release/iosim")
READS = ("l1tex__m_xbar2l1tex_read_bytes.sum", "dram__bytes_read.sum")
WRITES = ("l1tex__m_l1tex2xbar_write_bytes.sum", "dram__bytes_write.sum")

raw, blocks = sys.argv[1], sys.argv[2]
runs, cur = collections.OrderedDict(), None
for line in open(raw):
    if line.startswith("# run "):
        name, *command = line[6:].split()
        cur = name
        runs[cur] = (command, {})
    elif line.startswith('"') and not line.startswith('"ID"') and cur:
        f = next(csv.reader([line]))
        try:
            runs[cur][1][f[12]] = float(f[14].replace(",", ""))
        except ValueError:
            pass

print("case,batch,heads,N,d,causal,documents,block_mask,mask_block,grid,metric,measured_bytes,predicted_bytes")
for name, (command, metrics) in runs.items():
    if READS[0] not in metrics:
        sys.exit(f"masks_traffic: {name}: no {READS[0]} (the run failed?)")
    opts = {command[i]: command[i + 1] for i in range(3, len(command) - 1) if command[i].startswith("--") and command[i] != "--causal"}
    causal = "--causal" in command
    docs = opts.get("--documents", "")
    n = sum(map(int, docs.split(","))) if docs else int(opts["--N"])
    args = [IOSIM, "--schedule", "fa2", "--dtype", "fp16", "--Br", "128", "--Bc", "64", "--warps", "4", "--M", "228KiB",
            "--batch", opts["--B"], "--heads", opts["--H"], "--d", opts["--D"], "--format", "json"]
    args += ["--documents", docs] if docs else ["--N", str(n)]
    mask, mask_block = "", ""
    if "--block-sparse" in opts:
        mask = os.path.join(blocks, name, "block_mask.npy")
        mask_block = opts.get("--mask-block", "128x128")
        args += ["--block-mask", mask, "--mask-block", mask_block]
    args += ["--causal"] if causal else []
    r = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)["results"][0]
    grid = int(metrics.get("launch__grid_size", 0))
    for metric in READS + WRITES:
        predicted = r["hbm"]["read_bytes" if metric in READS else "write_bytes"]
        print(f"{name},{opts['--B']},{opts['--H']},{n},{opts['--D']},{str(causal).lower()},{docs.replace(',', ';')},"
              f"{mask},{mask_block},{grid},{metric},{int(metrics[metric])},{predicted}")
