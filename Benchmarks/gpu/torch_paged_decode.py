"""PyTorch FlexAttention decode over a paged KV cache vs a contiguous one (issue 16 item 7).
Run by Benchmarks/gpu/measure_torch_paged_decode.sh.

Shape: B = 8, H = 32 query heads, Hkv = 8 (GQA, enable_gqa=True), Nq = 1, Nk in {4096, 32768},
d = 128, fp16, no mask (every key is live). One compiled flex_attention
(torch.compile(flex_attention, dynamic=False)) for every layout:

  contiguous                 K, V [B, Hkv, Nk, d]; block mask create_block_mask(noop_mask, B, 1, 1, Nk,
                             BLOCK_SIZE=128) (all blocks "full": the mask_mod is never evaluated)
  contiguous-nomask          the same K, V with block_mask=None
  paged                      torch.nn.attention.experimental._paged_attention.PagedAttention, page 128,
                             n_pages = B*Nk/128, every sequence reserved to Nk in batch order (the module's
                             own allocation), K/V written with assign(); K/V caches [1, Hkv, n_pages*128, d];
                             the module's recipe: convert_logical_block_mask(logical mask) and
                             get_score_mod(None) (its score_mod maps physical to logical kv index per score)
  paged-shuffled             the same with the free-page list shuffled first (a random physical order)
  paged-shuffled-noscoremod  the converted block mask alone (no score_mod: the same output, since nothing
                             is masked)
  paged-shuffled-split32     the recipe with kernel_options SPLIT_KV = 4*B (= 32), so that the split-KV
                             ranges, cut from the cache's physical length n_pages*128, are Nk/4 long again
  paged-shuffled-nofull      the recipe with the converted mask rebuilt without its full-block tensors
                             (BlockMask.from_kv_blocks(kv_num_blocks, kv_indices, None, None, mask_mod=the
                             converted mask_mod)): the flex decode kernel then cuts its split-KV ranges from
                             kv_num_blocks*128 instead of the cache's physical length (HAS_FULL_BLOCKS=False)

With Nq = 1 < 128 no 128x128 block is "full" (rows 1..127 of the query block do not exist), so
create_block_mask lists every live block as partial (kv_num_blocks = Nk/128, full_kv_num_blocks = 0):
the mask_mod (noop, or the paged one with its physical->logical gathers) runs on every score, and the
full-block tensors, though all zero, still set HAS_FULL_BLOCKS.

Modes:
    [PD_B=b] [PD_PROFILE_CALLS=n] python3 torch_paged_decode.py time [LAYOUT:NK,...]
        CSV rows for Reports/gpu/paged_decode_times.csv on stdout; on stderr per variant the kernels of one
        call (torch.profiler; with PD_PROFILE_CALLS=n each kernel's median time over n calls; PD_B=b runs
        batch b instead of 8), the error against an fp32 reference (batches 0 and B-1), the largest
        difference to the contiguous output, graph-replay and eager median/min/max us
    python3 torch_paged_decode.py ncu [LAYOUT:NK,...]
        workload for Nsight Compute: per variant one warm-up call, then one call inside the NVTX range
        range_name(layout, nk) (ncu --nvtx --nvtx-include '<name>/')
    python3 torch_paged_decode.py ranges [LAYOUT:NK,...]
        the --nvtx-include arguments
    python3 torch_paged_decode.py summary RAW.csv
        per launch from ncu's raw page: variant, kernel, grid, block, registers, time, bytes, instructions,
        occupancy, SM active cycles (min/avg/max), the largest stall reasons
    python3 torch_paged_decode.py source SOURCE.csv [NAMES]
        from ncu's source page (--page source --csv --print-source sass of a --set full report), per kernel
        in report order (NAMES: comma-separated labels for them): stall samples by reason, the share of
        long-scoreboard samples on the STS that store loaded K/V tiles to shared memory (waiting for tile
        data), the opcodes of one loop iteration (instructions executed LOOP_EXECS times), the loop's
        non-tile global loads (block-table lookups, score_mod/mask_mod gathers) and their samples

time_us: median over SAMPLES samples of (CUDA events around REPS back-to-back calls replayed from one
CUDA graph) / REPS, after warm-up (eager calls if capture fails). Where K and V are smaller than 4x the
50 MB L2 the calls rotate over several K/V copies (paged: several caches under one page table)."""
import csv
import inspect
import os
import statistics
import sys

