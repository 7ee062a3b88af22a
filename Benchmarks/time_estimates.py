"""iosim's time estimates beside measured kernel times (Reports/gpu/speed.csv, one H100 run), for
every row whose kernel iosim has a schedule for, with the kernel's own tiles:

  standard, fa1, fa2, fa3          our kernels (Backends/CUDA/kernel_tiles.py)
  fa2-bwd                          our FA2 backward, `--pass backward` (kernel_tiles.py)
  torch-flash                      PyTorch's FA2 forward (128x128 at d = 64, 128x64 at d = 128)
  torch-flash-bwd                  PyTorch's FA2 backward (128x128 at d = 64, 64x128 at d = 128)
  torch-cudnn                      cuDNN's Hopper kernel against the fa3 estimate (FA3's tiles)

Rows of torch-math, torch-efficient, torch-flex and torch-cudnn-bwd have no estimate: iosim models
none of those kernels (cuBLAS tiles, xformers' and Triton's kernels, cuDNN's backward are not read
off). Nothing is fitted. Writes Reports/gpu/time_estimates.csv. Run from the repository root after
`swift build -c release --product iosim`; `--iosim PATH` names another binary."""
import argparse
import csv
import os
import sys

sys.path.insert(0, "Backends/CUDA")
import kernel_tiles  # noqa: E402
from iosim_run import result  # noqa: E402


def model(kernel, d):
    """(schedule, pass, tiles, extra flags) of a speed.csv kernel, or None when iosim has no
    model of it."""
    if kernel in ("standard", "fa1", "fa2"):
        return kernel, "forward", kernel_tiles.tiles(kernel), []
    if kernel == "fa3" and "fa3" in kernel_tiles.KERNELS:
        k = kernel_tiles.KERNELS["fa3"]
        return "fa3", "forward", (k["Br"], k["Bc"]), ["--stages", str(k["stages"])]
    if kernel == "fa2-bwd" and "fa2-bwd" in kernel_tiles.KERNELS:
        return "fa2", "backward", kernel_tiles.tiles("fa2-bwd"), []
    if kernel == "torch-flash":
        return "fa2", "forward", kernel_tiles.TORCH_FLASH[d], []
    if kernel == "torch-flash-bwd":
        return "fa2", "backward", kernel_tiles.TORCH_FLASH_BWD[d], []
    if kernel == "torch-cudnn":
        return "fa3", "forward", kernel_tiles.FA3_PAPER[d], []
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iosim", default=".build/release/iosim")
    ap.add_argument("--speed", default="Reports/gpu/speed.csv")
    ap.add_argument("--out", default="Reports/gpu/time_estimates.csv")
    a = ap.parse_args()
    rows = []
    for r in csv.DictReader(open(a.speed)):
        n, d, heads, causal = int(r["N"]), int(r["d"]), int(r["heads"]), r["causal"] == "true"
        m = model(r["kernel"], d)
        if m is None or r["dtype"] != "fp16":
            continue
        schedule, pass_, tiles, extra = m
        stages = int(extra[1]) if extra[:1] == ["--stages"] else 2
        batch = 16384 // n
        args = ["--N", n, "--d", d, "--batch", batch, "--heads", heads, "--schedule", schedule, "--pass", pass_,
                "--hardware", "h100-sxm", "--Br", tiles[0], "--Bc", tiles[1]] + extra + (["--causal"] if causal else [])
        res = result(a.iosim, args)
        est, measured = res["time_estimate_s"] * 1e6, float(r["time_us"])
        rows.append([r["kernel"], schedule, pass_, n, d, batch, heads, str(causal).lower(), res["Br"], res["Bc"],
                     stages, res["hbm"]["read_bytes"] + res["hbm"]["write_bytes"], f"{measured:.1f}", f"{est:.1f}", f"{(est - measured) / measured:+.3f}"])
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("kernel,schedule,pass,N,d,batch,heads,causal,Br,Bc,stages,hbm_bytes,measured_us,estimated_us,relative_error\n")
        for row in rows:
            f.write(",".join(str(x) for x in row) + "\n")
    os.replace(tmp, a.out)
    for row in rows:
        print(" ".join(f"{x:>9}" for x in map(str, row)))


if __name__ == "__main__":
    main()
