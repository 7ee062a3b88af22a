"""fa2-bwd on the GPU against an fp64 reference (issue 18 item 3): for each configuration runs
`attn fa2-bwd ... --out DIR`, regenerates the driver's inputs (Backends/CUDA/driver.cu generate(),
rounded to the dtype), computes O, dQ, dK, dV in fp64 with autograd (top-left causal mask as the
kernel) and prints max |x - ref| for O, dQ, dK, dV beside PyTorch flash SDPA's own error on the same
rounded inputs (its backward in the same dtype), and the ratio ours / flash.

    python3 Benchmarks/gpu/fa2_bwd_check.py BIN [dtype:B:H:N:D:causal ...]"""
import math
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

A, C, M64 = 6364136223846793005, 1442695040888963407, (1 << 64) - 1


def generate(seed, t, n):
    """The driver's LCG stream, vectorised: x_{k+m} = A^m x_k + C_m (mod 2^64), by doubling."""
    x0 = (seed ^ (0x9E3779B97F4A7C15 * (t + 1))) & M64
    xs = np.array([(x0 * A + C) & M64], dtype=np.uint64)
    am, cm = A, C  # the map x -> am*x + cm advances len(xs) steps
    while len(xs) < n:
        xs = np.concatenate([xs, xs * np.uint64(am) + np.uint64(cm)])
        am, cm = (am * am) & M64, (am * cm + cm) & M64
    xs = xs[:n]
    return (((xs >> np.uint64(44)).astype(np.int64) - 524288) / 524288.0)


def check(binary, dtype, B, H, N, D, causal, seed=7):
    tdt = torch.float16 if dtype == "fp16" else torch.bfloat16
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "fa2-bwd", dtype, "--B", str(B), "--H", str(H), "--N", str(N), "--D", str(D), "--seed", str(seed),
               "--out", out] + (["--causal"] if causal else [])
        subprocess.run(cmd, check=True, capture_output=True)
        got = {k: torch.from_numpy(np.load(pathlib.Path(out) / f"{k}.npy")).double().cuda() for k in ("o", "dq", "dk", "dv")}
    with np.errstate(over="ignore"):
        x = [torch.tensor(generate(seed, t, B * H * N * D)).reshape(B, H, N, D).to(tdt).cuda() for t in range(4)]
    q, k, v = (t.double().requires_grad_(True) for t in x[:3])
    do = x[3].double()
    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # fp64: the math path, top-left mask
    ref = [o.detach()] + list(torch.autograd.grad(o, (q, k, v), do))
    qf, kf, vf = (t.clone().requires_grad_(True) for t in x[:3])
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        of = F.scaled_dot_product_attention(qf, kf, vf, is_causal=causal)
    flash = [of.detach().double()] + [g.double() for g in torch.autograd.grad(of, (qf, kf, vf), x[3])]
    ours = [got[k] for k in ("o", "dq", "dk", "dv")]
    errs = [(a - r).abs().max().item() for a, r in zip(ours, ref)]
    ferrs = [(a - r).abs().max().item() for a, r in zip(flash, ref)]
    ok = all(math.isfinite(e) for e in errs) and all(e <= 3 * f + 1e-6 for e, f in zip(errs[1:], ferrs[1:]))
    name = f"{dtype} B{B} H{H} N{N} D{D} {'causal' if causal else 'full'}"
    print(f"{name:32s} " + " ".join(f"{n}={e:.2e}(flash {f:.2e}, x{e / max(f, 1e-30):.2f})"
                                    for n, e, f in zip(("O", "dQ", "dK", "dV"), errs, ferrs)) + ("" if ok else "  <-- CHECK"),
          flush=True)
    return ok


if __name__ == "__main__":
    binary = sys.argv[1]
    configs = sys.argv[2:] or [f"{dt}:{s}" for dt in ("fp16", "bf16") for s in (
        "1:2:200:64:0", "1:2:200:64:1", "2:1:333:128:1", "1:1:257:80:0", "1:1:1:64:0", "1:2:130:128:0",
        "2:3:1000:64:1", "1:2:1024:128:0", "1:2:777:128:1", "1:1:513:80:1")]
    bad = 0
    for c in configs:
        dt, B, H, N, D, causal = c.split(":")
        bad += not check(binary, dt, int(B), int(H), int(N), int(D), causal == "1")
    print(f"{len(configs) - bad}/{len(configs)} within 3x flash's error")
