"""Turns a GPU run's recordings (recordings.tgz unpacked) into Reports/gpu/recordings: each
recording's o.npy and lse.npy, and manifest.json naming the kernel source and its sha256, the
GPU, driver, nvcc, tiles and command. Run on the CPU side, from the repository root, with the
sources exactly as they were on the GPU:
    python3 Backends/CUDA/make_manifest.py UNPACKED_DIR ENV_TXT Reports/gpu/recordings"""
import hashlib
import json
import pathlib
import shutil
import sys

from kernel_tiles import KERNELS

src, env_txt, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
env = env_txt.read_text().splitlines()
gpu, driver = (x.strip() for x in env[0].split(","))
nvcc = next(line for line in env if "release" in line).strip()
torch = next((line for line in env if line.startswith("torch")), "").strip()
sha = lambda p: hashlib.sha256(pathlib.Path(p).read_bytes()).hexdigest()
shared = ["Backends/CUDA/common.cuh", "Backends/CUDA/driver.cu"]
if dest.exists():
    shutil.rmtree(dest)
dest.mkdir(parents=True)
records = []
for rec in sorted(p for p in src.iterdir() if p.is_dir()):
    command = (rec / "command.txt").read_text().split()
    kernel, dtype = command[1], command[2]
    opts = {command[i]: command[i + 1] for i in range(3, len(command) - 1) if command[i].startswith("--") and command[i] != "--causal"}
    checksum = next(l.split("=")[1] for l in (rec / "stdout.txt").read_text().splitlines() if l.startswith("q_checksum="))
    (dest / rec.name).mkdir()
    for f in ("o.npy", "lse.npy"):
        shutil.copy(rec / f, dest / rec.name / f)
    source = f"Backends/CUDA/{kernel}.cuh"
    records.append({
        "name": rec.name, "kernel": kernel, "dtype": dtype,
        "B": int(opts["--B"]), "H": int(opts["--H"]), "N": int(opts["--N"]), "D": int(opts["--D"]),
        "causal": "--causal" in command, "seed": int(opts["--seed"]), "q_checksum": checksum,
        "source": source, "sha256": sha(source), "tiles": KERNELS[kernel],
        "command": " ".join(command).replace("--out DIR", f"--out {rec.name}"),
        "o": f"{rec.name}/o.npy", "lse": f"{rec.name}/lse.npy"})
manifest = {"gpu": gpu, "driver": driver, "nvcc": nvcc, "torch": torch,
            "build": "Backends/CUDA/build.sh (nvcc -O3, sm_90a + sm_80)",
            "generator": "Backends/CUDA/driver.cu generate(): 64-bit LCG, 20-bit fixed point in [-1, 1)",
            "shared_sources": {p: sha(p) for p in shared}, "recordings": records}
(dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
print(f"{len(records)} recordings -> {dest}")
