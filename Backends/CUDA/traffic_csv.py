"""Builds Reports/gpu/traffic.csv (the columns Reports/gpu/README.md lists) from a GPU run's Nsight Compute output
(Reports/gpu/ncu_raw.csv, written by Backends/CUDA/run_all.sh) and iosim's predictions for the same
shapes and tiles (M = 228KiB, the H100's shared memory per SM, so every tile pair fits).
fa3 is predicted with its ring depth and M = 289KiB (kernel_tiles.IOSIM_FLAGS) and has no
shared-memory rows: its copies (TMA) and GEMM operand reads (wgmma) are invisible to the LSU metrics.
Run from the repository root after `swift build -c release --product iosim` (or set IOSIM to the
binary, e.g. IOSIM=.build-cuda/release/iosim):
    python3 Backends/CUDA/traffic_csv.py Reports/gpu/ncu_raw.csv > Reports/gpu/traffic.csv
Our standard kernel's three launches also get one L2->SM read row each (`standard/scores`,
`standard/softmax`, `standard/pv`) against iosim's per-kernel counts. Our backward kernel's runs
(`# run fa2-bwd ...`, Nsight Compute filtered to its three launches) give rows `fa2-bwd/preprocess`,
`fa2-bwd/main`, `fa2-bwd/convert` for L2->SM reads, SM->L2 writes (l1tex__m_l1tex2xbar_write_bytes:
the dQ reductions count there, docs/counting-rules.md) and DRAM reads and writes, against iosim's per-kernel
read or write bytes (`--pass backward --schedule fa2`, the kernel's tiles, M = 484KiB as
Benchmarks/gpu/bwd_traffic_rows.py: the footprint counts the blocks the kernel keeps in registers,
so M is shared memory plus the register file). Rows of other engineers'
measurements in the existing traffic.csv whose kernel this script does not produce (e.g.
`torch-flash-bwd/...`) are kept when KEEP=<existing traffic.csv> is given."""
import collections
import csv
import json
import os
import subprocess
import sys

import kernel_tiles

SHARED_READS = ("smsp__sass_data_bytes_mem_shared_op_ld.sum", "smsp__sass_data_bytes_mem_shared_op_ldsm.sum")
BWD_METRICS = {"l1tex__m_xbar2l1tex_read_bytes.sum": "read_bytes", "l1tex__m_l1tex2xbar_write_bytes.sum": "write_bytes",
               "dram__bytes_read.sum": "read_bytes", "dram__bytes_write.sum": "write_bytes"}
SHARED_WRITES = ("smsp__sass_data_bytes_mem_shared_op_st.sum", "smsp__sass_data_bytes_mem_shared_op_ldgsts.sum")


IOSIM = os.environ.get("IOSIM", ".build/release/iosim")


def predict(schedule, n, d, heads, causal, br, bc, warps, kernels=False, backward=False):
    args = [IOSIM, "--N", str(n), "--d", str(d), "--heads", str(heads), "--dtype", "fp16",
            "--schedule", schedule, "--Br", str(br), "--Bc", str(bc), "--format", "json"]
    extra = kernel_tiles.IOSIM_FLAGS.get(schedule, ["--M", "228KiB"])
    args += ["--pass", "backward", "--M", "484KiB"] if backward else extra + ["--warps", str(warps)]
    args += ["--causal"] if causal else []
    r = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)["results"][0]
    if kernels:
        return {k["name"]: k["hbm"] for k in r["kernels"]}
    return r["hbm"], r["sram"]


runs, cur = collections.OrderedDict(), None
for line in open(sys.argv[1]):
    if line.startswith("# run"):
        cur = line[6:].strip()
        runs[cur] = collections.OrderedDict()
    elif line.startswith('"') and not line.startswith('"ID"') and cur:
        f = next(csv.reader([line]))
        try:
            value = float(f[14].replace(",", ""))
        except ValueError:
            continue
        runs[cur].setdefault(f[0], collections.defaultdict(float))[f[12]] += value

