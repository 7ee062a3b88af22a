"""PyTorch's attention backward on the GPU (issue 14 items 5 and 6, issue 17 item 3, issue 18 item 6).
Run by Benchmarks/gpu/measure_torch_backward.sh, which says what each mode's output becomes.

    python3 torch_backward.py ranges     the ncu arguments --nvtx-include <range>/ for every NCU_CONFIGS entry
    python3 torch_backward.py ncu        workload for Nsight Compute: FA2 backward of PyTorch's flash SDPA,
                                         fp16, B = 1, 8 heads, N in {4K, 16K}, d in {64, 128}, causal and not.
                                         Per configuration: the forward (aten._scaled_dot_product_flash_attention)
                                         and one warm-up backward outside any range, then one backward
                                         (aten._scaled_dot_product_flash_attention_backward, called from this
                                         thread so that the NVTX range holds its kernels) inside the NVTX
                                         push/pop range bwd_N{N}_d{d}_c{0|1}
    python3 torch_backward.py traffic RAW.csv
                                         Reports/gpu/bwd_traffic.csv from ncu's raw page (each launch's
                                         configuration from its NVTX range)
    python3 torch_backward.py summary RAW.csv
                                         per launch: grid, block, shared memory, registers, the tile
                                         template arguments, bytes and time (for the README)
    python3 torch_backward.py sample     small forward + backward (N = 1024, d = 64, 2 heads, fp16, flash
                                         SDPA through autograd) for an unfiltered ncu CSV (issue 17 item 3);
                                         prints one line before any kernel runs
    python3 torch_backward.py time       Reports/gpu/bwd_times.csv: flash backward at the shapes of
                                         Reports/gpu/time_estimates.csv; on stderr the kernels of one call
                                         (torch.profiler), autograd beside the direct op, and the error of
                                         dQ, dK, dV against an fp32 reference
    python3 torch_backward.py speed [flex]
                                         Reports/gpu/bwd_speed_torch.csv rows (speed.csv's columns): N = 4096,
                                         batch 4 (B*N = 16K tokens), heads = 2048 / d, d in {64, 128}, causal
                                         and not, forward of torch-math, -efficient, -flash, -cudnn and
                                         backward of each (-bwd); 'flex' does compiled flex_attention only

Timing: CUDA events around every call, calls back to back, warm-up first; time_us = median of SAMPLES
calls. TFLOP/s: forward 4*N^2*d*batch*heads / t, halved for causal; backward 2.5x the forward's flops."""
import contextlib
import csv
import re
import statistics
import sys

NCU_CONFIGS = [(n, d, c) for n in (4096, 16384) for d in (64, 128) for c in (False, True)]
NCU_B, NCU_H = 1, 8
SAMPLES, WARMUP = 30, 5
BYTE_METRICS = ("l1tex__m_xbar2l1tex_read_bytes.sum", "l1tex__m_l1tex2xbar_write_bytes.sum",
                "dram__bytes_read.sum", "dram__bytes_write.sum")
ROLES = (("dot_do_o", "preprocess"), ("dq_dk_dv", "main"), ("convert_dq", "convert"))


def range_name(n, d, causal):
    return f"bwd_N{n}_d{d}_c{int(causal)}"


def fwd_flops(n, d, batch, heads, causal):
    return 4 * n * n * d * batch * heads / (2 if causal else 1)


# ---------------------------------------------------------------- the flash ops, called directly

def flash_fwd(torch, q, k, v, causal):
    """(out, lse, cum_q, cum_k, max_q, max_k, seed, offset, debug) in SDPA's [B, H, N, d] layout."""
    return torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, causal, False)


def flash_bwd(torch, do, q, k, v, fwd, causal):
    out, lse, cq, ck, mq, mk, seed, offset = fwd[:8]
    return torch.ops.aten._scaled_dot_product_flash_attention_backward(
        do, q, k, v, out, lse, cq, ck, mq, mk, 0.0, causal, seed, offset)


def inputs(torch, b, h, n, d, grad=False):
    q, k, v, do = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(4))
    if grad:
        for t in (q, k, v):
            t.requires_grad_(True)
    return q, k, v, do


