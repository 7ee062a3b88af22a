"""Prints Reports/gpu/speed.csv as the Markdown table of Reports/gpu/README.md (TFLOP/s per kernel,
fp16 unless a row says otherwise) and the ladder's ratios at N = 4096 and 16384, non-causal, against
the targets of issues 18 and 19. Run from the repository root: python3 Benchmarks/gpu/speed_table.py"""
import csv
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "Reports/gpu/speed.csv"
rows = list(csv.DictReader(open(path)))
sp = {(r["kernel"] + ("-fp8" if r["dtype"] == "fp8" else ""), int(r["N"]), int(r["d"]), r["causal"]): float(r["tflops"])
      for r in rows}
order = ["standard", "fa1", "fa2", "fa3", "fa3-fp8", "torch-math", "torch-efficient", "torch-flex", "torch-flash",
         "torch-cudnn", "fa2-bwd", "torch-flash-bwd", "torch-cudnn-bwd"]
kernels = [k for k in order if any(key[0] == k for key in sp)]
print("| N, d | causal | " + " | ".join(kernels) + " |")
print("| --- | --- | " + " | ".join("---" for _ in kernels) + " |")
for n in sorted({key[1] for key in sp}):
    for d in sorted({key[2] for key in sp}):
        for c in ("false", "true"):
            cells = [f"{sp[(k, n, d, c)]:.0f}" if (k, n, d, c) in sp else "–" for k in kernels]
            print(f"| {n // 1024}K, {d} | {'yes' if c == 'true' else 'no'} | " + " | ".join(cells) + " |")
print()
targets = [("standard", "torch-math", 0.8), ("fa1", "standard", 1.5), ("fa2", "fa1", 1.5), ("fa2-bwd", "torch-flash-bwd", 0.8),
           ("fa3", "torch-cudnn", 0.85), ("fa3", "fa2", 1.3), ("fa3-fp8", "fa3", 1.3)]
print("| ratio (non-causal) | target | " + " | ".join(f"N = {n // 1024}K, d = {d}" for n in (4096, 16384) for d in (64, 128)) + " |")
print("| --- | --- | " + " | ".join("---" for _ in range(4)) + " |")
for a, b, t in targets:
    cells = []
    for n in (4096, 16384):
        for d in (64, 128):
            ka, kb = (a, n, d, "false"), (b, n, d, "false")
            cells.append(f"{sp[ka] / sp[kb]:.2f}" if ka in sp and kb in sp else "–")
    print(f"| {a} / {b} | ≥ {t} | " + " | ".join(cells) + " |")
