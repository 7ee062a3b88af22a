"""Traffic rows of our decode kernels (Backends/CUDA/decode.cu) from Backends/CUDA/run_decode.sh's
Nsight Compute file, each beside iosim's per-kernel prediction for the same problem and partitioning.

    IOSIM=<iosim binary> python3 decode_kernel_rows.py Reports/gpu/decode_kernels_ncu_raw.csv
        > Reports/gpu/decode_kernels_traffic.csv

The raw file holds one block per configuration: a "# config NAME Nk COMMAND" line, the driver's own
output (its "splits=S" line), then ncu's raw page (header, units, one row per launch). Columns: the
§8 traffic.csv columns (kernel is CONFIG/KERNEL, N = Nq, heads = query heads, Br and Bc the tiles
iosim counted with), then Nk, kv_heads, batch, the ncu kernel name, its grid and ratio =
measured / predicted. Predictions (iosim, `--format json`, the kernel's entry of `kernels`):
    split-kv        --pack-gqa --schedule split-kv --splits S          kernels split, combine (S = 1: fa2)
    split-kv-paged  the same with --kv-layout paged --block-size 16
    paged-v1|v2     --schedule paged-v1|paged-v2 --block-size 16      kernels paged (, reduce)
Our kernels load 128-token tiles (8 blocks); iosim's paged-v1/v2 default tiles are one block: the
counted bytes are the same (whole blocks, the table once per block in each loop, 512-token
partitions), so the rows carry iosim's Bc."""
import csv
import functools
import json
import os
import re
import subprocess
import sys

METRICS = {"l1tex__m_xbar2l1tex_read_bytes.sum": "read_bytes", "l1tex__m_l1tex2xbar_write_bytes.sum": "write_bytes",
           "dram__bytes_read.sum": "read_bytes", "dram__bytes_write.sum": "write_bytes"}


def blocks(path):
    """(name, Nk, command, splits, launches) per configuration block."""
    out, cur = [], None
    for line in open(path):
        if line.startswith("# config "):
            name, nk, *cmd = line[len("# config "):].split()
            cur = {"name": name, "Nk": int(nk), "cmd": cmd, "splits": 1, "lines": []}
            out.append(cur)
        elif cur is not None and line.startswith('"'):
            cur["lines"].append(line)
        elif cur is not None and (m := re.search(r"\bsplits=(\d+)", line)):
            cur["splits"] = int(m.group(1))
    for b in out:
        table = list(csv.reader(b["lines"]))
        header = table[0] if table else []
        b["launches"] = [dict(zip(header, r)) for r in table[2:]]
    return out


def flag(cmd, name, default=None):
    return cmd[cmd.index(name) + 1] if name in cmd else default


@functools.lru_cache(maxsize=None)
def predict(args):
    iosim = os.environ.get("IOSIM", ".build/release/iosim")
    res = subprocess.run([iosim, *args.split(), "--format", "json"], capture_output=True, text=True, check=True)
    r = json.loads(res.stdout)["results"][0]
    return r


def iosim_args(b):
    cmd = b["cmd"]
    kernel = cmd[1]
    base = (f"--N {flag(cmd, '--N', '1')} --Nk {b['Nk']} --d {flag(cmd, '--D')} --heads {flag(cmd, '--H')} "
            f"--kv-heads {flag(cmd, '--Hkv', flag(cmd, '--H'))} --batch {flag(cmd, '--B')} --dtype {cmd[2]}")
    if kernel == "split-kv":
        extra = f" --pack-gqa --schedule split-kv --splits {b['splits']}"
        if "--block" in cmd:
            extra += f" --kv-layout paged --block-size {flag(cmd, '--block')}"
        return base + extra
    return base + f" --schedule {kernel} --block-size {flag(cmd, '--block', '16')}"


def our_kernel(b, ncu_name):
    """iosim's name of the kernel an ncu launch ran."""
    short = ncu_name.replace("void ", "").split("<")[0].split("(")[0].split("::")[-1]
    kernel = b["cmd"][1]
    if short == "attend":
        if kernel == "split-kv":
            return "split" if b["splits"] > 1 else "fa2"
        return "paged"
    return {"combine": "combine", "reduce": "reduce"}[short]


def number(x):
    return int(float(x.replace(",", "")))


def main(path):
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["kernel", "N", "d", "heads", "dtype", "causal", "Br", "Bc", "metric", "measured_bytes", "predicted_bytes",
                "Nk", "kv_heads", "batch", "ncu_kernel", "grid", "ratio"])
    for b in blocks(path):
        cmd = b["cmd"]
        r = predict(iosim_args(b))
        kernels = {k["name"]: k for k in r["kernels"]}
        for launch in b["launches"]:
            name = our_kernel(b, launch["Kernel Name"])
            pred = kernels[name]["hbm"]
            short = launch["Kernel Name"].replace("void ", "").split("(")[0]
            grid = launch.get("Grid Size", "").strip("()").replace(" ", "").replace(",", "x")
            for metric, field in METRICS.items():
                if metric not in launch:
                    continue
                measured, predicted = number(launch[metric]), pred[field]
                w.writerow([f"{b['name']}/{name}", flag(cmd, "--N", "1"), flag(cmd, "--D"), flag(cmd, "--H"), cmd[2], "false",
                            r["Br"], r["Bc"], metric, measured, predicted, b["Nk"], flag(cmd, "--Hkv", flag(cmd, "--H")),
                            flag(cmd, "--B"), short, grid, f"{measured / predicted:.6f}" if predicted else ""])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
