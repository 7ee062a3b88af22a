"""PyTorch flash SDPA in decode shapes (issue 15 item 4): B = 8, H = 32 query heads, Hkv in {32, 8}
(GQA through enable_gqa=True), Nq in {1, 16}, Nk in {4K, 32K, 128K}, d = 128, fp16, no mask:
is_causal=False everywhere (for Nq = 1 a bottom-right causal mask masks nothing; for Nq = 16 we
chose no mask, since PyTorch's is_causal is top-left aligned, which is not decode's mask).
Run by Benchmarks/gpu/measure_torch_decode.sh.

    python3 torch_decode.py time     CSV rows for Reports/gpu/decode_speed.csv on stdout; on stderr the
                                     kernels each call launched (torch.profiler), the error against an
                                     fp32 reference (batch 0), and eager beside graph-replay times
    python3 torch_decode.py ncu      the workload for Nsight Compute: per configuration one warm-up
                                     call, then one call inside the NVTX push/pop range named
                                     decode_Hkv{Hkv}_Nq{Nq}_Nk{Nk} (ncu --nvtx --nvtx-include '<name>/')
    python3 torch_decode.py traffic RAW.csv [NVTX.csv]
                                     Reports/gpu/decode_traffic.csv rows from ncu's raw page (RAW), each
                                     launch's configuration read from its NVTX range (RAW's NVTX column,
                                     else NVTX: the report exported with --print-nvtx-rename kernel)

time_us is the median over SAMPLES samples of (events around REPS back-to-back calls replayed from
one CUDA graph) / REPS, after warm-up; kv_gbps = bytes of K and V as stored (2 * B * Hkv * Nk * d * 2)
/ time. Where K and V are smaller than 4x the 50 MB L2, the calls rotate over several K/V copies."""
import csv
import statistics
import sys

B, H, D = 8, 32, 128
CONFIGS = [(hkv, nq, nk) for hkv in (32, 8) for nq in (1, 16) for nk in (4096, 32768, 131072)]
SAMPLES = 30
METRICS = ("l1tex__m_xbar2l1tex_read_bytes.sum", "l1tex__m_l1tex2xbar_write_bytes.sum",
           "dram__bytes_read.sum", "dram__bytes_write.sum", "gpu__time_duration.sum")


def range_name(hkv, nq, nk):
    return f"decode_Hkv{hkv}_Nq{nq}_Nk{nk}"


def kv_bytes(hkv, nk):
    return 2 * B * hkv * nk * D * 2


def make_inputs(torch, hkv, nq, nk, copies=1):
    q = torch.randn(B, H, nq, D, device="cuda", dtype=torch.float16)
    kvs = [(torch.randn(B, hkv, nk, D, device="cuda", dtype=torch.float16),
            torch.randn(B, hkv, nk, D, device="cuda", dtype=torch.float16)) for _ in range(copies)]
    return q, kvs


def attend(F, q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=False, enable_gqa=k.shape[1] != q.shape[1])


def expand(k, v):
    """Fallback only if the flash backend refuses enable_gqa: K/V heads repeated (H/Hkv times the bytes)."""
    rep = H // k.shape[1]
    return k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)


def reference_error(torch, out, q, k, v):
    """‖out − ref‖ / ‖ref‖ for batch element 0, reference in fp32 (K/V heads repeated for GQA)."""
    qf, kf, vf = q[0].float(), k[0].float(), v[0].float()
    rep = q.shape[1] // k.shape[1]
    if rep > 1:
        kf, vf = kf.repeat_interleave(rep, 0), vf.repeat_interleave(rep, 0)
    p = torch.softmax(qf @ kf.transpose(-1, -2) / D ** 0.5, dim=-1)
    ref = p @ vf
    return ((out[0].float() - ref).norm() / ref.norm()).item()


def kernels_of_one_call(torch, F, q, k, v):
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        attend(F, q, k, v)
        torch.cuda.synchronize()
    return [e.name for e in prof.events() if str(e.device_type).endswith("CUDA")]


def median_us(torch, fn, reps):
    times = []
    for _ in range(SAMPLES):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) * 1000 / reps)
    return statistics.median(times), min(times), max(times)


