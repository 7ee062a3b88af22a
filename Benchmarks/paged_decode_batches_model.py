"""iosim's --stages 1 estimates for FlexAttention decode at batch 2, 4, 8, 16 (written down before the
measurement: Reports/gpu/paged_decode_batches_predicted.txt) beside the H100's kernel and call times
(Benchmarks/gpu/torch_paged_decode_batches.sh: Reports/gpu/paged_decode_batches.csv, the call times by
graph replay; paged_decode_batches_log.txt, the flex kernel's median time over 20 profiled calls).

    python3 Benchmarks/paged_decode_batches_model.py > Reports/gpu/paged_decode_batches_model.csv
"""
import csv
import pathlib
import re
import sys

GPU = pathlib.Path(__file__).resolve().parent.parent / "Reports" / "gpu"


def main():
    predicted = {}
    for line in (GPU / "paged_decode_batches_predicted.txt").read_text().splitlines():
        f = line.split(",")
        if len(f) == 7 and f[0].isdigit():
            predicted[(int(f[0]), f[3])] = (float(f[4]), int(f[5]), int(f[2]))
    call = {(int(r["batch"]), r["layout"]): float(r["time_us"]) for r in csv.DictReader(open(GPU / "paged_decode_batches.csv"))}
    kernel, batch = {}, None
    for line in (GPU / "paged_decode_batches_log.txt").read_text().splitlines():
        if m := re.match(r"== batch (\d+)", line):
            batch = int(m.group(1))
        elif m := re.match(r"# (\S+) Nk=4096: kernels per call \(\d+\): triton_tem_fused_flex_attention_0 ([\d.]+)us", line):
            kernel[(batch, m.group(1))] = float(m.group(2))
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["batch", "variant", "working_ctas", "estimate_us", "kernel_us", "call_us", "estimate_vs_kernel",
                "estimate_vs_contiguous", "kernel_vs_contiguous"])
    for (b, v), (est, ctas, _) in sorted(predicted.items()):
        k, c = kernel[(b, v)], call[(b, v)]
        e0, k0 = predicted[(b, "contiguous")][0], kernel[(b, "contiguous")]
        w.writerow([b, v, ctas, f"{est:.1f}", f"{k:.2f}", f"{c:.2f}", f"{est / k:.2f}", f"{est / e0:.2f}", f"{k / k0:.2f}"])


main()
