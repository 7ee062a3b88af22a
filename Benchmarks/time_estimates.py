"""iosim's time estimates beside measured kernel times (Reports/gpu/speed.csv, one H100 run):
torch-flash (PyTorch's FA2 kernel, tiles 128x128 at d = 64, 128x64 at d = 128) against the fa2
estimate with the same tiles; torch-cudnn (cuDNN's Hopper kernel) against the fa3 estimate with
FA3's default tiles; our fa2 kernel (128x64) against fa2. Tiles from Backends/CUDA/kernel_tiles.py.
Nothing is fitted. Writes Reports/gpu/time_estimates.csv. Run from the repository root after
`swift build -c release --product iosim`."""
import csv
import json
import subprocess
import sys

sys.path.insert(0, "Backends/CUDA")
import kernel_tiles  # noqa: E402

rows = []
for r in csv.DictReader(open("Reports/gpu/speed.csv")):
    n, d, heads, causal = int(r["N"]), int(r["d"]), int(r["heads"]), r["causal"] == "true"
    batch = 16384 // n
    if r["kernel"] == "torch-flash":
        schedule, tiles = "fa2", kernel_tiles.TORCH_FLASH[d]
    elif r["kernel"] == "torch-cudnn":
        schedule, tiles = "fa3", None
    elif r["kernel"] == "fa2":
        schedule, tiles = "fa2", kernel_tiles.tiles("fa2")
    else:
        continue
    args = [".build/release/iosim", "--N", str(n), "--d", str(d), "--batch", str(batch), "--heads", str(heads),
            "--schedule", schedule, "--hardware", "h100-sxm", "--format", "json"]
    args += ["--Br", str(tiles[0]), "--Bc", str(tiles[1])] if tiles else []
    args += ["--causal"] if causal else []
    res = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)["results"][0]
    est = res["time_estimate_s"] * 1e6
    measured = float(r["time_us"])
    rows.append([r["kernel"], schedule, n, d, batch, heads, str(causal).lower(), res["Br"], res["Bc"],
                 f"{measured:.1f}", f"{est:.1f}", f"{(est - measured) / measured:+.3f}"])
with open("Reports/gpu/time_estimates.csv", "w") as f:
    f.write("kernel,schedule,N,d,batch,heads,causal,Br,Bc,measured_us,estimated_us,relative_error\n")
    for row in rows:
        f.write(",".join(str(x) for x in row) + "\n")
for row in rows:
    print(" ".join(f"{x:>9}" for x in map(str, row)))
