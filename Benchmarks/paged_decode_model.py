"""iosim's time estimate for FlexAttention decode over a contiguous and a paged KV cache, beside the H100
measurements of Reports/gpu/paged_decode_findings.txt (issue 16 item 7).

    python3 Benchmarks/paged_decode_model.py [--iosim PATH] > Reports/gpu/paged_decode_model.csv

Shape: B = 8, H = 32, Hkv = 8 (GQA packed: 4 rows per KV head), Nq = 1, d = 128, fp16, Nk = 4096 and 32768.
Flex's decode kernel (num_warps = 2) splits each (batch, KV head)'s keys into S = 2*floor(SMs/(B*Hkv)) = 4
ranges of ceil(L_K/S) keys, L_K the K tensor's length (findings section 3a). Each variant is the iosim
schedule whose CTAs do the same work:
  contiguous              L_K = Nk: 4 ranges of Nk/4 keys        -> split-kv --splits 4, Bc 64
  contiguous-nomask       block_mask=None: one range holds all   -> fa2 (one CTA per (batch, KV head)), Bc 64
  paged-shuffled          L_K = B*Nk >= 4*Nk: split 0 holds all  -> fa2, --kv-layout paged --block-size 64, Bc 64
  paged-shuffled-nofull   L_K = live blocks: 4 ranges of Nk/4    -> split-kv --splits 4, paged, block 64, Bc 64
Every variant runs with --stages 1: flex's decode kernel has num_stages = 1 (findings section 3b: a tile's
loads are issued after the previous tile's softmax), so each K and each V tile is a whole round trip
(docs/time-model.md, "Unpipelined CTAs"). The CTAs flex launches beyond these (192 of 256 in the two
imbalanced variants) have no keys; iosim does not launch them (they cost a few microseconds: findings
section 6). Flex's pages hold 128 tokens and its loop takes BLOCK_N = 64 tokens (half a page, contiguous
in it) per step; iosim's column tile must be a multiple of the block, so the paged variants use 64-token
blocks: the same loop, tiles and bytes. iosim's lookup rule (FlashAttention-2's) then waits on one
lookup per K and per V tile load, 4x the lookups flex waits on (one per 128-token page, findings 3d), so
the lookup term is an upper estimate; estimate_no_lookup_us leaves it out. estimate_stages2_us is the
same problem as a pipelined kernel (the bandwidth-share estimate, what this file held before the
unpipelined model).
Measured: the flex kernel under Nsight Compute (gpu__time_duration, paged_decode_ncu_raw.csv) and the
whole call (graph replay, paged_decode_times.csv). Output: CSV on stdout."""
import argparse
import csv
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
GPU = ROOT / "Reports" / "gpu"
SHAPE = ["--N", "1", "--batch", "8", "--heads", "32", "--kv-heads", "8", "--d", "128", "--dtype", "fp16", "--pack-gqa",
         "--warps", "2", "--Br", "16", "--stages", "1", "--hardware", "h100-sxm", "--format", "json"]
VARIANTS = {
    "contiguous": ["--schedule", "split-kv", "--splits", "4", "--Bc", "64"],
    "contiguous-nomask": ["--schedule", "fa2", "--Bc", "64"],
    "paged-shuffled": ["--schedule", "fa2", "--kv-layout", "paged", "--block-size", "64", "--Bc", "64"],
    "paged-shuffled-nofull": ["--schedule", "split-kv", "--splits", "4", "--kv-layout", "paged", "--block-size", "64",
                              "--Bc", "64"],
}


def iosim_binary(given):
    for c in [given, os.environ.get("IOSIM"), ROOT / ".build/release/iosim"]:
        if c and pathlib.Path(c).exists():
            return str(c)
    sys.exit("no iosim binary: pass --iosim PATH or set IOSIM")


def estimate(binary, nk, args, hardware=None, stages=None):
    cmd = [binary] + SHAPE + ["--Nk", str(nk)] + args
    if hardware:
        cmd[cmd.index("h100-sxm")] = hardware
    if stages:
        cmd[cmd.index("--stages") + 1] = stages
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    r = out["results"][0]
    if "time_estimate_s" not in r:
        sys.exit(f"no estimate for {' '.join(cmd)}: {r.get('time_estimate_error') or r.get('reason')}")
    return r["time_estimate_s"] * 1e6, r["kernels"][0]["ctas"], " ".join(cmd[1:])


def measured():
    call = {(r["layout"], int(r["Nk"])): float(r["time_us"]) for r in csv.DictReader(open(GPU / "paged_decode_times.csv"))}
    rows = list(csv.reader(open(GPU / "paged_decode_ncu_raw.csv")))
    h = rows[0]
    name, rng, dur = h.index("Kernel Name"), 4, h.index("gpu__time_duration.sum")
    kernel = {}
    for r in rows[2:]:
        if not (r[name].startswith("triton_tem_") and "flex_attention" in r[name]):  # the decode kernel (a Triton template)
            continue
        tag = r[rng].split(":")[1]  # pd_<variant>_Nk<nk>
        variant, nk = tag[3:].rsplit("_Nk", 1)
        kernel[(variant.replace("_", "-"), int(nk))] = float(r[dur].replace(",", "")) / 1000
    return call, kernel


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--iosim")
    binary = iosim_binary(a.parse_args().iosim)
    call, kernel = measured()
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["variant", "Nk", "iosim_ctas", "estimate_us", "estimate_no_lookup_us", "estimate_stages2_us", "kernel_us", "call_us",
                "estimate_vs_contiguous", "kernel_vs_contiguous", "call_vs_contiguous", "iosim_command"])
    # The same GPU file without its latency fields: the estimate with no lookup term.
    bare = json.loads((ROOT / "Models/hardware/h100-sxm.json").read_text())
    for f in ["latency_l1_hit_s", "latency_l2_hit_s", "latency_dram_s"]:
        bare.pop(f)
        bare["sources"].pop(f)
    bare_path = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "h100-sxm-no-latencies.json"
    bare_path.write_text(json.dumps(bare))
    for nk in [4096, 32768]:
        base = {}
        for v, args in VARIANTS.items():
            est, ctas, cmd = estimate(binary, nk, args)
            est0 = estimate(binary, nk, args, str(bare_path))[0]
            est2 = estimate(binary, nk, args, stages="2")[0]
            k, c = kernel.get((v, nk)), call.get((v, nk))
            if v == "contiguous":
                base = {"e": est, "k": k, "c": c}

            def ratio(x, y):
                return f"{x / y:.3f}" if x and y else ""
            w.writerow([v, nk, ctas, f"{est:.1f}", f"{est0:.1f}", f"{est2:.1f}", k or "", c or "", ratio(est, base["e"]),
                        ratio(k, base["k"]), ratio(c, base["c"]), "iosim " + cmd])


main()
