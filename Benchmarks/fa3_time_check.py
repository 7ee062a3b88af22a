"""iosim's fa3 time estimate against the measured FA3-style kernels on the H100: our fa3 kernel
(Reports/gpu/fa3_speed.csv, the committed v2, and fa3_speed_v1.csv) with its tiles (128 x 128,
2 stages), and cuDNN's sm90 kernel (torch-cudnn rows of Reports/gpu/speed.csv) with FA3's tiles
(192 x 128 at d = 64, 128 x 128 at d = 128, as Benchmarks/time_estimates.py gives it).

Writes Reports/gpu/fa3_time_model.csv: estimate / measured per row, with `--before PATH` (an iosim
built from an earlier commit) also the earlier model's. Nothing is fitted. Run from the repository
root: python3 Benchmarks/fa3_time_check.py --iosim .build/release/iosim [--before OLD_IOSIM]"""
import argparse
import csv
import os
import sys

sys.path.insert(0, "Backends/CUDA")
import kernel_tiles  # noqa: E402
from iosim_run import result  # noqa: E402

OURS = kernel_tiles.KERNELS["fa3"]
SOURCES = [("fa3 (v2)", "Reports/gpu/fa3_speed.csv", "fa3"), ("fa3 (v1)", "Reports/gpu/fa3_speed_v1.csv", "fa3"),
           ("torch-cudnn", "Reports/gpu/speed.csv", "torch-cudnn")]


def estimate(iosim, n, d, heads, causal, tiles):
    args = ["--N", n, "--d", d, "--batch", 16384 // n, "--heads", heads, "--schedule", "fa3", "--hardware", "h100-sxm",
            "--Br", tiles[0], "--Bc", tiles[1], "--stages", OURS["stages"]] + (["--causal"] if causal else [])
    return result(iosim, args)["time_estimate_s"] * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iosim", default=".build/release/iosim")
    ap.add_argument("--before", default=None)
    ap.add_argument("--out", default="Reports/gpu/fa3_time_model.csv")
    a = ap.parse_args()
    rows = []
    for label, path, kernel in SOURCES:
        for r in csv.DictReader(open(path)):
            if r["kernel"] != kernel or r["dtype"] != "fp16":
                continue
            n, d, heads, causal = int(r["N"]), int(r["d"]), int(r["heads"]), r["causal"] == "true"
            tiles = (OURS["Br"], OURS["Bc"]) if kernel == "fa3" else kernel_tiles.FA3_PAPER[d]
            measured = float(r["time_us"])
            new = estimate(a.iosim, n, d, heads, causal, tiles)
            old = estimate(a.before, n, d, heads, causal, tiles) if a.before else None
            rows.append([label, n, d, heads, str(causal).lower(), tiles[0], tiles[1], f"{measured:.1f}",
                         f"{old:.1f}" if old else "", f"{old / measured:.3f}" if old else "", f"{new:.1f}",
                         f"{new / measured:.3f}"])
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("kernel,N,d,heads,causal,Br,Bc,measured_us,before_us,before_ratio,estimated_us,ratio\n")
        for row in rows:
            f.write(",".join(str(x) for x in row) + "\n")
    os.replace(tmp, a.out)
    for row in rows:
        print(" ".join(f"{x:>11}" for x in map(str, row)))


if __name__ == "__main__":
    main()
