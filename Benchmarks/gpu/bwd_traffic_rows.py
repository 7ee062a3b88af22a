"""Appends PyTorch's FA2 backward kernels (Reports/gpu/bwd_traffic.csv, recorded on the H100)
to Reports/gpu/traffic.csv with iosim's per-kernel predictions (`--pass backward --schedule fa2`
with the kernel's tiles: 128x128 at d = 64, 64x128 at d = 128; Reports/gpu/README.md says why)
and M = 484 KiB: the footprint counts the fp32 blocks and accumulators the kernel keeps in
registers, so M is the SM's shared memory (228 KiB) plus its register file (256 KiB).

    python3 Benchmarks/gpu/bwd_traffic_rows.py .build/release/iosim

PyTorch's two layout copies (`.contiguous()` of dO and O before the FA2 kernels) are not the
schedule's and stay in bwd_traffic.csv only. Rows already in traffic.csv are replaced."""
import csv
import json
import subprocess
import sys

IOSIM = sys.argv[1] if len(sys.argv) > 1 else ".build/release/iosim"
TILES = {64: (128, 128), 128: (64, 128)}
# ncu metric -> which side of iosim's per-kernel HBM counts it measures.
METRICS = {
    "l1tex__m_xbar2l1tex_read_bytes.sum": "read_bytes",
    "l1tex__m_l1tex2xbar_write_bytes.sum": "write_bytes",
    "dram__bytes_read.sum": "read_bytes",
    "dram__bytes_write.sum": "write_bytes",
}


def predict(n, d, heads, causal):
    br, bc = TILES[d]
    cmd = [IOSIM, "--N", str(n), "--d", str(d), "--heads", str(heads), "--M", "484KiB", "--schedule", "fa2",
           "--pass", "backward", "--Br", str(br), "--Bc", str(bc), "--format", "json"] + (["--causal"] if causal else [])
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return (br, bc), {k["name"]: k["hbm"] for k in out["results"][0]["kernels"]}


def main():
    rows = []
    cache = {}
    with open("Reports/gpu/bwd_traffic.csv") as f:
        for r in csv.DictReader(f):
            name = r["kernel"].split("/")[1]
            if name == "copy" or r["metric"] not in METRICS:
                continue
            key = (int(r["N"]), int(r["d"]), int(r["heads"]), r["causal"] == "true")
            if key not in cache:
                cache[key] = predict(*key)
            (br, bc), kernels = cache[key]
            predicted = kernels[name][METRICS[r["metric"]]]
            rows.append([r["kernel"], r["N"], r["d"], r["heads"], r["dtype"], r["causal"], br, bc, r["metric"],
                         r["measured_bytes"], predicted])
    with open("Reports/gpu/traffic.csv") as f:
        kept = [r for r in csv.reader(f) if not r[0].startswith("torch-flash-bwd/")]
    with open("Reports/gpu/traffic.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerows(kept + rows)


main()
