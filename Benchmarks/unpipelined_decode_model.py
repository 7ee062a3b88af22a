"""iosim's time estimate beside our split-KV decode kernel, pipelined (as recorded) and unpipelined
(Benchmarks/gpu/unpipelined_decode.py), contiguous and paged (issue 16 item 7).

    python3 Benchmarks/unpipelined_decode_model.py > Reports/gpu/unpipelined_decode_model.csv

Reads Reports/gpu/unpipelined_decode.csv (Benchmarks/gpu/unpipelined_decode.sh on the H100). The
kernel's tiles: Br 64, Bc 128 at d = 128, 4 warps, GQA packed; the pipelined kernel is iosim's
default (--stages 2), the unpipelined copy --stages 1; paged rows read blocks of 16 (the in-order
table too: iosim's counts do not depend on the order)."""
import csv
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from iosim_run import result  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHAPE = ["--N", "1", "--batch", "8", "--heads", "32", "--kv-heads", "8", "--d", "128", "--dtype", "fp16", "--pack-gqa",
         "--warps", "4", "--Br", "64", "--Bc", "128", "--schedule", "split-kv", "--hardware", "h100-sxm"]


def main():
    binary = ROOT / ".build/release/iosim"
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["variant", "layout", "splits", "Nk", "measured_us", "estimate_us", "estimate_vs_measured", "iosim_command"])
    for r in csv.DictReader(open(ROOT / "Reports/gpu/unpipelined_decode.csv")):
        args = SHAPE + ["--splits", r["splits"], "--Nk", r["Nk"], "--stages", "2" if r["variant"] == "pipelined" else "1"]
        if r["layout"] != "contiguous":
            args += ["--kv-layout", "paged", "--block-size", "16"]
        est = result(binary, args)["time_estimate_s"] * 1e6
        t = float(r["time_us"])
        w.writerow([r["variant"], r["layout"], r["splits"], r["Nk"], f"{t:.1f}", f"{est:.1f}", f"{est / t:.2f}",
                    "iosim " + " ".join(args)])


main()