B, H, HKV, NQ, D, PAGE = int(os.environ.get("PD_B", "8")), 32, 8, 1, 128, 128  # PD_B: another batch
SAMPLES = 50
VARIANTS = [("contiguous", 4096), ("contiguous-nomask", 4096), ("paged", 4096), ("paged-shuffled", 4096),
            ("paged-shuffled-noscoremod", 4096), ("paged-shuffled-split32", 4096),
            ("paged-shuffled-nofull", 4096),
            ("contiguous", 32768), ("paged-shuffled", 32768), ("paged-shuffled-split32", 32768),
            ("paged-shuffled-nofull", 32768)]
METRICS = ("l1tex__m_xbar2l1tex_read_bytes.sum", "l1tex__m_l1tex2xbar_write_bytes.sum",
           "dram__bytes_read.sum", "dram__bytes_write.sum", "gpu__time_duration.sum")


def range_name(layout, nk):
    return f"pd_{layout.replace('-', '_')}_Nk{nk}"


def selected(arg):
    if not arg:
        return VARIANTS
    out = []
    for item in arg.split(","):
        layout, nk = item.split(":")
        out.append((layout, int(nk)))
    return out


def kv_bytes(nk):
    return 2 * B * HKV * nk * D * 2


def setup(torch):
    import torch._dynamo
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                 "accumulated_cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 256)


def block_counts(mask):
    """(partial blocks, full blocks) summed over the batch."""
    full = mask.full_kv_num_blocks
    return int(mask.kv_num_blocks.sum()), None if full is None else int(full.sum())


