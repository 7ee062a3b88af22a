"""Turns a GPU run's recordings (recordings.tgz unpacked) into Reports/gpu/recordings: each
recording's o.npy and lse.npy (and dq.npy, dk.npy, dv.npy for a backward kernel), and manifest.json
naming the kernel source and its sha256 (plus `depends`: other sources the recording's outputs come
from, with theirs), the GPU, driver, nvcc, tiles and command. Run on the CPU side, from the
repository root, with the sources exactly as they were on the GPU:
    python3 Backends/CUDA/make_manifest.py UNPACKED_DIR ENV_TXT Reports/gpu/recordings
A recording's command is `BINARY KERNEL DTYPE --B b --H h --N n --D d [--causal] --seed s --out DIR`,
optionally with `--Nk nk` and `--Hkv h` (keys per sequence and K/V heads: entries gain `Nk` and
`kv_heads`, which default to N and H when absent) and `--alignment top-left|bottom-right` (the
causal mask's, default top-left: entry `alignment`). An fp8 recording also has the dequantized
inputs the kernel computed with (q_deq.npy, k_deq.npy, v_deq.npy): copied, and named in the entry's
`inputs` ({"q": ..., "k": ..., "v": ...}); its source is fa3_fp8.cuh (kernel_tiles.sources)."""
import hashlib
import json
import pathlib
import shutil
import sys

import kernel_tiles

src, env_txt, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
env = env_txt.read_text().splitlines()
gpu, driver = (x.strip() for x in env[0].split(","))
nvcc = next(line for line in env if "release" in line).strip()
torch = next((line for line in env if line.startswith("torch")), "").strip()
sha = lambda p: hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest()
shared = ["Backends/CUDA/common.cuh", "Backends/CUDA/driver.cu"]
records = []
for rec in sorted(p for p in src.iterdir() if p.is_dir()):
    command = (rec / "command.txt").read_text().split()
    kernel, dtype = command[1], command[2]
    if kernel not in kernel_tiles.KERNELS:
        sys.exit(f"make_manifest: {rec.name}: kernel '{kernel}' has no tiles in Backends/CUDA/kernel_tiles.py")
    opts = {command[i]: command[i + 1] for i in range(3, len(command) - 1) if command[i].startswith("--") and command[i] != "--causal"}
    checksum = next(l.split("=")[1] for l in (rec / "stdout.txt").read_text().splitlines() if l.startswith("q_checksum="))
    outputs = [f for f in ("o", "lse", "dq", "dk", "dv") if (rec / f"{f}.npy").exists()]
    if outputs[:2] != ["o", "lse"]:
        sys.exit(f"make_manifest: {rec.name}: no o.npy / lse.npy")
    inputs = {t: f"{t}_deq" for t in ("q", "k", "v") if (rec / f"{t}_deq.npy").exists()}
    if (dtype == "fp8") != bool(inputs) or inputs and len(inputs) != 3:
        sys.exit(f"make_manifest: {rec.name}: an fp8 recording needs q_deq.npy, k_deq.npy, v_deq.npy (and only fp8 has them)")
    source, *depends = kernel_tiles.sources(kernel, dtype)
    entry = {
        "name": rec.name, "kernel": kernel, "dtype": dtype,
        "B": int(opts["--B"]), "H": int(opts["--H"]), "N": int(opts["--N"]), "D": int(opts["--D"]),
        "causal": "--causal" in command, "seed": int(opts["--seed"]), "q_checksum": checksum,
        "source": source, "sha256": sha(source), "tiles": kernel_tiles.KERNELS[kernel],
        "command": " ".join(command).replace("--out DIR", f"--out {rec.name}")}
    if depends:
        entry["depends"] = {p: sha(p) for p in depends}
    for option, key in (("--Nk", "Nk"), ("--Hkv", "kv_heads")):
        if option in opts:
            entry[key] = int(opts[option])
    if "--alignment" in opts:
        entry["alignment"] = opts["--alignment"]
    entry.update({f: f"{rec.name}/{f}.npy" for f in outputs})
    if inputs:
        entry["inputs"] = {t: f"{rec.name}/{f}.npy" for t, f in inputs.items()}
        entry["quantization"] = "e4m3, one power-of-two scale per 128-row tile of each head (fa3fp8::quantize)"
    records.append((rec, outputs + list(inputs.values()), entry))
if dest.exists():
    shutil.rmtree(dest)
dest.mkdir(parents=True)
for rec, outputs, entry in records:
    (dest / rec.name).mkdir()
    for f in outputs:
        shutil.copy(rec / f"{f}.npy", dest / rec.name / f"{f}.npy")
manifest = {"gpu": gpu, "driver": driver, "nvcc": nvcc, "torch": torch,
            "build": "Backends/CUDA/build.sh (nvcc -O3, sm_90a + sm_80)",
            "generator": "Backends/CUDA/driver.cu generate(): 64-bit LCG, 20-bit fixed point in [-1, 1); Q, K, V, dO are t = 0, 1, 2, 3",
            "shared_sources": {p: sha(p) for p in shared}, "recordings": [e for _, _, e in records]}
(dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
print(f"{len(records)} recordings -> {dest}")
