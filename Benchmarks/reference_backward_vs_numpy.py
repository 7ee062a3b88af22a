#!/usr/bin/env python3
"""Benchmark: `iosim attention --do` (the fp64 reference gradients) beside NumPy doing the same
straightforward backward, whole process each (.npy in: Q, K, V, dO; .npy out: O, dQ, dK, dV), in
the same run on the same machine.

NumPy's side is the textbook backward with full N×N matrices: S = scale·QKᵀ, P = softmax(S),
O = PV, dV = PᵀdO, dP = dO Vᵀ, dS = P∘(dP − rowsum(dO∘O)), dQ = scale·dS K, dK = scale·dSᵀQ.
iosim computes the same in row chunks (O(chunk·N) memory) in one pass with the forward.

Prints, per case, the median wall time of each side over --repeat interleaved runs, the ratio
iosim/NumPy (target ≤ 0.8 at N = 4096, d = 64), GFLOP/s (12·N²·d flops: six N×N×d GEMMs), the
relative difference of iosim's dQ, dK, dV from NumPy's, and the error of iosim's dQ against an
extended-precision (np.longdouble) computation on sampled rows (a dQ row depends on its own row
of P only). With --big, the peak RSS and time of iosim at N = 65536, d = 128 (target ≤ 2 GiB),
from /usr/bin/time -v when present, else getrusage of the child. Usage:
    python3 Benchmarks/reference_backward_vs_numpy.py [--iosim .build/release/iosim] [--repeat 5] [--big]
"""
import argparse, os, re, statistics, subprocess, sys, tempfile, time
import numpy as np

NUMPY_SIDE = r"""
import sys, numpy as np
q, k, v, do = (np.load(p) for p in sys.argv[1:5])
scale = 1.0 / np.sqrt(q.shape[-1])
s = (q @ k.T) * scale
p = np.exp(s - s.max(axis=-1, keepdims=True))
p /= p.sum(axis=-1, keepdims=True)
o = p @ v
dv = p.T @ do
dp = do @ v.T
ds = p * (dp - (do * o).sum(axis=-1, keepdims=True))
dq = (ds @ k) * scale
dk = (ds.T @ q) * scale
for path, a in zip(sys.argv[5:9], (o, dq, dk, dv)):
    np.save(path, a)
"""

def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t

def peak_rss_mib(cmd):
    """Max RSS of one fresh child: /usr/bin/time -v's report, else getrusage through a wrapper."""
    if os.path.exists("/usr/bin/time"):
        r = subprocess.run(["/usr/bin/time", "-v"] + cmd, check=True, capture_output=True, text=True)
        return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    wrapper = "import resource,subprocess,sys; subprocess.run(sys.argv[1:],check=True); " \
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    out = subprocess.run([sys.executable, "-c", wrapper] + cmd, check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024

def extended_dq_error(q, k, v, do, dq, rows):
    """max |dq − exact| / max |exact| over sampled rows, exact computed in np.longdouble."""
    ql, kl, vl, gl = (x.astype(np.longdouble) for x in (q[rows], k, v, do[rows]))
    scale = 1 / np.sqrt(np.longdouble(q.shape[-1]))
    s = (ql @ kl.T) * scale
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    o = p @ vl
    ds = p * (gl @ vl.T - (gl * o).sum(axis=-1, keepdims=True))
    exact = (ds @ kl) * scale
    return float(np.abs(dq[rows].astype(np.longdouble) - exact).max() / np.abs(exact).max())

def iosim_cmd(a, paths, outs):
    return [a.iosim, "attention", "--q", paths["q"], "--k", paths["k"], "--v", paths["v"], "--do", paths["do"],
            "--out", outs["o"], "--dq", outs["dq"], "--dk", outs["dk"], "--dv", outs["dv"]]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iosim", default=".build/release/iosim")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", default="1024,4096", help="comma-separated N")
    ap.add_argument("--big", action="store_true", help="also measure peak RSS at N=65536, d=128")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="iosim-bwd-bench-")
    numpy_script = os.path.join(tmp, "numpy_backward.py")
    open(numpy_script, "w").write(NUMPY_SIDE)
    rng = np.random.default_rng(0)
    names = ("q", "k", "v", "do")
    print(f"{'N':>5} {'d':>4} {'iosim s':>8} {'numpy s':>8} {'ratio':>6} {'iosim GF/s':>10} {'numpy GF/s':>10}"
          f" {'dQ vs np':>9} {'dK vs np':>9} {'dV vs np':>9} {'dQ ext':>9}")
    for n in (int(x) for x in a.sizes.split(",")):
        for d in (64, 128):
            paths = {x: os.path.join(tmp, f"{x}.npy") for x in names}
            arrays = {x: rng.standard_normal((n, d)) for x in names}
            for x in names:
                np.save(paths[x], arrays[x])
            ours_out = {x: os.path.join(tmp, f"{x}1.npy") for x in ("o", "dq", "dk", "dv")}
            theirs_out = {x: os.path.join(tmp, f"{x}2.npy") for x in ("o", "dq", "dk", "dv")}
            ours = iosim_cmd(a, paths, ours_out)
            theirs = [sys.executable, numpy_script] + [paths[x] for x in names] + [theirs_out[x] for x in ("o", "dq", "dk", "dv")]
            t_ours, t_np = [], []
            for _ in range(a.repeat):  # interleaved, so both sides see the same machine load
                t_ours.append(timed(ours)); t_np.append(timed(theirs))
            mo, mn = statistics.median(t_ours), statistics.median(t_np)
            flops = 12 * n * n * d
            diffs = []
            for g in ("dq", "dk", "dv"):
                x, y = np.load(ours_out[g]), np.load(theirs_out[g])
                diffs.append(np.abs(x - y).max() / np.abs(y).max())
            rows = rng.choice(n, size=32, replace=False)
            ext = extended_dq_error(arrays["q"], arrays["k"], arrays["v"], arrays["do"], np.load(ours_out["dq"]), rows)
            print(f"{n:5} {d:4} {mo:8.3f} {mn:8.3f} {mo/mn:6.2f} {flops/mo/1e9:10.1f} {flops/mn/1e9:10.1f}"
                  f" {diffs[0]:9.2e} {diffs[1]:9.2e} {diffs[2]:9.2e} {ext:9.2e}", flush=True)
    if a.big:
        n, d = 65536, 128
        paths = {x: os.path.join(tmp, f"{x}.npy") for x in names}
        for x in names:
            np.save(paths[x], rng.standard_normal((n, d)))
        outs = {x: os.path.join(tmp, f"{x}1.npy") for x in ("o", "dq", "dk", "dv")}
        t = time.perf_counter(); rss = peak_rss_mib(iosim_cmd(a, paths, outs))
        print(f"N={n} d={d} fp64 backward: peak RSS {rss:.0f} MiB (target <= 2048), {time.perf_counter()-t:.1f} s", flush=True)

if __name__ == "__main__":
    main()