def build(torch, layout, nk, copies):
    """q, the K/V pairs attention reads (copies of them), block mask, score_mod, kernel_options, and
    the logical K/V of copy 0 (for the reference)."""
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask, noop_mask
    torch.manual_seed(nk)  # every layout at one Nk sees the same q, K, V
    q = torch.randn(B, H, NQ, D, device="cuda", dtype=torch.float16)
    kvs = [(torch.randn(B, HKV, nk, D, device="cuda", dtype=torch.float16),
            torch.randn(B, HKV, nk, D, device="cuda", dtype=torch.float16)) for _ in range(copies)]
    logical = create_block_mask(noop_mask, B, 1, NQ, nk, device="cuda", BLOCK_SIZE=PAGE)
    info = {}
    if layout.startswith("contiguous"):
        mask = None if layout == "contiguous-nomask" else logical
        info["blocks"] = None if mask is None else block_counts(mask)
        return q, kvs, mask, None, None, kvs[0], info
    from torch.nn.attention.experimental._paged_attention import PagedAttention
    n_pages = B * nk // PAGE
    pa = PagedAttention(n_pages, PAGE, B, device="cuda")
    if "shuffled" in layout:
        g = torch.Generator().manual_seed(1)
        pa.empty_pages = torch.randperm(n_pages, generator=g).tolist()
    lens = torch.full((B,), nk, device="cuda", dtype=torch.int64)
    for b in range(B):
        pa.reserve(torch.tensor(b), lens[b])
    batch_idx = torch.arange(B, device="cuda", dtype=torch.int32)
    input_pos = torch.arange(nk, device="cuda", dtype=torch.int32).unsqueeze(0).expand(B, nk)
    caches = []
    for k, v in kvs:
        kc = torch.zeros(1, HKV, n_pages * PAGE, D, device="cuda", dtype=torch.float16)
        vc = torch.zeros_like(kc)
        pa.assign(batch_idx, input_pos, k, v, kc, vc)
        caches.append((kc, vc))
    logical_kv = kvs[0]
    del kvs

    def kw(fn):  # newer releases take kv_len=
        return {"kv_len": lens} if "kv_len" in inspect.signature(fn).parameters else {}
    mask = pa.convert_logical_block_mask(logical, **kw(pa.convert_logical_block_mask))
    score_mod = None if "noscoremod" in layout else pa.get_score_mod(None, **kw(pa.get_score_mod))
    if "nofull" in layout:
        mask = BlockMask.from_kv_blocks(mask.kv_num_blocks, mask.kv_indices, None, None,
                                        BLOCK_SIZE=mask.BLOCK_SIZE, mask_mod=mask.mask_mod,
                                        seq_lengths=mask.seq_lengths)
    opts = {"SPLIT_KV": 4 * n_pages * PAGE // nk} if "split" in layout else None
    pt = pa.page_table[:, : nk // PAGE]
    info.update(n_pages=n_pages, page_table_head=pt[0, :8].tolist(), page_table_tail=pt[B - 1, -4:].tolist(),
                kv_indices_shape=tuple(mask.kv_indices.shape),
                blocks=block_counts(mask),
                seq_lengths=mask.seq_lengths, opts=opts)
    return q, caches, mask, score_mod, opts, logical_kv, info


def attend(flex, q, k, v, mask, score_mod, opts):
    return flex(q, k, v, score_mod=score_mod, block_mask=mask, enable_gqa=True, kernel_options=opts)


def reference_error(torch, out, q, k, v):
    """max over batches 0 and B-1 of ‖out − ref‖ / ‖ref‖, reference in fp32 (K/V heads repeated)."""
    errs = []
    for b in (0, B - 1):
        qf = q[b].float()
        kf = k[b].float().repeat_interleave(H // HKV, 0)
        vf = v[b].float().repeat_interleave(H // HKV, 0)
        ref = torch.softmax(qf @ kf.transpose(-1, -2) / D ** 0.5, dim=-1) @ vf
        errs.append(((out[b].float() - ref).norm() / ref.norm()).item())
    return max(errs)


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


def kernels_of_one_call(torch, fn, calls=1):
    """The CUDA kernels of one call; with calls > 1 each kernel's median device time (us) over them."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    events = [e for e in prof.events() if str(e.device_type).endswith("CUDA")]
    if calls == 1:
        return [e.name for e in events]
    times = {}
    for e in events:
        times.setdefault(e.name, []).append(getattr(e, "device_time", None) or getattr(e, "cuda_time", 0))
    return [f"{name} {statistics.median(t):.2f}us" for name, t in times.items()]


def time_mode(arg):
    import torch
    from torch.nn.attention.flex_attention import flex_attention
    import torch.nn.attention.experimental._paged_attention as pm
    setup(torch)
    gpu = torch.cuda.get_device_name().replace(",", " ")
    props = torch.cuda.get_device_properties(0)
    print("torch", torch.__version__, gpu, f"SMs={props.multi_processor_count}",
          f"L2={getattr(props, 'L2_cache_size', 0)}", file=sys.stderr)
    for name in ("convert_logical_block_mask", "get_score_mod", "get_mask_mod", "reserve", "assign"):
        print(f"# PagedAttention.{name}{inspect.signature(getattr(pm.PagedAttention, name))}", file=sys.stderr)
    print(f"# flex_attention{inspect.signature(flex_attention)}", file=sys.stderr, flush=True)
    flex = torch.compile(flex_attention, dynamic=False)
    print("kernel,layout,page,batch,heads,kv_heads,Nq,Nk,d,dtype,time_us,gpu", flush=True)
    contiguous_out = {}
    for layout, nk in selected(arg):
        tag = f"{layout} Nk={nk}"
        nbytes = kv_bytes(nk)
        copies = max(1, -(-4 * 50_000_000 // nbytes))
        reps = max(copies, copies * round(1e-3 * 3e12 / nbytes / copies))
        q, kvs, mask, score_mod, opts, logical_kv, info = build(torch, layout, nk, copies)
        print(f"# {tag}: {info} copies={copies} reps={reps}", file=sys.stderr, flush=True)
        try:
            out = attend(flex, q, *kvs[0], mask, score_mod, opts)
            torch.cuda.synchronize()
        except Exception as e:  # report and go on with the next variant
            print(f"# {tag}: FAILED {type(e).__name__}: {str(e).splitlines()[0][:300]}", file=sys.stderr, flush=True)
            del q, kvs, mask, score_mod, logical_kv
            torch.cuda.empty_cache()
            continue
        err = reference_error(torch, out, q, *logical_kv)
        if layout == "contiguous":
            contiguous_out[nk] = out.clone()
        diff = ((out.float() - contiguous_out[nk].float()).abs().max().item()
                if nk in contiguous_out else float("nan"))
        print(f"# {tag}: rel_err={err:.2e} max|out-contiguous|={diff:.3e}", file=sys.stderr, flush=True)

        def eager():
            for i in range(reps):
                attend(flex, q, *kvs[i % copies], mask, score_mod, opts)
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
        except Exception as e:
            print(f"# {tag}: graph capture failed: {str(e).splitlines()[0][:300]}", file=sys.stderr)
        try:
            names = kernels_of_one_call(torch, lambda: attend(flex, q, *kvs[0], mask, score_mod, opts),
                                        calls=int(os.environ.get("PD_PROFILE_CALLS", "1")))
        except Exception as e:  # the profiler is a cross-check only
            names = [f"(profiler failed: {e})"]
        print(f"# {tag}: kernels per call ({len(names)}): " + " | ".join(names), file=sys.stderr)
        us = graph_us[0] if graph_us else eager_us[0]
        print(f"# {tag}: graph median/min/max us = {graph_us and ' / '.join(f'{t:.2f}' for t in graph_us)}; "
              f"eager = {' / '.join(f'{t:.2f}' for t in eager_us)}; K/V GB/s = {nbytes / us / 1e3:.0f}",
              file=sys.stderr, flush=True)
        page = 0 if layout.startswith("contiguous") else PAGE
        print(f"torch-flex,{layout},{page},{B},{H},{HKV},{NQ},{nk},{D},fp16,{us:.3f},{gpu}", flush=True)
        del q, kvs, mask, score_mod, logical_kv, out
        torch.cuda.empty_cache()


def ncu_mode(arg):
    import torch
    from torch.nn.attention.flex_attention import flex_attention
    setup(torch)
    flex = torch.compile(flex_attention, dynamic=False)
    for layout, nk in selected(arg):
        q, kvs, mask, score_mod, opts, logical_kv, _ = build(torch, layout, nk, 1)
        try:
            attend(flex, q, *kvs[0], mask, score_mod, opts)  # compile / warm-up, outside the range
            torch.cuda.synchronize()
        except Exception as e:
            print(f"# {layout} Nk={nk}: FAILED {type(e).__name__}: {str(e).splitlines()[0][:300]}", file=sys.stderr)
            continue
        torch.cuda.nvtx.range_push(range_name(layout, nk))
        attend(flex, q, *kvs[0], mask, score_mod, opts)
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_pop()
        print(f"# profiled {range_name(layout, nk)}", file=sys.stderr, flush=True)
        del q, kvs, mask, score_mod, logical_kv
        torch.cuda.empty_cache()


def ncu_rows(path):
    """(header, rows) of an ncu --csv --page raw file (header row, units row, one row per launch)."""
    lines = [l for l in open(path) if l.startswith('"')]
    table = list(csv.reader(lines))
    header = table[0]
    return header, [dict(zip(header, r)) for r in table[2:]]


def num(r, key):
    v = r.get(key, "")
    try:
        return float(v.replace(",", ""))
    except ValueError:
        return float("nan")


def summary_mode(path):
    header, rows = ncu_rows(path)
    nvtx_col = next((h for h in header if "Push/Pop_Range" in h), None)
    stall_cols = [h for h in header if h.startswith("smsp__average_warps_issue_stalled_")
                  and h.endswith("_per_issue_active.ratio")]
    for r in rows:
        label = r.get(nvtx_col, "") if nvtx_col else ""
        rng = next((p for p in label.replace("/", ":").split(":") if p.startswith("pd_")), label)
        name = r["Kernel Name"].split("(")[0].replace("void ", "")[:40]
        grid = "x".join(r.get(f"launch__grid_dim_{a}", "?").replace(",", "") for a in "xyz")
        print(f"{rng:34s} {name:40s} grid {grid:9s} block {r.get('launch__block_size', '?'):>4s} "
              f"regs {r.get('launch__registers_per_thread', '?'):>4s} "
              f"t {num(r, 'gpu__time_duration.sum') / 1e3:8.1f} us  "
              f"L2->SM {num(r, METRICS[0]):14,.0f}  SM->L2 {num(r, METRICS[1]):12,.0f}  "
              f"DRAM r {num(r, METRICS[2]):14,.0f} w {num(r, METRICS[3]):12,.0f}")
        extra = [("inst", "sm__inst_executed.sum"), ("occ%", "sm__warps_active.avg.pct_of_peak_sustained_active"),
                 ("smact min", "sm__cycles_active.min"), ("avg", "sm__cycles_active.avg"),
                 ("max", "sm__cycles_active.max"), ("elapsed", "sm__cycles_elapsed.max"),
                 ("ld req", "l1tex__t_requests_pipe_lsu_mem_global_op_ld.sum"),
                 ("ld sect", "l1tex__t_sectors_pipe_lsu_mem_global_op_ld.sum"),
                 ("waves", "launch__waves_per_multiprocessor"),
                 ("warp lat/inst", "smsp__average_warp_latency_per_inst_issued.ratio"),
                 ("issue active%", "smsp__issue_active.avg.pct_of_peak_sustained_active")]
        print("    " + "  ".join(f"{k} {num(r, m):,.2f}" for k, m in extra if m in r))
        stalls = sorted(((num(r, h), h[len("smsp__average_warps_issue_stalled_"):-len("_per_issue_active.ratio")])
                         for h in stall_cols), reverse=True)[:6]
        if stalls:
            print("    stalls (warps per issue): " + ", ".join(f"{n} {v:.2f}" for v, n in stalls))


LOOP_EXECS = 8192  # warp-level executions of a loop instruction: 128 warps x 64 or 512 warps x 16 iterations


def source_mode(path, names=""):
    from collections import Counter
    blocks, cur = [], None
    for r in csv.reader(open(path)):
        if r and r[0] == "Kernel Name":
            cur = {"name": r[1], "rows": []}
            blocks.append(cur)
        elif r and r[0] == "Address" and cur is not None:
            cur["hdr"] = r
        elif cur is not None and r:
            cur["rows"].append(r)
    labels = names.split(",") if names else [b["name"] for b in blocks]
    for label, b in zip(labels, blocks):
        h, rows = b["hdr"], b["rows"]

        def f(r, c):
            try:
                return float(r[h.index(c)] or 0)
            except ValueError:
                return 0.0
        reasons = [c for c in h if c.startswith("stall_") and "Not Issued" not in c]
        tot = {c: sum(f(r, c) for r in rows) for c in reasons}
        samples = sum(f(r, "Warp Stall Sampling (All Samples)") for r in rows)
        executed = sum(f(r, "Instructions Executed") for r in rows)
        sts = sum(f(r, "stall_long_sb") for r in rows if r[1].strip().startswith("STS"))
        print(f"== {label}: {len(rows)} SASS instructions, {executed:,.0f} executed (warp-level), {samples:.0f} samples")
        print("   samples by reason: " + ", ".join(f"{c[6:]} {v / samples:.1%}"
                                                   for c, v in sorted(tot.items(), key=lambda x: -x[1])[:8]))
        print(f"   long_scoreboard at the STS of loaded K/V tiles: {sts / samples:.1%}; "
              f"other long_scoreboard: {(tot['stall_long_sb'] - sts) / samples:.1%}")
        ops = Counter()
        for r in rows:
            if f(r, "Instructions Executed") == LOOP_EXECS:
                w = r[1].strip().split()
                ops[(w[1] if w[0].startswith("@") else w[0]).split(".")[0]] += 1
        print(f"   one loop iteration: {sum(ops.values())} instructions per warp: "
              + ", ".join(f"{o} {n}" for o, n in ops.most_common(16)))
        for r in rows:
            if "LDG" in r[1] and ".128" not in r[1] and f(r, "Instructions Executed") == LOOP_EXECS:
                print(f"   loop lookup load {r[1].strip()}: {f(r, 'Warp Stall Sampling (All Samples)'):.0f} samples")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "time"
    arg = sys.argv[2] if len(sys.argv) > 2 else ""
    if mode == "time":
        time_mode(arg)
    elif mode == "ncu":
        ncu_mode(arg)
    elif mode == "ranges":
        print(" ".join(f"--nvtx-include {range_name(*v)}/" for v in selected(arg)))
    elif mode == "summary":
        summary_mode(arg)
    elif mode == "source":
        source_mode(arg, sys.argv[3] if len(sys.argv) > 3 else "")
    else:
        sys.exit(__doc__)