def event_times_us(torch, fn, samples=SAMPLES, warmup=WARMUP):
    """Median, min, max of per-call times (events around each call; calls back to back)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(samples)]
    for s, e in ev:
        s.record()
        fn()
        e.record()
    torch.cuda.synchronize()
    t = [s.elapsed_time(e) * 1000 for s, e in ev]
    return statistics.median(t), min(t), max(t)


def cuda_kernels(torch, fn):
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return [e.name for e in prof.events() if str(e.device_type).endswith("CUDA")]


def gpu_name(torch):
    return torch.cuda.get_device_name().replace(",", " ")


# ---------------------------------------------------------------- modes

def ranges_mode():
    print(" ".join(f"--nvtx-include {range_name(*c)}/" for c in NCU_CONFIGS))


def ncu_mode():
    import torch
    torch.manual_seed(0)
    for n, d, causal in NCU_CONFIGS:
        q, k, v, do = inputs(torch, NCU_B, NCU_H, n, d)
        fwd = flash_fwd(torch, q, k, v, causal)
        flash_bwd(torch, do, q, k, v, fwd, causal)  # warm-up, outside the range
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_push(range_name(n, d, causal))
        grads = flash_bwd(torch, do, q, k, v, fwd, causal)
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_pop()
        finite = all(bool(torch.isfinite(g).all()) for g in grads)
        print(f"# profiled {range_name(n, d, causal)}: grads finite={finite}", file=sys.stderr, flush=True)
        del q, k, v, do, fwd, grads
        torch.cuda.empty_cache()
    print("torch", torch.__version__, torch.cuda.get_device_name(), file=sys.stderr)


def sample_mode():
    print("iosim ncu sample: PyTorch flash SDPA forward + backward, B=1 H=2 N=1024 d=64 fp16", flush=True)
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    torch.manual_seed(0)
    q, k, v, do = inputs(torch, 1, 2, 1024, 64, grad=True)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        out = F.scaled_dot_product_attention(q, k, v)
    out.backward(do)
    torch.cuda.synchronize()
    print(f"iosim ncu sample: done, |dq|={q.grad.float().norm().item():.3f}", flush=True)


def ncu_rows(path):
    lines = [l for l in open(path) if l.startswith('"')]
    table = list(csv.reader(lines))
    header = table[0]
    return header, [dict(zip(header, r)) for r in table[2:]]


def num(s):
    s = (s or "").replace(",", "").strip()
    return int(float(s)) if s else 0


def grid(r):
    dims = [r.get(f"launch__grid_dim_{a}", "") for a in "xyz"]
    if all(dims):
        return "x".join(x.replace(",", "") for x in dims)
    return r["Grid Size"].strip("()").replace(" ", "").replace(",", "x")


def block(r):
    return r["Block Size"].strip("()").replace(" ", "").replace(",", "x")


def smem(r):
    """static + dynamic shared memory per block (the driver's reserved 1 KiB not included)."""
    return num(r.get("launch__shared_mem_per_block_static")) + num(r.get("launch__shared_mem_per_block_dynamic"))


def base_name(r):
    return r["Kernel Name"].split("<")[0].split("(")[0].replace("void ", "").strip()


def role(r):
    name = base_name(r)
    for key, label in ROLES:
        if key in name:
            return "torch-flash-bwd/" + label
    if "direct_copy" in r["Kernel Name"]:
        return "torch-flash-bwd/copy"
    return "torch-flash-bwd/other"


def configs_of(raw):
    names = {range_name(*c): c for c in NCU_CONFIGS}
    out = {}
    for r in raw:
        label = next((v for k, v in r.items() if "Push/Pop_Range" in k), "") or ""
        hit = [nm for nm in names if f":{nm}:" in label or label.strip() == nm]
        if len(hit) != 1:
            sys.exit(f"launch {r['ID']}: no configuration in its NVTX range {label!r}")
        out[r["ID"]] = names[hit[0]]
    return out


def traffic_mode(raw_path):
    _, raw = ncu_rows(raw_path)
    config = configs_of(raw)
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["kernel", "N", "d", "heads", "dtype", "causal", "ncu_kernel", "grid", "block", "smem_bytes",
                "metric", "measured_bytes"])
    for r in raw:
        n, d, causal = config[r["ID"]]
        for m in BYTE_METRICS:
            w.writerow([role(r), n, d, NCU_H, "fp16", str(causal).lower(), base_name(r), grid(r), block(r),
                        smem(r), m, num(r[m])])


