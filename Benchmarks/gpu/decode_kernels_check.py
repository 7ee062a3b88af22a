"""Quick correctness look for the decode kernels (Backends/CUDA/decode.cu), on the GPU machine.
The real check is the Swift suite's, on the CPU, over the committed recordings.

    python3 decode_kernels_check.py check DIR...   each DIR (a recording: command.txt, o.npy,
                                                    lse.npy) against an fp64 reference of the same
                                                    regenerated inputs, with the tolerance rule:
                                                    max|O − ref| ≤ 2·max|base − ref| + atol, base =
                                                    plain attention in the dtype (fp32 scores and
                                                    sums, P rounded to the dtype, O rounded), atol =
                                                    2 ulps of the dtype at max|ref|; LSE within
                                                    1e-3 (absolute) of the reference's
    python3 decode_kernels_check.py same A B        o.npy and lse.npy of two runs bitwise equal
Exit status 1 when any check fails."""
import math
import pathlib
import sys

import numpy as np

A_MUL, C_ADD = 6364136223846793005, 1442695040888963407


def generate(seed, t, n):
    """driver.cu's generate(): x_i = a·x_{i-1} + c (mod 2^64) from x_0 = seed ^ (φ·(t+1)), value
    = ((x_i >> 44) − 2^19) / 2^19 — vectorised with x_i = a^i·x_0 + c·(1 + a + … + a^{i−1})."""
    with np.errstate(over="ignore"):
        x0 = np.uint64((seed ^ (0x9E3779B97F4A7C15 * (t + 1))) & (2**64 - 1))
        pw = np.cumprod(np.full(n, A_MUL, dtype=np.uint64))  # a^1 … a^n
        geo = np.empty(n, dtype=np.uint64)                      # 1 + a + … + a^{i−1}
        geo[0] = 1
        if n > 1:
            geo[1:] = np.uint64(1) + np.cumsum(pw[:-1])
        x = pw * x0 + geo * np.uint64(C_ADD)
    return (((x >> np.uint64(44)).astype(np.int64) - 524288) / 524288.0)


def options(cmd):
    a = {cmd[i]: cmd[i + 1] for i in range(3, len(cmd) - 1) if cmd[i].startswith("--")}
    B, H, D = int(a["--B"]), int(a["--H"]), int(a["--D"])
    return (cmd[1], cmd[2], B, H, int(a.get("--Hkv", H)), int(a.get("--N", 1)), int(a["--Nk"]), D,
            int(a.get("--seed", 0)))


def check(rec):
    import torch
    cmd = (rec / "command.txt").read_text().split()
    kernel, dtype, B, H, Hkv, Nq, Nk, D, seed = options(cmd)
    tdt = torch.float16 if dtype == "fp16" else torch.bfloat16
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    q = torch.tensor(generate(seed, 0, B * H * Nq * D)).reshape(B, H, Nq, D).to(tdt).to(dev)
    k = torch.tensor(generate(seed, 1, B * Hkv * Nk * D)).reshape(B, Hkv, Nk, D).to(tdt).to(dev)
    v = torch.tensor(generate(seed, 2, B * Hkv * Nk * D)).reshape(B, Hkv, Nk, D).to(tdt).to(dev)
    k, v = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
    s = q.double() @ k.double().transpose(-1, -2) / math.sqrt(D)
    ref, lse = torch.softmax(s, -1) @ v.double(), torch.logsumexp(s, -1)
    s32 = q.float() @ k.float().transpose(-1, -2) / math.sqrt(D)
    base = (torch.softmax(s32, -1).to(tdt).float() @ v.float()).to(tdt).double()
    o = torch.from_numpy(np.load(rec / "o.npy")).double().to(dev)
    l = torch.from_numpy(np.load(rec / "lse.npy")).double().to(dev)
    err, berr = (o - ref).abs().max().item(), (base - ref).abs().max().item()
    mant = 10 if dtype == "fp16" else 7
    atol = 2 * 2.0 ** (math.floor(math.log2(ref.abs().max().item())) - mant)
    lerr = (l - lse).abs().max().item()
    ok = err <= 2 * berr + atol and lerr <= 1e-3
    print(f"{'PASS' if ok else 'FAIL'} {rec.name}: max|O-ref| {err:.3e} (base {berr:.3e}, limit {2 * berr + atol:.3e})"
          f"  max|LSE-ref| {lerr:.3e}", flush=True)
    return ok


def same(a, b):
    ok = all(np.array_equal(np.load(a / f), np.load(b / f), equal_nan=True) for f in ("o.npy", "lse.npy"))
    print(f"{'PASS' if ok else 'FAIL'} bitwise {a.name} == {b.name}", flush=True)
    return ok


if __name__ == "__main__":
    mode, paths = sys.argv[1], [pathlib.Path(p) for p in sys.argv[2:]]
    if mode == "check":
        results = [check(p) for p in paths]
    elif mode == "same":
        results = [same(*paths)]
    else:
        sys.exit(__doc__)
    sys.exit(0 if all(results) else 1)
