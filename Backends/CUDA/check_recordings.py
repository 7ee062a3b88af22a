"""Quick look on the GPU machine: each recording's max |O - ref| against fp64 attention on the same
(regenerated, rounded) inputs. The real check is the Swift test suite's, on the CPU."""
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
    a = {cmd[i]: cmd[i + 1] for i in range(3, len(cmd) - 1) if cmd[i] in ("--B", "--H", "--N", "--D", "--seed")}
    B, H, N, D, seed = (int(a[k]) for k in ("--B", "--H", "--N", "--D", "--seed"))
    causal = "--causal" in cmd
    tdt = torch.float16 if dtype == "fp16" else torch.bfloat16
    q, k, v = (torch.tensor(generate(seed, t, B * H * N * D)).reshape(B, H, N, D).to(tdt).double() for t in range(3))
    s = q @ k.transpose(-1, -2) / math.sqrt(D)
    if causal:
        s = s.masked_fill(torch.ones(N, N, dtype=torch.bool).triu(1), float("-inf"))
    ref = torch.softmax(s, -1) @ v
    lse = torch.logsumexp(s, -1)
    o = torch.from_numpy(np.load(rec / "o.npy")).double()
    l = torch.from_numpy(np.load(rec / "lse.npy")).double()
    print(f"{rec.name}: max|O-ref| {(o - ref).abs().max().item():.3e}  max|LSE-ref| {(l - lse).abs().max().item():.3e}")