def live_pairs(n, br, bc, causal):
    """(row block i, column block j) pairs with at least one unmasked score (top-left causal)."""
    tr, tc = -(-n // br), -(-n // bc)
    if not causal:
        return tr * tc
    return sum(1 for j in range(tc) for i in range(tr) if min(n, (i + 1) * br) - 1 >= j * bc)


def predicted(kind, n, d, causal, br, bc, h=NCU_H):
    """iosim's fa2 backward bytes (docs/counting-rules.md §8a; reads, writes) of one launch, fp16 operands, fp32 LSE/D/dQ accumulator.
    copy: one [B, N, H, d] fp16 tensor made contiguous."""
    nd = n * d * h
    if kind == "preprocess":
        return 2 * nd * 2, n * h * 4 + nd * 4
    if kind == "main":
        p = live_pairs(n, br, bc, causal) * h
        return 2 * nd * 2 + p * (2 * br * d * 2 + 2 * br * 4), 2 * nd * 2 + p * br * d * 4
    if kind == "convert":
        return nd * 4, nd * 2
    if kind == "copy":
        return nd * 2, nd * 2
    return None


def tiles(r):
    t = re.search(r"Flash_bwd_kernel_traits<\s*(\d+),\s*(\d+),\s*(\d+)", r["Kernel Name"])
    return (int(t.group(2)), int(t.group(3))) if t else (None, None)


def summary_mode(raw_path):
    _, raw = ncu_rows(raw_path)
    config = configs_of(raw)
    traits = set()
    print("N d causal | kernel | grid block smem regs | L2->SM read, SM->L2 write, DRAM read, DRAM write | us"
          " | predicted read, write (iosim) | measured/predicted read, write")
    tile_of = {}
    for r in raw:
        if tiles(r)[0]:
            tile_of[config[r["ID"]][1]] = tiles(r)
    for r in raw:
        n, d, causal = config[r["ID"]]
        t = re.search(r"Flash_bwd_kernel_traits<([^<>]*)", r["Kernel Name"])
        if t:
            traits.add((base_name(r), d, t.group(1)))
        kind = role(r).split("/")[1]
        br, bc = tile_of.get(d, (None, None))
        pred = predicted(kind, n, d, causal, br, bc) if br else None
        rd, wr = num(r[BYTE_METRICS[0]]), num(r[BYTE_METRICS[1]])
        extra = "" if not pred else (f" | {pred[0]:,} {pred[1]:,} | {rd / pred[0]:.5f} {wr / pred[1]:.5f}"
                                     f" (+{rd - pred[0]:,} +{wr - pred[1]:,})")
        print(n, d, int(causal), "|", role(r), base_name(r), "|", grid(r), block(r), smem(r),
              r.get("launch__registers_per_thread", "?"), "|",
              " ".join(f"{num(r[m]):,}" for m in BYTE_METRICS), "|",
              f"{num(r['gpu__time_duration.sum']) / 1000:.1f}" + extra)
    for name, d, t in sorted(traits):
        print(f"traits d={d} {name}: Flash_bwd_kernel_traits<{t}...>")
    names = sorted({r["Kernel Name"] for r in raw})
    print("distinct kernel names:")
    for nm in names:
        print("  ", nm)


def reference_error(torch, q, k, v, do, grads, causal):
    """‖g − ref‖ / ‖ref‖ for dQ, dK, dV; reference: fp32 autograd of the plain formula."""
    qf, kf, vf = (t.detach().float().requires_grad_(True) for t in (q, k, v))
    s = qf @ kf.transpose(-1, -2) / q.shape[-1] ** 0.5
    if causal:
        n = q.shape[-2]
        s = s.masked_fill(torch.ones(n, n, device="cuda", dtype=torch.bool).triu(1), float("-inf"))
    o = torch.softmax(s, dim=-1) @ vf
    ref = torch.autograd.grad(o, (qf, kf, vf), do.float())
    return [((g.float() - r).norm() / r.norm()).item() for g, r in zip(grads, ref)]


def time_mode():
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    torch.manual_seed(0)
    gpu = gpu_name(torch)
    print("torch", torch.__version__, gpu, file=sys.stderr, flush=True)
    print("kernel,N,d,batch,heads,causal,dtype,time_us,tflops,gpu", flush=True)
    for n in (1024, 4096, 16384):
        for d in (64, 128):
            b, h = 16384 // n, 2048 // d
            q, k, v, do = inputs(torch, b, h, n, d)
            for causal in (False, True):
                tag = f"N={n} d={d} batch={b} heads={h} causal={causal}"
                fwd = flash_fwd(torch, q, k, v, causal)
                med, lo, hi = event_times_us(torch, lambda: flash_bwd(torch, do, q, k, v, fwd, causal))
                flops = 2.5 * fwd_flops(n, d, b, h, causal)
                print(f"torch-flash-bwd,{n},{d},{b},{h},{str(causal).lower()},fp16,{med:.3f},"
                      f"{flops / med / 1e6:.3f},{gpu}", flush=True)
                # cross-checks (after the timing): autograd through F.sdpa, its kernels, the error
                qa, ka, va = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    out = F.scaled_dot_product_attention(qa, ka, va, is_causal=causal)
                ag = lambda: torch.autograd.grad(out, (qa, ka, va), do, retain_graph=True)
                amed = event_times_us(torch, ag, samples=10, warmup=2)[0]
                same = all(torch.equal(x, y) for x, y in zip(ag(), flash_bwd(torch, do, q, k, v, fwd, causal)))
                try:
                    names = cuda_kernels(torch, lambda: flash_bwd(torch, do, q, k, v, fwd, causal))
                    anames = cuda_kernels(torch, ag)
                except Exception as e:  # a cross-check only
                    names, anames = [f"(profiler failed: {e})"], []
                print(f"# {tag}: direct op median/min/max us = {med:.1f} / {lo:.1f} / {hi:.1f}; autograd "
                      f"median {amed:.1f}; autograd grads bitwise equal to the direct op's: {same}",
                      file=sys.stderr, flush=True)
                print(f"#   kernels of one direct call ({len(names)}): " + " | ".join(names), file=sys.stderr)
                if anames != names:
                    print(f"#   kernels of one autograd call ({len(anames)}): " + " | ".join(anames), file=sys.stderr)
                del qa, ka, va, out, fwd
            del q, k, v, do
            torch.cuda.empty_cache()
    # error against fp32 at the ncu shapes with N = 4096 (B = 1, 8 heads)
    for n, d, causal in NCU_CONFIGS:
        if n != 4096:
            continue
        q, k, v, do = inputs(torch, NCU_B, NCU_H, n, d)
        fwd = flash_fwd(torch, q, k, v, causal)
        grads = flash_bwd(torch, do, q, k, v, fwd, causal)
        errs = reference_error(torch, q, k, v, do, grads, causal)
        print(f"# error vs fp32, {range_name(n, d, causal)}: dQ {errs[0]:.2e} dK {errs[1]:.2e} dV {errs[2]:.2e}",
              file=sys.stderr, flush=True)
        del q, k, v, do, fwd, grads
        torch.cuda.empty_cache()


SPEED_N, SPEED_TOKENS, SPEED_HIDDEN = 4096, 16384, 2048


def speed_mode(flex_only=False):
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel
    torch.manual_seed(0)
    gpu = gpu_name(torch)
    n, b = SPEED_N, SPEED_TOKENS // SPEED_N
    flag = getattr(torch.backends.cuda, "fp16_bf16_reduction_math_sdp_allowed", None)
    print("torch", torch.__version__, gpu, "math fp16 reduction allowed:", flag() if flag else "n/a",
          file=sys.stderr, flush=True)
    if not flex_only:
        print("kernel,N,d,heads,dtype,causal,time_us,tflops,gpu", flush=True)
    backends = [("torch-math", SDPBackend.MATH), ("torch-efficient", SDPBackend.EFFICIENT_ATTENTION),
                ("torch-flash", SDPBackend.FLASH_ATTENTION), ("torch-cudnn", SDPBackend.CUDNN_ATTENTION)]
    flex = block_masks = None
    if flex_only:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        flex = torch.compile(flex_attention, dynamic=False)
        block_masks = {False: None,
                       True: create_block_mask(lambda bb, hh, qi, ki: qi >= ki, None, None, n, n, device="cuda")}
        backends = [("torch-flex", None)]

    def row(name, d, h, causal, us, flops):
        print(f"{name},{n},{d},{h},fp16,{str(causal).lower()},{us:.3f},{flops / us / 1e6:.3f},{gpu}", flush=True)

    for d in (64, 128):
        h = SPEED_HIDDEN // d
        q, k, v, do = inputs(torch, b, h, n, d)
        for causal in (False, True):
            flops = fwd_flops(n, d, b, h, causal)
            # reference for the cross-check: flash's O, dQ, dK, dV on the same inputs
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                qa, ka, va = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
                o = F.scaled_dot_product_attention(qa, ka, va, is_causal=causal)
                ref = [o.detach().float()] + [g.float() for g in torch.autograd.grad(o, (qa, ka, va), do)]
            del qa, ka, va, o
            for name, backend in backends:
                tag = f"{name} N={n} d={d} batch={b} heads={h} causal={causal}"
                reps = 20 if name == "torch-math" else SAMPLES
                try:
                    if backend is None:
                        bm = block_masks[causal]
                        call = lambda x, y, z: flex(x, y, z, block_mask=bm)
                        ctx = contextlib.nullcontext()
                    else:
                        call = lambda x, y, z: F.scaled_dot_product_attention(x, y, z, is_causal=causal)
                        ctx = sdpa_kernel(backend)
                    with ctx:
                        fmed, flo, fhi = event_times_us(torch, lambda: call(q, k, v), samples=reps)
                        row(name, d, h, causal, fmed, flops)
                        qa, ka, va = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
                        out = call(qa, ka, va)
                    bwd = lambda: torch.autograd.grad(out, (qa, ka, va), do, retain_graph=True)
                    try:
                        bmed, blo, bhi = event_times_us(torch, bwd, samples=reps)
                        how = "autograd.grad(retain_graph=True)"
                        grads = bwd()
                    except RuntimeError as e:
                        print(f"# {tag}: retain_graph backward failed ({str(e).splitlines()[0]}); "
                              f"timing forward+backward minus forward", file=sys.stderr, flush=True)

                        def fb():
                            with ctx:
                                o = call(qa, ka, va)
                            return torch.autograd.grad(o, (qa, ka, va), do)
                        tot = event_times_us(torch, fb, samples=reps)
                        bmed, blo, bhi = tot[0] - fmed, tot[1] - fmed, tot[2] - fmed
                        how = "fwd+bwd minus fwd"
                        grads = fb()
                    row(name + "-bwd", d, h, causal, bmed, 2.5 * flops)
                    e = [((x.float() - r).norm() / r.norm()).item() for x, r in zip([out.detach()] + list(grads), ref)]
                    print(f"# {tag}: fwd median/min/max us {fmed:.1f}/{flo:.1f}/{fhi:.1f}; bwd ({how}) "
                          f"{bmed:.1f}/{blo:.1f}/{bhi:.1f}; rel diff to flash O/dQ/dK/dV "
                          + " ".join(f"{x:.1e}" for x in e), file=sys.stderr, flush=True)
                    del qa, ka, va, out, grads
                except Exception as e:  # report and go on with the next backend
                    msg = str(e).splitlines()[0] if str(e) else ""
                    print(f"# {tag}: FAILED {type(e).__name__}: {msg[:300]}", file=sys.stderr, flush=True)
                torch.cuda.empty_cache()
            del ref
        del q, k, v, do
        torch.cuda.empty_cache()


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "ranges":
        ranges_mode()
    elif mode == "ncu":
        ncu_mode()
    elif mode == "sample":
        sample_mode()
    elif mode == "traffic":
        traffic_mode(sys.argv[2])
    elif mode == "summary":
        summary_mode(sys.argv[2])
    elif mode == "time":
        time_mode()
    elif mode == "speed":
        speed_mode(flex_only=len(sys.argv) > 2 and sys.argv[2] == "flex")
    else:
        sys.exit(__doc__)