def time_mode():
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    gpu = torch.cuda.get_device_name().replace(",", " ")
    props = torch.cuda.get_device_properties(0)
    print("torch", torch.__version__, gpu, f"SMs={props.multi_processor_count}",
          f"L2={getattr(props, 'L2_cache_size', 0)}", file=sys.stderr, flush=True)
    print("kernel,batch,heads,kv_heads,Nq,Nk,d,dtype,time_us,kv_gbps,gpu", flush=True)
    for hkv, nq, nk in CONFIGS:
        tag = f"B={B} H={H} Hkv={hkv} Nq={nq} Nk={nk} d={D}"
        nbytes = kv_bytes(hkv, nk)
        copies = max(1, -(-4 * 50_000_000 // nbytes))
        q, kvs = make_inputs(torch, hkv, nq, nk, copies)
        # Calls per sample: enough back-to-back work (about 1 ms at 3 TB/s) that event overhead vanishes.
        reps = max(copies, copies * round(1e-3 * 3e12 / nbytes / copies))
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            try:
                out = attend(F, q, *kvs[0])
            except RuntimeError as e:
                print(f"# {tag}: flash refused: {str(e).splitlines()[0]}", file=sys.stderr, flush=True)
                if hkv == H:
                    del q, kvs
                    torch.cuda.empty_cache()
                    continue
                kvs = [expand(k, v) for k, v in kvs]
                print(f"# {tag}: K/V expanded to {H} heads (repeat_interleave) from here on", file=sys.stderr)
                out = attend(F, q, *kvs[0])
            torch.cuda.synchronize()
            err = reference_error(torch, out, q, *kvs[0])
            print(f"# {tag}: rel_err={err:.2e} copies={copies} reps={reps}", file=sys.stderr, flush=True)

            def eager():
                for i in range(reps):
                    attend(F, q, *kvs[i % copies])
            for _ in range(3):
                eager()
            torch.cuda.synchronize()
            eager_us = median_us(torch, eager, reps)
            graph_us = None
            try:
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    eager()
                torch.cuda.current_stream().wait_stream(s)
                torch.cuda.synchronize()
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    eager()
                for _ in range(3):
                    g.replay()
                torch.cuda.synchronize()
                graph_us = median_us(torch, g.replay, reps)
                del g
            except RuntimeError as e:
                print(f"# {tag}: graph capture failed: {str(e).splitlines()[0]}", file=sys.stderr)
            try:  # after the timing, so that the profiler's hooks stay out of it
                names = kernels_of_one_call(torch, F, q, *kvs[0])
            except Exception as e:  # the profiler is a cross-check only
                names = [f"(profiler failed: {e})"]
            print(f"# {tag}: kernels per call ({len(names)}): " + " | ".join(names), file=sys.stderr, flush=True)
        us = graph_us[0] if graph_us else eager_us[0]
        print(f"# {tag}: graph median/min/max us = {graph_us and ' / '.join(f'{t:.2f}' for t in graph_us)}; "
              f"eager = {' / '.join(f'{t:.2f}' for t in eager_us)}", file=sys.stderr, flush=True)
        print(f"torch-flash,{B},{H},{hkv},{nq},{nk},{D},fp16,{us:.3f},{nbytes / us / 1e3:.1f},{gpu}", flush=True)
        del q, kvs, out
        torch.cuda.empty_cache()


def ncu_mode():
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    for hkv, nq, nk in CONFIGS:
        q, kvs = make_inputs(torch, hkv, nq, nk)
        k, v = kvs[0]
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            try:
                attend(F, q, k, v)  # warm-up, outside the range
            except RuntimeError as e:
                print(f"# Hkv={hkv} Nq={nq} Nk={nk}: flash refused: {str(e).splitlines()[0]}", file=sys.stderr)
                if hkv == H:
                    continue
                k, v = expand(k, v)
                print(f"# Hkv={hkv} Nq={nq} Nk={nk}: K/V expanded to {H} heads (repeat_interleave)", file=sys.stderr)
                attend(F, q, k, v)
            torch.cuda.synchronize()
            torch.cuda.nvtx.range_push(range_name(hkv, nq, nk))
            attend(F, q, k, v)
            torch.cuda.synchronize()
            torch.cuda.nvtx.range_pop()
        print(f"# profiled {range_name(hkv, nq, nk)}", file=sys.stderr, flush=True)
        del q, kvs, k, v
        torch.cuda.empty_cache()
    print("torch", torch.__version__, torch.cuda.get_device_name(), file=sys.stderr)


def ncu_rows(path):
    """(header, rows) of an ncu --csv --page raw file: the header row, then the units row, then one
    row per kernel launch; lines before the header (==PROF== notes) are skipped."""
    lines = [l for l in open(path) if l.startswith('"')]
    table = list(csv.reader(lines))
    header = table[0]
    return header, [dict(zip(header, r)) for r in table[2:]]


def grid(r):
    dims = [r.get(f"launch__grid_dim_{a}", "") for a in "xyz"]
    if all(dims):
        return "x".join(x.replace(",", "") for x in dims)
    return r["Grid Size"].strip("()").replace(" ", "").replace(",", "x")


def traffic_mode(raw_path, nvtx_path=None):
    """Each launch's configuration comes from its NVTX push/pop range: ncu's raw page carries it in the
    'thread Domain:Push/Pop_Range...' column; NVTX (an export with --print-nvtx-rename kernel) is
    used only where that column is missing."""
    _, raw = ncu_rows(raw_path)
    names = {range_name(*c): c for c in CONFIGS}
    labels = {}
    if nvtx_path:
        labels = {r["ID"]: r["Kernel Name"] for r in ncu_rows(nvtx_path)[1]}
    config_of = {}
    for r in raw:
        label = next((v for k, v in r.items() if "Push/Pop_Range" in k), None) or labels.get(r["ID"], "")
        hit = [n for n in names if f":{n}:" in label or label == n]
        if len(hit) != 1:
            sys.exit(f"launch {r['ID']}: no configuration in its NVTX range {label!r}")
        config_of[r["ID"]] = names[hit[0]]
    print("kernel,batch,heads,kv_heads,Nq,Nk,d,dtype,ncu_kernel,grid,metric,measured_bytes")
    w = csv.writer(sys.stdout, lineterminator="\n")
    for r in raw:
        hkv, nq, nk = config_of[r["ID"]]
        name = r["Kernel Name"].split("<")[0].split("(")[0].replace("void ", "").strip()
        for m in METRICS[:4]:  # bytes only (gpu__time_duration stays in the raw file)
            if m in r:
                w.writerow(["torch-flash", B, H, hkv, nq, nk, D, "fp16", name, grid(r),
                            m, int(float(r[m].replace(",", "")))])


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "time"
    if mode == "time":
        time_mode()
    elif mode == "ncu":
        ncu_mode()
    elif mode == "traffic":
        traffic_mode(*sys.argv[2:4])
    else:
        sys.exit(__doc__)
