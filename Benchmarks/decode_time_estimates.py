"""iosim's `--hardware h100-sxm` time estimate beside every measured decode time of
Reports/gpu/decode_speed.csv, row by row in its order:

    IOSIM=.build/release/iosim python3 Benchmarks/decode_time_estimates.py \\
        Reports/gpu/decode_speed.csv Reports/gpu/decode_kernels_ncu_raw.csv > Reports/gpu/decode_time_estimates.csv

Columns: kernel, batch, heads, kv_heads, Nq, Nk, d (the measured row's), schedule, Br, Bc, splits (what
iosim estimated: the result's tiles, clamped to the problem), estimate_us, measured_us and
error = estimate / measured - 1. Which iosim run stands for which kernel:
    torch-flash      FlashAttention-2 as PyTorch launches it: with Nq = 1 it packs the query heads
                     of a KV group (seqlenq_ngroups_swapped) and splits K/V by its heuristic; where
                     that gives 1 split, its plain kernel: fa2, kBlockM 128 x kBlockN 64 (d = 128).
    split-kv*        our split-kv (Backends/CUDA/decode.cuh): --pack-gqa --schedule split-kv with the
                     splits the driver printed for that configuration in the Nsight file (`splits=`),
                     our tiles Br 64 x Bc 128; split-kv-paged(-identity) adds --kv-layout paged
                     --block-size B (the block order is not a model input: both rows get one estimate).
    paged-v1|v2      our vLLM-style kernels: --schedule paged-v1|paged-v2 --block-size B, our tiles
                     (one query row per CTA, 128-token tiles)."""
import csv
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "gpu"))
from decode_kernel_rows import blocks, flag  # noqa: E402
from iosim_run import result  # noqa: E402

HEADER = ["kernel", "batch", "heads", "kv_heads", "Nq", "Nk", "d", "schedule", "Br", "Bc", "splits", "estimate_us",
          "measured_us", "error"]


def iosim(args):
    return result(os.environ.get("IOSIM", ".build/release/iosim"), [*args, "--hardware", "h100-sxm"])


def our_configs(raw):
    """{(config, Nk): (splits, block size)} from the driver's lines in the Nsight file."""
    return {(b["name"], b["Nk"]): (b["splits"], int(flag(b["cmd"], "--block", "16"))) for b in blocks(raw)}


def estimate(row, configs):
    """(schedule, iosim result, splits) for one decode_speed.csv row."""
    kernel, nq = row["kernel"], int(row["Nq"])
    base = ["--N", row["Nq"], "--Nk", row["Nk"], "--d", row["d"], "--batch", row["batch"], "--heads", row["heads"],
            "--kv-heads", row["kv_heads"], "--dtype", row["dtype"]]
    if kernel == "torch-flash":
        pack = ["--pack-gqa"] if nq == 1 else []
        r = iosim(base + pack + ["--schedule", "split-kv"])  # the heuristic's split count on the h100-sxm
        split = next((k for k in r["kernels"] if k["name"] == "split"), None)
        if split is None:
            return "fa2", iosim(base + ["--schedule", "fa2", "--Br", "128", "--Bc", "64"]), 1
        g = int(row["heads"]) // int(row["kv_heads"]) if pack else 1
        rows_per_instance = g * nq
        instances = int(row["batch"]) * int(row["heads"]) // g
        splits = split["ctas"] // (instances * -(-rows_per_instance // r["Br"]))
        return "split-kv", r, splits
    nk = int(row["Nk"])
    if kernel.startswith("split-kv"):
        config = "split-kv-paged" if kernel.startswith("split-kv-paged") else kernel
        splits, block = configs[(config, nk)]
        paged = ["--kv-layout", "paged", "--block-size", str(block)] if config == "split-kv-paged" else []
        return "split-kv", iosim(base + ["--pack-gqa", "--schedule", "split-kv", "--splits", str(splits),
                                         "--Br", "64", "--Bc", "128"] + paged), splits
    if kernel in ("paged-v1", "paged-v2"):
        _, block = configs[(kernel, nk)]
        r = iosim(base + ["--schedule", kernel, "--block-size", str(block), "--Br", "64", "--Bc", "128"])
        partitions = next((k["ctas"] for k in r["kernels"] if k["name"] == "paged"), 0) // (int(row["batch"]) * int(row["heads"]))
        return kernel, r, partitions
    sys.exit(f"decode_time_estimates.py: no iosim schedule stands for kernel '{kernel}'")


def main(speed, raw):
    configs = our_configs(raw)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(HEADER)
    for row in csv.DictReader(open(speed)):
        schedule, r, splits = estimate(row, configs)
        est, measured = r["time_estimate_s"] * 1e6, float(row["time_us"])
        w.writerow([row["kernel"], row["batch"], row["heads"], row["kv_heads"], row["Nq"], row["Nk"], row["d"], schedule,
                    r["Br"], r["Bc"], splits, f"{est:.1f}", f"{measured:.1f}", f"{est / measured - 1:.3f}"])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
