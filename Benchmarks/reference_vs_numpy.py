#!/usr/bin/env python3
"""Benchmark: `iosim attention` (fp64/fp32 reference) beside NumPy doing the same straightforward
computation, whole process each (.npy in, .npy out), in the same run on the same machine.

Prints, per case, the median wall time of each side over --repeat runs, the ratio iosim/NumPy,
GFLOP/s (4·N²·d flops), the error of iosim's fp64 output against an extended-precision
(np.longdouble) computation on sampled rows, and peak RSS. Usage:
    python3 Benchmarks/reference_vs_numpy.py [--iosim .build/release/iosim] [--repeat 5] [--big]
"""
import argparse, os, resource, statistics, subprocess, sys, tempfile, time
import numpy as np

NUMPY_SIDE = r"""
import sys, numpy as np
q, k, v = (np.load(p) for p in sys.argv[1:4])
s = (q @ k.T) * (1.0 / np.sqrt(q.shape[-1]))
m = s.max(axis=-1, keepdims=True)
p = np.exp(s - m)
l = p.sum(axis=-1, keepdims=True)
np.save(sys.argv[4], (p @ v) / l)
np.save(sys.argv[5], (m + np.log(l))[:, 0])
"""

def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t

def peak_rss_mib(cmd):
    """Max RSS of one fresh child process, via a wrapper that reports its own child's usage."""
    wrapper = "import resource,subprocess,sys; subprocess.run(sys.argv[1:],check=True); " \
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", wrapper] + cmd, check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024

def extended_error(q, k, v, o, rows):
    """max |o − exact| / max |exact| over sampled rows, exact computed in np.longdouble."""
    ql, kl, vl = (x.astype(np.longdouble) for x in (q[rows], k, v))
    s = (ql @ kl.T) / np.sqrt(np.longdouble(q.shape[-1]))
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    exact = (p @ vl) / p.sum(axis=-1, keepdims=True)
    return float(np.abs(o[rows].astype(np.longdouble) - exact).max() / np.abs(exact).max())

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iosim", default=".build/release/iosim")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--big", action="store_true", help="also measure peak RSS at N=65536, d=128")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="iosim-bench-")
    numpy_script = os.path.join(tmp, "numpy_attention.py")
    open(numpy_script, "w").write(NUMPY_SIDE)
    rng = np.random.default_rng(0)
    print(f"{'dtype':5} {'N':>5} {'d':>4} {'iosim s':>8} {'numpy s':>8} {'ratio':>6} {'iosim GF/s':>10} {'numpy GF/s':>10} {'rel err':>9}")
    for dtype in ("float64", "float32"):
        for n in (1024, 4096, 8192):
            for d in (64, 128):
                paths = {x: os.path.join(tmp, f"{x}.npy") for x in "qkv"}
                arrays = {x: rng.standard_normal((n, d)).astype(dtype) for x in "qkv"}
                for x in "qkv": np.save(paths[x], arrays[x])
                o1, l1 = os.path.join(tmp, "o1.npy"), os.path.join(tmp, "l1.npy")
                o2, l2 = os.path.join(tmp, "o2.npy"), os.path.join(tmp, "l2.npy")
                ours = [a.iosim, "attention", "--q", paths["q"], "--k", paths["k"], "--v", paths["v"], "--out", o1, "--lse", l1]
                theirs = [sys.executable, numpy_script, paths["q"], paths["k"], paths["v"], o2, l2]
                t_ours, t_np = [], []
                for _ in range(a.repeat):  # interleaved, so both sides see the same machine load
                    t_ours.append(timed(ours)); t_np.append(timed(theirs))
                mo, mn = statistics.median(t_ours), statistics.median(t_np)
                flops = 4 * n * n * d
                err = ""
                if dtype == "float64":
                    rows = rng.choice(n, size=64, replace=False)
                    err = f"{extended_error(arrays['q'], arrays['k'], arrays['v'], np.load(o1), rows):.2e}"
                print(f"{dtype[-2:]:5} {n:5} {d:4} {mo:8.3f} {mn:8.3f} {mo/mn:6.2f} {flops/mo/1e9:10.1f} {flops/mn/1e9:10.1f} {err:>9}", flush=True)
    if a.big:
        n, d = 65536, 128
        for x in "qkv": np.save(os.path.join(tmp, f"{x}.npy"), rng.standard_normal((n, d)))
        cmd = [a.iosim, "attention"] + sum([[f"--{x}", os.path.join(tmp, f"{x}.npy")] for x in "qkv"], []) + ["--out", os.path.join(tmp, "o.npy")]
        t = time.perf_counter(); rss = peak_rss_mib(cmd)
        print(f"N={n} d={d} fp64: peak RSS {rss:.0f} MiB, {time.perf_counter()-t:.1f} s")

if __name__ == "__main__":
    main()
