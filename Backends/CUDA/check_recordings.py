"""Quick look on the GPU machine: each recording's max |O - ref| (and max |dQ, dK, dV - ref| where it
has gradients) against fp64 attention on the same (regenerated, rounded) inputs; an fp8 recording
against fp64 attention on the dequantized inputs it recorded (q_deq, k_deq, v_deq.npy), whose LSE
carries the fp8 tensor cores' reduced-precision accumulation (docs/numerics.md, fp8). Options --Nk and
--Hkv (keys per sequence, K/V heads) and --alignment (causal mask) as make_manifest.py reads them.
The real check is the Swift test suite's, on the CPU."""
import math
import pathlib
import sys
import numpy as np
import torch


def generate(seed, t, n):
    x = (seed ^ (0x9E3779B97F4A7C15 * (t + 1))) & (2**64 - 1)
    out = np.empty(n)
    for i in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        out[i] = ((x >> 44) - 524288) / 524288.0
    return out


for rec in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    cmd = (rec / "command.txt").read_text().split() if (rec / "command.txt").exists() else None
    if not cmd:
        print(f"{rec.name}: no recording")
        continue
    kernel, dtype = cmd[1], cmd[2]
    a = {cmd[i]: cmd[i + 1] for i in range(3, len(cmd) - 1) if cmd[i].startswith("--") and cmd[i] != "--causal"}
    B, H, N, D, seed = (int(a[k]) for k in ("--B", "--H", "--N", "--D", "--seed"))
    Nk, Hkv = int(a.get("--Nk", N)), int(a.get("--Hkv", H))
    causal, bottom_right = "--causal" in cmd, a.get("--alignment", "top-left") == "bottom-right"
    tdt = torch.float16 if dtype == "fp16" else torch.bfloat16
    shapes = [(B, H, N, D), (B, Hkv, Nk, D), (B, Hkv, Nk, D), (B, H, N, D)]
    if dtype == "fp8":  # the values the kernel computed with, as they are (no dO: forward only)
        x = [torch.from_numpy(np.load(rec / f"{t}_deq.npy")).double().reshape(s) for t, s in zip("qkv", shapes)]
    else:
        x = [torch.tensor(generate(seed, t, math.prod(s))).reshape(s).to(tdt).double() for t, s in enumerate(shapes)]
    q, k, v = (t.clone().requires_grad_(True) for t in x[:3])
    kr, vr = (t.repeat_interleave(H // Hkv, dim=1) for t in (k, v))
    s = q @ kr.transpose(-1, -2) / math.sqrt(D)
    if causal:
        s = s.masked_fill(torch.ones(N, Nk, dtype=torch.bool).triu(1 + (Nk - N if bottom_right else 0)), float("-inf"))
    ref = torch.softmax(s, -1).nan_to_num() @ vr
    lse = torch.logsumexp(s, -1)
    o = torch.from_numpy(np.load(rec / "o.npy")).double()
    l = torch.from_numpy(np.load(rec / "lse.npy")).double()
    line = f"{rec.name}: max|O-ref| {(o - ref).abs().max().item():.3e}  max|LSE-ref| {(l - lse).abs().max().item():.3e}"
    if (rec / "dq.npy").exists():
        grads = torch.autograd.grad(ref, (q, k, v), x[3])
        for name, g in zip(("dQ", "dK", "dV"), grads):
            got = torch.from_numpy(np.load(rec / f"{name.lower()}.npy")).double()
            line += f"  max|{name}-ref| {(got - g).abs().max().item():.3e}"
    print(line)