rows = []
def emit(kernel, n, d, heads, causal, br, bc, metrics, schedule, warps):
    hbm, sram = predict(schedule, n, d, heads, causal, br, bc, warps)
    pred = {"l1tex__m_xbar2l1tex_read_bytes.sum": hbm["read_bytes"], "dram__bytes_read.sum": hbm["read_bytes"],
            "dram__bytes_write.sum": hbm["write_bytes"]}
    for metric in ("l1tex__m_xbar2l1tex_read_bytes.sum", "dram__bytes_read.sum", "dram__bytes_write.sum"):
        rows.append([kernel, n, d, heads, "fp16", str(causal).lower(), br, bc, metric, int(metrics[metric]), pred[metric]])
    # fa3's shared-memory traffic goes through TMA and wgmma, which the LSU counters do not see.
    if schedule != "fa3" and any(m in metrics for m in SHARED_READS):
        rows.append([kernel, n, d, heads, "fp16", str(causal).lower(), br, bc, "+".join(SHARED_READS),
                     int(sum(metrics[m] for m in SHARED_READS)), sram["read_bytes"]])
        rows.append([kernel, n, d, heads, "fp16", str(causal).lower(), br, bc, "+".join(SHARED_WRITES),
                     int(sum(metrics[m] for m in SHARED_WRITES)), sram["write_bytes"]])

for name, launches in runs.items():
    if name.startswith("torch-flash"):
        for (d, causal), metrics in zip([(64, False), (64, True), (128, False), (128, True)], launches.values()):
            emit("torch-flash", 4096, d, 8, causal, *kernel_tiles.TORCH_FLASH[d], metrics, "fa2", 4)
        continue
    parts = dict(p.split("=") for p in name.split()[1:])
    kernel = name.split()[0]
    if kernel not in kernel_tiles.KERNELS:
        continue
    n, d, heads, causal = int(parts["N"]), int(parts["d"]), int(parts["heads"]), parts["causal"] == "1"
    if kernel in kernel_tiles.SCHEDULE:  # a backward kernel: one row per launch and byte metric
        schedule, _ = kernel_tiles.SCHEDULE[kernel]
        per = predict(schedule, n, d, heads, causal, *kernel_tiles.tiles(kernel), 0, kernels=True, backward=True)
        if len(launches) != len(per):
            sys.exit(f"traffic_csv: {name}: {len(launches)} launches measured, iosim has {len(per)} kernels")
        for kname, metrics in zip(per, launches.values()):
            for metric, side in BWD_METRICS.items():
                if metric in metrics:
                    rows.append([f"{kernel}/{kname}", n, d, heads, "fp16", str(causal).lower(), *kernel_tiles.tiles(kernel),
                                 metric, int(metrics[metric]), per[kname][side]])
        continue
    if kernel == "standard":  # one row per launch: scores, softmax, pv
        per = predict(kernel, n, d, heads, causal, *kernel_tiles.tiles(kernel), kernel_tiles.warps(kernel), kernels=True)
        for name, metrics in zip(["scores", "softmax", "pv"], launches.values()):
            rows.append([f"standard/{name}", n, d, heads, "fp16", str(causal).lower(), *kernel_tiles.tiles(kernel),
                         "l1tex__m_xbar2l1tex_read_bytes.sum", int(metrics["l1tex__m_xbar2l1tex_read_bytes.sum"]),
                         per[name]["read_bytes"]])
    total = collections.defaultdict(float)
    for metrics in launches.values():  # standard's three kernels add up
        for k, v in metrics.items():
            total[k] += v
    emit(kernel, int(parts["N"]), int(parts["d"]), int(parts["heads"]), parts["causal"] == "1",
         *kernel_tiles.tiles(kernel), total, kernel, kernel_tiles.warps(kernel))

print("kernel,N,d,heads,dtype,causal,Br,Bc,metric,measured_bytes,predicted_bytes")
for r in rows:
    print(",".join(str(x) for x in r))
if os.environ.get("KEEP"):
    ours = {str(r[0]).split("/")[0] for r in rows}
    for line in open(os.environ["KEEP"]).read().splitlines()[1:]:
        if line.split(",")[0].split("/")[0] not in ours:
            print(line)
