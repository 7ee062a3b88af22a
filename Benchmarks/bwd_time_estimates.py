"""iosim's backward time estimates beside PyTorch's measured FA2 backward (Reports/gpu/bwd_times.csv,
one H100 run, the shapes of Reports/gpu/time_estimates.csv): `--pass backward --schedule fa2` with
the kernel's tiles (128x128 at d = 64, 64x128 at d = 128, read off its launches:
Reports/gpu/README.md) on h100-sxm. Nothing is fitted. Writes Reports/gpu/bwd_time_estimates.csv.
Run from the repository root after `swift build -c release --product iosim`."""
import csv
import sys

sys.path.insert(0, "Backends/CUDA")
import kernel_tiles  # noqa: E402
from iosim_run import result  # noqa: E402

rows = []
for r in csv.DictReader(open("Reports/gpu/bwd_times.csv")):
    n, d, batch, heads, causal = int(r["N"]), int(r["d"]), int(r["batch"]), int(r["heads"]), r["causal"] == "true"
    br, bc = kernel_tiles.TORCH_FLASH_BWD[d]
    res = result(".build/release/iosim", ["--N", n, "--d", d, "--batch", batch, "--heads", heads, "--schedule", "fa2",
                                          "--pass", "backward", "--Br", br, "--Bc", bc, "--hardware", "h100-sxm"]
                 + (["--causal"] if causal else []))
    est, measured = res["time_estimate_s"] * 1e6, float(r["time_us"])
    rows.append([r["kernel"], "fa2", n, d, batch, heads, str(causal).lower(), br, bc,
                 f"{measured:.1f}", f"{est:.1f}", f"{(est - measured) / measured:+.3f}"])
with open("Reports/gpu/bwd_time_estimates.csv", "w") as f:
    f.write("kernel,schedule,N,d,batch,heads,causal,Br,Bc,measured_us,estimated_us,relative_error\n")
    for row in rows:
        f.write(",".join(str(x) for x in row) + "\n")
for row in rows:
    print(" ".join(f"{x:>9}" for x in map(str, row)))
