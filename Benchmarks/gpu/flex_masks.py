"""Attention under arbitrary masks on the GPU (issue 27): PyTorch's compiled FlexAttention forward and
FlashAttention-2's varlen forward (torch.ops.aten._flash_attention_forward). Run by
Benchmarks/gpu/flex_masks.sh, which says what each mode's output becomes.

    python3 flex_masks.py prepare DIR [large|small|all]
                                        (GPU) compile every case, check it against a reference, time it
                                        (triton do_bench, median; FM_BENCH=0: not), save the block masks
                                        (DIR/blocks), the small-case recordings (DIR/rec), the forward
                                        kernels' tile configs read off inductor's generated code
                                        (DIR/configs.json, DIR/code) and DIR/speed.csv; FM_PROFILE=1: per
                                        large case one more call inside the NVTX range fm_<case> / vl_<case>
                                        (what flex_masks.sh runs under ncu)
    python3 flex_masks.py ncu           (GPU, under ncu) per case one warm-up call outside any range, then
                                        one call inside the NVTX push/pop range fm_<case> or vl_<case>
                                        (a re-profile without the checks; the driver uses prepare large)
    python3 flex_masks.py ranges        the ncu arguments --nvtx-include <range>/ for every case
    python3 flex_masks.py split RAW FLEX VARLEN
                                        split ncu's raw page into the flex and the varlen launches
    python3 flex_masks.py tidy RAW... CONFIGS
                                        Reports/gpu/flex_masks_traffic.csv (one row per launch)
    python3 flex_masks.py model TIDY BLOCKS_DIR
                                        the hand model of L2->SM reads and writes beside the measurements
    python3 flex_masks.py predict [BLOCKS_DIR]
                                        (CPU, torch needed) the hand model before any measurement, from the
                                        block masks built on the CPU (Reports/gpu/flex_masks_predicted.csv)

Large cases: fp16, batch 1, N = 8192, d = 128, 8 query heads (GQA: 16 query, 2 K/V heads), BlockMask from
create_block_mask (BLOCK_SIZE 128), flex = torch.compile(flex_attention, dynamic=False), calls under
torch.no_grad() unless the case says grad (then the kernel writes the LSE: OUTPUT_LOGSUMEXP =
torch.is_grad_enabled() when no LSE is asked for). Small cases: N = 1024, 2 heads, d = 64, one q/k/v
(seed 1) for all, LSE asked for (return_aux=AuxRequest(lse=True)), saved as .npy."""
import csv
import glob
import json
import math
import os
import re
import statistics
import sys
import time

N, H, D, BS = 8192, 8, 128, 128
GQA_HQ, GQA_HKV = 16, 2
DOCS4 = [3000, 1500, 2048, 1644]
DOCS5 = [2900, 800, 1700, 1100, 1692]
PREFIX = 1000
SINKS, WINDOW = 4, 1024
PERHEAD_WINDOWS = [256 * (h + 1) for h in range(H)]
SPARSE_SEED = 27
SPARSE_P = (0.8, 0.1, 0.1)        # empty, partial, full
SPARSE_EMPTY_ROWS = (5, 40)       # query-block rows forced empty (no K/V block at all)
LIVE_ROWS = 1024                  # empty_rows: only query rows < LIVE_ROWS see keys (causal); 56 of 64 block rows empty
SEED = 0

SMALL_N, SMALL_H, SMALL_D = 1024, 2, 64
SMALL_DOCS = [300, 200, 256, 268]
SMALL_PREFIX = 100
SMALL_SINKS, SMALL_WINDOW = 4, 128
SMALL_PERHEAD_WINDOWS = [64 * (h + 1) for h in range(SMALL_H)]
SMALL_SPARSE_EMPTY_ROWS = (3,)
SMALL_SEED = 1

BYTE_METRICS = ("l1tex__m_xbar2l1tex_read_bytes.sum", "l1tex__m_l1tex2xbar_write_bytes.sum",
                "dram__bytes_read.sum", "dram__bytes_write.sum")
TIME_METRIC = "gpu__time_duration.sum"

# name -> (mask kind, heads, kv_heads, grad mode, lse asked)
FLEX_CASES = {  # in the order run (most wanted first, in case a deadline cuts the run short)
    "causal": ("causal", H, H, False, False),
    "doc4_causal": ("doc4_causal", H, H, False, False),
    "doc4": ("doc4", H, H, False, False),
    "prefix": ("prefix", H, H, False, False),
    "sinks_window": ("sinks_window", H, H, False, False),
    "blocksparse": ("blocksparse", H, H, False, False),
    "perhead": ("perhead", H, H, False, False),
    "empty_rows": ("empty_rows", H, H, False, False),
    "none": ("none", H, H, False, False),
    "causal_lse": ("causal", H, H, False, True),
    "causal_grad": ("causal", H, H, True, False),
    "gqa_causal": ("causal", GQA_HQ, GQA_HKV, False, False),
    "doc5_causal": ("doc5_causal", H, H, False, False),
    "doc5": ("doc5", H, H, False, False),
}
VARLEN_CASES = {f"{name}_c{int(c)}": (docs, c) for name, docs in (("doc4", DOCS4), ("doc5", DOCS5))
                for c in (False, True)}
SMALL_FLEX = ["none", "causal", "doc", "doc_causal", "prefix", "sinks_window", "blocksparse", "perhead"]


def fm_range(case):
    return f"fm_{case}"


def vl_range(case):
    return f"vl_{case}"


# ---------------------------------------------------------------- masks

def sparse_table(n_blocks, seed, empty_rows):
    """[n_blocks, n_blocks] int8: 0 empty, 1 partial, 2 full; numpy RNG, fixed seed."""
    import numpy as np
    rng = np.random.default_rng(seed)
    t = rng.choice(3, size=(n_blocks, n_blocks), p=SPARSE_P).astype(np.int8)
    for r in empty_rows:
        t[r, :] = 0
    return t


def mask_params(kind, small=False):
    """The exact parameters of a mask, for the JSON beside the recordings."""
    n = SMALL_N if small else N
    docs4 = SMALL_DOCS if small else DOCS4
    p = {"kind": kind, "N": n, "block_size": BS}
    if kind in ("doc", "doc_causal", "doc4", "doc4_causal"):
        p.update(documents=docs4, causal=kind.endswith("causal"),
                 rule="visible iff doc[r] == doc[c]" + (" and c <= r" if kind.endswith("causal") else ""))
    elif kind in ("doc5", "doc5_causal"):
        p.update(documents=DOCS5, causal=kind.endswith("causal"),
                 rule="visible iff doc[r] == doc[c]" + (" and c <= r" if kind.endswith("causal") else ""))
    elif kind == "prefix":
        p.update(prefix=SMALL_PREFIX if small else PREFIX, rule="visible iff c <= r or c < prefix")
    elif kind == "sinks_window":
        p.update(sinks=SMALL_SINKS if small else SINKS, window=SMALL_WINDOW if small else WINDOW,
                 rule="visible iff c <= r and (r - c < window or c < sinks)")
    elif kind == "blocksparse":
        p.update(seed=SPARSE_SEED, p_empty_partial_full=list(SPARSE_P),
                 empty_rows=list(SMALL_SPARSE_EMPTY_ROWS if small else SPARSE_EMPTY_ROWS),
                 rule="t = table[r // 128][c // 128]; visible iff t == 2 or (t == 1 and r % 128 >= c % 128)",
                 table="numpy.random.default_rng(seed).choice(3, size=(N/128, N/128), p=p).astype(int8), "
                       "then the empty rows zeroed")
    elif kind == "perhead":
        p.update(windows=SMALL_PERHEAD_WINDOWS if small else PERHEAD_WINDOWS,
                 rule="visible iff c <= r and r - c < windows[h]")
    elif kind == "causal":
        p.update(rule="visible iff c <= r")
    elif kind == "empty_rows":
        p.update(live_rows=LIVE_ROWS, rule="visible iff c <= r and r < live_rows")
    elif kind == "none":
        p.update(rule="every key visible (block_mask=None)")
    return p


def make_mask_mod(torch, kind, dev, small=False):
    """(mask_mod or None, heads for create_block_mask or None, extra tensors to keep alive)."""
    n = SMALL_N if small else N
    if kind == "none":
        return None, None, {}
    if kind == "causal":
        return (lambda b, h, q, k: q >= k), None, {}
    if kind == "empty_rows":
        return (lambda b, h, q, k: (q >= k) & (q < LIVE_ROWS)), None, {}
    if kind in ("doc", "doc_causal", "doc4", "doc4_causal", "doc5", "doc5_causal"):
        docs = (SMALL_DOCS if small else DOCS4) if not kind.startswith("doc5") else DOCS5
        assert sum(docs) == n, (docs, n)
        ids = torch.repeat_interleave(torch.arange(len(docs), device=dev, dtype=torch.int32),
                                      torch.tensor(docs, device=dev))
        if kind.endswith("causal"):
            return (lambda b, h, q, k: (ids[q] == ids[k]) & (q >= k)), None, {"doc_ids": ids}
        return (lambda b, h, q, k: ids[q] == ids[k]), None, {"doc_ids": ids}
    if kind == "prefix":
        p = SMALL_PREFIX if small else PREFIX
        return (lambda b, h, q, k: (q >= k) | (k < p)), None, {}
    if kind == "sinks_window":
        s, w = (SMALL_SINKS, SMALL_WINDOW) if small else (SINKS, WINDOW)
        return (lambda b, h, q, k: (q >= k) & (((q - k) < w) | (k < s))), None, {}
    if kind == "blocksparse":
        t = sparse_table(n // BS, SPARSE_SEED, SMALL_SPARSE_EMPTY_ROWS if small else SPARSE_EMPTY_ROWS)
        tbl = torch.from_numpy(t).to(dev)

        def mm(b, h, q, k):
            v = tbl[q // BS, k // BS]
            return (v == 2) | ((v == 1) & ((q % BS) >= (k % BS)))
        return mm, None, {"table": tbl, "table_np": t}
    if kind == "perhead":
        wins = torch.tensor(SMALL_PERHEAD_WINDOWS if small else PERHEAD_WINDOWS, device=dev, dtype=torch.int32)
        return (lambda b, h, q, k: (q >= k) & ((q - k) < wins[h])), (SMALL_H if small else H), {"windows": wins}
    raise ValueError(kind)


def dense_mask(torch, mm, h, rows, n, dev):
    """mask_mod evaluated on rows x [0, n) for head h (bool [len(rows), n])."""
    if mm is None:
        return torch.ones(len(rows), n, dtype=torch.bool, device=dev)
    q = rows[:, None]
    k = torch.arange(n, device=dev)[None, :]
    return mm(torch.tensor(0, device=dev), torch.tensor(h, device=dev), q, k).expand(len(rows), n)


def block_arrays(bm):
    """numpy arrays of a BlockMask: kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices
    (batch dimension dropped) and the block table [heads, nq, nk] int8 (0 empty, 1 partial, 2 full)."""
    import numpy as np
    a = {"kv_num_blocks": bm.kv_num_blocks[0].cpu().numpy().astype(np.int32),
         "kv_indices": bm.kv_indices[0].cpu().numpy().astype(np.int16)}
    if bm.full_kv_num_blocks is not None:
        a["full_kv_num_blocks"] = bm.full_kv_num_blocks[0].cpu().numpy().astype(np.int32)
        a["full_kv_indices"] = bm.full_kv_indices[0].cpu().numpy().astype(np.int16)
    a["block_table"] = table_from_arrays(a)
    return a


def table_from_arrays(a):
    import numpy as np
    hh, nq, nk = a["kv_indices"].shape
    t = np.zeros((hh, nq, nk), dtype=np.int8)
    for num, idx, val in (("kv_num_blocks", "kv_indices", 1), ("full_kv_num_blocks", "full_kv_indices", 2)):
        if num not in a:
            continue
        valid = np.arange(nk)[None, None, :] < a[num][..., None]
        h_, r_, j_ = np.nonzero(valid)
        t[h_, r_, a[idx][h_, r_, j_].astype(np.int64)] = val
    return t


def summarize_table(t):
    part = (t == 1).sum(-1)
    full = (t == 2).sum(-1)
    ne = part + full
    return (f"heads {t.shape[0]}, rows {t.shape[1]}, partial {int(part.sum())}, full {int(full.sum())}, "
            f"non-empty per row min/mean/max {int(ne.min())}/{ne.mean():.2f}/{int(ne.max())}, "
            f"empty rows {int((ne == 0).sum())}, density {ne.sum() / t.size:.4f}")


# ---------------------------------------------------------------- calling

def setup(torch):
    import torch._dynamo
    for name in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 256)
    for name in ("accumulated_cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 4096)


def call_flex(torch, flex, q, k, v, bm, gqa, grad, lse):
    """(out, lse or None); lse in the natural-log base that flex_attention returns."""
    from torch.nn.attention.flex_attention import AuxRequest
    kw = {"block_mask": bm, "enable_gqa": gqa}
    with torch.set_grad_enabled(grad):
        if lse:
            out, aux = flex(q, k, v, return_aux=AuxRequest(lse=True), **kw)
            return out, aux.lse
        return flex(q, k, v, **kw), None


def call_varlen(torch, q, k, v, cu, maxlen, causal):
    """q, k, v packed [total, heads, d]; returns (out, lse)."""
    r = torch.ops.aten._flash_attention_forward(q, k, v, cu, cu, maxlen, maxlen, 0.0, causal, False, scale=None)
    return r[0], r[1]


def flex_inputs(torch, hq, hkv, n, d, dev, seed):
    g = torch.Generator(device=dev).manual_seed(seed)
    q = torch.randn(1, hq, n, d, device=dev, dtype=torch.float16, generator=g)
    k = torch.randn(1, hkv, n, d, device=dev, dtype=torch.float16, generator=g)
    v = torch.randn(1, hkv, n, d, device=dev, dtype=torch.float16, generator=g)
    return q, k, v


def packed(t):
    """[1, H, N, d] -> [N, H, d] contiguous."""
    return t[0].transpose(0, 1).contiguous()


def cu_seqlens(torch, docs, dev):
    c = [0]
    for L in docs:
        c.append(c[-1] + L)
    return torch.tensor(c, device=dev, dtype=torch.int32)


def build_flex_case(torch, name, dev):
    kind, hq, hkv, grad, lse = FLEX_CASES[name]
    mm, bmh, extra = make_mask_mod(torch, kind, dev)
    from torch.nn.attention.flex_attention import create_block_mask
    bm = None if mm is None else create_block_mask(mm, None, bmh, N, N, device=dev, BLOCK_SIZE=BS)
    q, k, v = flex_inputs(torch, hq, hkv, N, D, dev, SEED)
    return kind, hq, hkv, grad, lse, mm, bm, extra, (q, k, v)


# ---------------------------------------------------------------- inductor's generated code

CODE_KEYS = ("BLOCK_M", "BLOCK_N", "num_warps", "num_stages", "SPARSE_Q_BLOCK_SIZE", "SPARSE_KV_BLOCK_SIZE",
             "QK_HEAD_DIM", "V_HEAD_DIM", "OUTPUT_LOGSUMEXP", "OUTPUT_MAX", "USE_TMA", "IS_DIVISIBLE",
             "GQA_SHARED_HEADS", "HAS_FULL_BLOCKS", "PRESCALE_QK", "ROWS_GUARANTEED_SAFE",
             "BLOCKS_ARE_CONTIGUOUS", "FLOAT32_PRECISION")


def code_snapshot(root):
    return {p: os.path.getmtime(p) for p in glob.glob(os.path.join(root, "**", "*.py"), recursive=True)}


def parse_kernels(text):
    """Each flex template kernel in a generated file: {name, constexprs, num_warps, num_stages}."""
    found = []
    for m in re.finditer(r"def (triton_tem_\w+)\(", text):
        start = m.start()
        head = text[max(0, start - 30000):start]
        dec = head.rfind("template(")  # the @triton_heuristics.template(num_stages=..., num_warps=..., ...) decorator
        head = head[dec:] if dec >= 0 else head[-3000:]
        body = text[start:start + 6000]
        info = {"kernel": m.group(1)}
        for key in ("num_warps", "num_stages"):
            mm = list(re.finditer(rf"['\"]?{key}['\"]?\s*[=:]\s*(\d+)", head))
            if mm:
                info[key] = int(mm[0].group(1))
        for cm in re.finditer(r"^\s*(\w+)\s*:\s*tl\.constexpr\s*=\s*([^\n#]+)", body, re.M):
            if cm.group(1) in CODE_KEYS:
                info[cm.group(1)] = cm.group(2).strip()
        found.append(info)
    return found


def new_kernel_configs(root, before, code_dir, tag):
    out, seen = [], set()
    for p in sorted(code_snapshot(root)):
        if p in before:
            continue
        try:
            text = open(p).read()
        except OSError:
            continue
        if "triton_tem" not in text or "flex" not in text:
            continue
        for info in parse_kernels(text):
            key = json.dumps(info, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            out.append(info)
        if code_dir:
            os.makedirs(code_dir, exist_ok=True)
            with open(os.path.join(code_dir, f"{tag}__{os.path.basename(p)}"), "w") as f:
                f.write(text)
    return out


# ---------------------------------------------------------------- prepare (GPU)

def rel_err(a, b):
    return ((a.double() - b.double()).norm() / max(b.double().norm().item(), 1e-30)).item()


def reference(torch, q, k, v, mm, heads_rows, n, dev, gqa_ratio=1):
    """fp64 reference for (head, rows) pairs: dict h -> (o [rows, d], lse natural log [rows])."""
    res = {}
    scale = 1.0 / math.sqrt(q.shape[-1])
    for h, rows in heads_rows:
        kh = h // gqa_ratio
        s = (q[0, h, rows].double() @ k[0, kh].double().T) * scale
        m = dense_mask(torch, mm, h, rows, n, dev)
        s = s.masked_fill(~m, float("-inf"))
        lse = torch.logsumexp(s, dim=-1)
        p = torch.exp(s - lse[:, None])
        p = torch.nan_to_num(p, nan=0.0)
        o = p @ v[0, kh].double()
        res[h] = (o, lse)
    return res


def prepare_mode(outdir, part="all"):
    """part: large (the N = 8192 cases: block masks, configs, checks and, with FM_PROFILE=1, one more call per
    case inside its NVTX range for ncu), small (the d = 256 probe and the small recordings), or all.
    FM_BENCH=0 skips the do_bench timing (under ncu it would be perturbed)."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", "/tmp/inductor_cache")
    import numpy as np
    import torch
    import triton
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    setup(torch)
    dev = os.environ.get("FM_DEVICE", "cuda")
    cache = os.environ["TORCHINDUCTOR_CACHE_DIR"]
    blocks_dir, rec_dir, code_dir = (os.path.join(outdir, x) for x in ("blocks", "rec", "code"))
    for x in (blocks_dir, rec_dir, code_dir):
        os.makedirs(x, exist_ok=True)
    print("torch", torch.__version__, "triton", triton.__version__,
          torch.cuda.get_device_name() if dev == "cuda" else dev, flush=True)
    print("flash_attention_forward schema:", torch.ops.aten._flash_attention_forward.default._schema, flush=True)
    if dev == "cuda":
        try:
            from torch._inductor.template_heuristics.triton import CUDAConfigHeuristic
            for d in (64, 128, 256):
                print(f"installed heuristic, fp16 d = {d}:",
                      CUDAConfigHeuristic().get_flex_attn_fwd_configs(d, torch.float16), flush=True)
        except Exception as e:
            print("installed heuristic: not read:", e, flush=True)
    # FM_EAGER=1: uncompiled flex_attention (a CPU test of this script only; never for measurements)
    flex = flex_attention if os.environ.get("FM_EAGER") else torch.compile(flex_attention, dynamic=False)
    configs = {"cases": {}, "probes": {}}
    if os.path.exists(os.path.join(outdir, "configs.json")):  # the other part's, kept
        configs = json.load(open(os.path.join(outdir, "configs.json")))
    speed = [("kernel", "case", "N", "heads", "kv_heads", "d", "dtype", "time_us_median", "note")]
    if os.path.exists(os.path.join(outdir, "speed.csv")):
        speed = [tuple(r) for r in csv.reader(open(os.path.join(outdir, "speed.csv")))]
    meta = {}
    profile = os.environ.get("FM_PROFILE") == "1" and dev == "cuda"
    deadline = time.time() + float(os.environ.get("FM_DEADLINE_S", "1e9"))

    def late(what):  # past the deadline: skip the rest so that the process (and ncu) ends cleanly
        if time.time() > deadline:
            print(f"# {what}: SKIPPED (past FM_DEADLINE_S)", flush=True)
            return True
        return False
    do_bench = os.environ.get("FM_BENCH", "1") == "1"

    def profiled(rng, fn):  # one more call inside the NVTX range that ncu --nvtx-include selects
        if not profile:
            return
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_push(rng)
        fn()
        torch.cuda.synchronize()
        torch.cuda.nvtx.range_pop()
        print(f"# profiled {rng}", flush=True)

    def flush():  # everything so far, so that a run cut short still leaves its files
        with open(os.path.join(outdir, "configs.json"), "w") as f:
            json.dump(configs, f, indent=1)
        with open(os.path.join(outdir, "speed.csv"), "w") as f:
            csv.writer(f, lineterminator="\n").writerows(speed)
        if meta:
            with open(os.path.join(rec_dir, "cases.json"), "w") as f:
                json.dump(meta, f, indent=1)
    write_large_meta(blocks_dir)

    def bench(fn):
        if dev != "cuda" or not do_bench:
            return float("nan")
        return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median") * 1000

    # ---- varlen large cases
    for name, (docs, causal) in (VARLEN_CASES.items() if part in ("large", "all") else ()):
        if late(f"varlen {name}"):
            continue
        try:
            q, k, v = (packed(t) for t in flex_inputs(torch, H, H, N, D, dev, SEED))
            cu = cu_seqlens(torch, docs, dev)
            out, l = call_varlen(torch, q, k, v, cu, max(docs), causal)
            print(f"# varlen {name}: out {tuple(out.shape)}, lse {tuple(l.shape)} {l.dtype}", flush=True)
            kind = "doc4" if name.startswith("doc4") else "doc5"
            mm, _, _ = make_mask_mod(torch, kind + ("_causal" if causal else ""), dev)
            g = torch.Generator().manual_seed(5)
            rows = torch.randperm(N, generator=g)[:96].to(dev)
            q4, k4, v4 = (t.transpose(0, 1)[None] for t in (q, k, v))
            ref = reference(torch, q4, k4, v4, mm, [(0, rows), (H - 1, rows)], N, dev)
            err = max(rel_err(out[rows, h], ref[h][0]) for h in ref)
            print(f"# varlen {name}: rel_err(o) = {err:.2e}", flush=True)
            profiled(vl_range(name), lambda: call_varlen(torch, q, k, v, cu, max(docs), causal))
            t = bench(lambda: call_varlen(torch, q, k, v, cu, max(docs), causal))
            speed.append(("torch-flash-varlen", name, N, H, H, D, "fp16", f"{t:.2f}", f"docs={docs}"))
            print(f"# varlen {name}: {t:.2f} us", flush=True)
        except Exception as e:
            print(f"# varlen {name}: FAILED {type(e).__name__}: {str(e)[:600]}", flush=True)
        flush()

    # ---- large flex cases
    for name in (FLEX_CASES if part in ("large", "all") else ()):
        if late(name):
            continue
        try:
            kind, hq, hkv, grad, lse, mm, bm, extra, (q, k, v) = build_flex_case(torch, name, dev)
            if bm is not None:
                arr = block_arrays(bm)
                for key, a in arr.items():
                    np.save(os.path.join(blocks_dir, f"{name}_{key}.npy"), a)
                print(f"# {name}: block mask {summarize_table(arr['block_table'])}; "
                      f"kv_indices {tuple(bm.kv_indices.shape)}", flush=True)
                if kind == "blocksparse":
                    ok = np.array_equal(arr["block_table"][0], extra["table_np"])
                    print(f"# {name}: block table from create_block_mask == drawn table: {ok}", flush=True)
                    np.save(os.path.join(blocks_dir, f"{name}_drawn_table.npy"), extra["table_np"][None])
            before = code_snapshot(cache)
            out, l = call_flex(torch, flex, q, k, v, bm, hq != hkv, grad, lse)
            torch.cuda.synchronize() if dev == "cuda" else None
            cfg = new_kernel_configs(cache, before, code_dir, name)
            configs["cases"][name] = cfg
            print(f"# {name}: generated kernels {cfg if cfg else '(none new: cache hit or reused graph)'}",
                  flush=True)
            g = torch.Generator().manual_seed(5)
            rows = torch.randperm(N, generator=g)[:96].to(dev)
            ref = reference(torch, q, k, v, mm, [(0, rows), (hq - 1, rows)], N, dev, hq // hkv)
            err = max(rel_err(out[0, h, rows], ref[h][0]) for h in ref)
            msg = f"# {name}: rel_err(o, fp64 ref, 96 rows x heads 0,{hq - 1}) = {err:.2e}"
            if l is not None:
                lerr = max((l[0, h, rows].double() - ref[h][1]).abs().max().item() for h in ref)
                msg += f"; max|lse - ref lse (natural log)| = {lerr:.2e}"
            print(msg, flush=True)
            profiled(fm_range(name), lambda: call_flex(torch, flex, q, k, v, bm, hq != hkv, grad, lse))
            t = bench(lambda: call_flex(torch, flex, q, k, v, bm, hq != hkv, grad, lse))
            speed.append(("torch-flex", name, N, hq, hkv, D, "fp16", f"{t:.2f}",
                          f"grad={grad} lse={lse}"))
            print(f"# {name}: {t:.2f} us (do_bench median, warm L2)", flush=True)
            del q, k, v, out, bm
        except Exception as e:
            print(f"# {name}: FAILED {type(e).__name__}: {str(e)[:600]}", flush=True)
        flush()

    if part == "large":
        flush()
        return

    # ---- tile-config probe at d = 256 (d = 64 comes from the small cases, d = 128 from the large)
    for d in (256,):
        if late(f"probe d={d}"):
            continue
        try:
            q, k, v = flex_inputs(torch, 2, 2, 1024, d, dev, SEED)
            bm = create_block_mask(lambda b, h, qi, ki: qi >= ki, None, None, 1024, 1024, device=dev)
            before = code_snapshot(cache)
            with torch.no_grad():
                flex(q, k, v, block_mask=bm)
            configs["probes"][f"d{d}_N1024_causal"] = new_kernel_configs(cache, before, code_dir, f"probe_d{d}")
            print(f"# probe d={d}: {configs['probes'][f'd{d}_N1024_causal']}", flush=True)
        except Exception as e:
            print(f"# probe d={d}: FAILED {type(e).__name__}: {str(e)[:600]}", flush=True)

    # ---- small recordings
    q, k, v = flex_inputs(torch, SMALL_H, SMALL_H, SMALL_N, SMALL_D, dev, SMALL_SEED)
    for nm, t in (("q", q), ("k", k), ("v", v)):
        np.save(os.path.join(rec_dir, f"{nm}.npy"), t.cpu().numpy())
    meta.update({"layout": "q, k, v, o: [1, heads, N, d] float16 (varlen o: packed [N, heads, d]); lse: float32",
            "N": SMALL_N, "heads": SMALL_H, "d": SMALL_D, "dtype": "float16", "seed": SMALL_SEED,
            "input_rule": "g = torch.Generator(device='cuda').manual_seed(seed); q, k, v = "
                          "torch.randn(1, H, N, d, dtype=float16, generator=g) in that order",
            "scale": 1.0 / math.sqrt(SMALL_D), "block_size": BS, "cases": {},
            "lse_note": "flex_attention returns lse = (kernel's base-2 LSE) * ln 2, i.e. natural log; "
                        "rows that see no key: lse -inf, o 0"})
    for kind in SMALL_FLEX:
        if late(f"small flex {kind}"):
            continue
        try:
            mm, bmh, extra = make_mask_mod(torch, kind, dev, small=True)
            bm = None if mm is None else create_block_mask(mm, None, bmh, SMALL_N, SMALL_N, device=dev,
                                                           BLOCK_SIZE=BS)
            before = code_snapshot(cache)
            out, l = call_flex(torch, flex, q, k, v, bm, False, False, True)
            cfg = new_kernel_configs(cache, before, code_dir, f"small_{kind}")
            configs["cases"][f"small_{kind}"] = cfg
            rows = torch.arange(SMALL_N, device=dev)
            ref = reference(torch, q, k, v, mm, [(h, rows) for h in range(SMALL_H)], SMALL_N, dev)
            err = max(rel_err(out[0, h], ref[h][0]) for h in ref)
            fin = [torch.isfinite(ref[h][1]) for h in ref]
            e_nat = max((l[0, h][f].double() - ref[h][1][f]).abs().max().item() for h, f in zip(ref, fin))
            e_two = max((l[0, h][f].double() - ref[h][1][f] / math.log(2)).abs().max().item()
                        for h, f in zip(ref, fin))
            n_empty = sum(int((~f).sum()) for f in fin)
            lse_empty = sorted({float(x) for h, f in zip(ref, fin) for x in l[0, h][~f].tolist()})
            np.save(os.path.join(rec_dir, f"flex_{kind}_o.npy"), out.cpu().numpy())
            np.save(os.path.join(rec_dir, f"flex_{kind}_lse.npy"), l.float().cpu().numpy())
            p = mask_params(kind, small=True)
            if bm is not None:
                arr = block_arrays(bm)
                np.save(os.path.join(rec_dir, f"flex_{kind}_block_table.npy"), arr["block_table"])
                p["block_table"] = f"flex_{kind}_block_table.npy"
                p["block_summary"] = summarize_table(arr["block_table"])
            if kind == "blocksparse":
                np.save(os.path.join(rec_dir, "flex_blocksparse_drawn_table.npy"), extra["table_np"][None])
                p["drawn_table"] = "flex_blocksparse_drawn_table.npy"
            p.update(o=f"flex_{kind}_o.npy", lse=f"flex_{kind}_lse.npy", rel_err_o_vs_fp64=err,
                     max_abs_lse_err_natural_log=e_nat, max_abs_lse_err_if_base2=e_two,
                     rows_with_no_visible_key=n_empty, lse_of_those_rows=lse_empty,
                     kernel_configs=cfg)
            meta["cases"][f"flex_{kind}"] = p
            print(f"# small flex {kind}: rel_err {err:.2e}, lse err natural {e_nat:.2e} / base-2 {e_two:.2e}, "
                  f"empty rows {n_empty} (their lse {lse_empty[:3]}), kernels {cfg}", flush=True)
        except Exception as e:
            print(f"# small flex {kind}: FAILED {type(e).__name__}: {str(e)[:600]}", flush=True)
        flush()
    for causal in (False, True):
        try:
            qp, kp, vp = packed(q), packed(k), packed(v)
            cu = cu_seqlens(torch, SMALL_DOCS, dev)
            out, l = call_varlen(torch, qp, kp, vp, cu, max(SMALL_DOCS), causal)
            kind = "doc_causal" if causal else "doc"
            mm, _, _ = make_mask_mod(torch, kind, dev, small=True)
            rows = torch.arange(SMALL_N, device=dev)
            ref = reference(torch, q, k, v, mm, [(h, rows) for h in range(SMALL_H)], SMALL_N, dev)
            err = max(rel_err(out[:, h], ref[h][0]) for h in ref)
            lse_note = f"shape {list(l.shape)}"
            e_nat = float("nan")
            if tuple(l.shape) == (SMALL_H, SMALL_N):
                e_nat = max((l[h].double() - ref[h][1]).abs().max().item() for h in ref)
            tag = f"varlen_doc_c{int(causal)}"
            np.save(os.path.join(rec_dir, f"{tag}_o.npy"), out.cpu().numpy())
            np.save(os.path.join(rec_dir, f"{tag}_lse.npy"), l.float().cpu().numpy())
            p = mask_params(kind, small=True)
            p.update(o=f"{tag}_o.npy", lse=f"{tag}_lse.npy", lse_layout=lse_note,
                     cu_seqlens=cu.tolist(), max_seqlen=max(SMALL_DOCS), rel_err_o_vs_fp64=err,
                     max_abs_lse_err_natural_log=e_nat,
                     call="torch.ops.aten._flash_attention_forward(packed(q), packed(k), packed(v), cu, cu, "
                          "max, max, 0.0, causal, False, scale=None)")
            meta["cases"][tag] = p
            print(f"# small varlen causal={causal}: rel_err {err:.2e}, lse {lse_note}, lse err {e_nat:.2e}",
                  flush=True)
        except Exception as e:
            print(f"# small varlen causal={causal}: FAILED {type(e).__name__}: {str(e)[:600]}", flush=True)
        flush()
    flush()


def write_large_meta(blocks_dir):
    large = {name: mask_params(FLEX_CASES[name][0]) | {"heads": FLEX_CASES[name][1],
                                                       "kv_heads": FLEX_CASES[name][2],
                                                       "grad_enabled": FLEX_CASES[name][3],
                                                       "lse_requested": FLEX_CASES[name][4]}
             for name in FLEX_CASES}
    with open(os.path.join(blocks_dir, "cases.json"), "w") as f:
        json.dump({"N": N, "d": D, "dtype": "float16", "seed": SEED, "flex": large,
                   "varlen": {k_: {"documents": d_, "causal": c_} for k_, (d_, c_) in VARLEN_CASES.items()},
                   "files": "<case>_{kv_num_blocks,full_kv_num_blocks}.npy int32 [heads, nq]; "
                            "<case>_{kv_indices,full_kv_indices}.npy int16 [heads, nq, nk]; "
                            "<case>_block_table.npy int8 [heads, nq, nk] (0 empty, 1 partial, 2 full); "
                            "heads = 1 where the mask is the same for every head"}, f, indent=1)


# ---------------------------------------------------------------- ncu workload (GPU)

def ncu_mode():
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", "/tmp/inductor_cache")
    import torch
    from torch.nn.attention.flex_attention import flex_attention
    setup(torch)
    dev = os.environ.get("FM_DEVICE", "cuda")
    flex = flex_attention if os.environ.get("FM_EAGER") else torch.compile(flex_attention, dynamic=False)
    only = os.environ.get("FM_ONLY", "")
    nvtx = torch.cuda.nvtx if dev == "cuda" else None
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    for name in FLEX_CASES:
        if only and name not in only.split(","):
            continue
        try:
            kind, hq, hkv, grad, lse, mm, bm, extra, (q, k, v) = build_flex_case(torch, name, dev)
            call_flex(torch, flex, q, k, v, bm, hq != hkv, grad, lse)
            sync()
            nvtx and nvtx.range_push(fm_range(name))
            call_flex(torch, flex, q, k, v, bm, hq != hkv, grad, lse)
            sync()
            nvtx and nvtx.range_pop()
            print(f"# profiled {fm_range(name)}", file=sys.stderr, flush=True)
        except Exception as e:
            print(f"# {name}: FAILED {type(e).__name__}: {str(e)[:400]}", file=sys.stderr, flush=True)
    for name, (docs, causal) in VARLEN_CASES.items():
        if only and name not in only.split(","):
            continue
        try:
            q, k, v = (packed(t) for t in flex_inputs(torch, H, H, N, D, dev, SEED))
            cu = cu_seqlens(torch, docs, dev)
            call_varlen(torch, q, k, v, cu, max(docs), causal)
            sync()
            nvtx and nvtx.range_push(vl_range(name))
            call_varlen(torch, q, k, v, cu, max(docs), causal)
            sync()
            nvtx and nvtx.range_pop()
            print(f"# profiled {vl_range(name)}", file=sys.stderr, flush=True)
        except Exception as e:
            print(f"# varlen {name}: FAILED {type(e).__name__}: {str(e)[:300]}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- CPU side: tidy CSV and the hand model

def ncu_table(path):
    """(header, units, rows) of an ncu --csv --page raw file."""
    lines = [l for l in open(path) if l.startswith('"')]
    table = list(csv.reader(lines))
    return table[0], table[1], [dict(zip(table[0], r)) for r in table[2:]]


def range_of(header, r):
    col = next((h for h in header if "Push/Pop_Range" in h), None)
    label = r.get(col, "") if col else ""
    for part in label.replace("/", ":").split(":"):
        if part.startswith("fm_") or part.startswith("vl_"):
            return part
    return ""


def num(r, key):
    try:
        return float(str(r.get(key, "")).replace(",", ""))
    except ValueError:
        return float("nan")


def split_mode(raw, flex_out, varlen_out):
    lines = [l for l in open(raw) if l.startswith('"')]
    table = list(csv.reader(lines))
    header = table[0]
    for path, prefix in ((flex_out, "fm_"), (varlen_out, "vl_")):
        with open(path, "w", newline="") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerow(header)
            w.writerow(table[1])
            for row in table[2:]:
                if range_of(header, dict(zip(header, row))).startswith(prefix):
                    w.writerow(row)


TIDY_COLUMNS = ("kernel", "case", "N", "heads", "kv_heads", "d", "dtype", "grid", "block", "BLOCK_M", "BLOCK_N",
                "l2_to_sm_read_bytes", "l1_to_l2_write_bytes", "dram_read_bytes", "dram_write_bytes", "time_us")


def case_config(configs, case):
    for info in configs.get("cases", {}).get(case, []):
        return info
    # a case whose graph was reused: the config of another large case at the same d
    for name, infos in configs.get("cases", {}).items():
        if not name.startswith("small_") and infos:
            return infos[0]
    return {}


def tidy_mode(args):
    *raws, configs_path = args
    configs = json.load(open(configs_path))
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(TIDY_COLUMNS)
    for raw in raws:
        header, _, rows = ncu_table(raw)
        for r in rows:
            rng = range_of(header, r)
            if not rng:
                continue
            grid = "x".join(str(int(num(r, f"launch__grid_dim_{a}"))) for a in "xyz") \
                if f"launch__grid_dim_x" in r else r.get("Grid Size", "").replace(" ", "")
            block = str(int(num(r, "launch__block_size")))
            name = r["Kernel Name"]
            if rng.startswith("fm_"):
                case = rng[3:]
                _, hq, hkv, _, _ = FLEX_CASES[case]
                cfg = case_config(configs, case)
                bm_, bn_ = cfg.get("BLOCK_M", ""), cfg.get("BLOCK_N", "")
                kernel = "torch-flex:" + name.split("(")[0]
            else:
                case = rng[3:]
                hq = hkv = H
                m = re.search(r"Flash_fwd_kernel_traits<\s*(\d+),\s*(\d+),\s*(\d+)", name)
                bm_, bn_ = (m.group(2), m.group(3)) if m else ("", "")
                kernel = "torch-flash-varlen:" + re.sub(r"<.*", "", name.replace("void ", "")).strip()
            w.writerow((kernel, case, N, hq, hkv, D, "fp16", grid, block, bm_, bn_,
                        *(int(num(r, m_)) for m_ in BYTE_METRICS), f"{num(r, TIME_METRIC) / 1e3:.2f}"))


def flex_model(case, block_m, table, n_blocks_override=None):
    """Hand model of a flex forward launch: dict of byte terms (L2->SM reads, SM->L2 writes)."""
    kind, hq, hkv, grad, lse = FLEX_CASES[case]
    row_bytes = D * 2
    ctas_per_head = math.ceil(N / block_m)
    q_mult = BS // block_m if kind != "none" else 1
    t = {"ctas": ctas_per_head * hq, "Q": ctas_per_head * hq * block_m * row_bytes}
    kv_blocks = 0
    idx_sectors = 0
    partial = 0
    if kind == "none":
        kv_blocks = ctas_per_head * hq * (N // BS)
        idx_sectors = ctas_per_head * hq * 2
    else:
        for h in range(hq):
            th = table[h % table.shape[0]]
            ne = (th > 0).sum(-1)  # per sparse row
            kv_blocks += int(ne.sum()) * q_mult
            partial += int((th == 1).sum()) * q_mult
            # per CTA: kv_num_blocks and the first index of both lists, then the indices it walks
            np_, nf = (th == 1).sum(-1), (th == 2).sum(-1)
            idx_sectors += int(sum(2 + math.ceil(p_ * 4 / 32) + math.ceil(f_ * 4 / 32) for p_, f_ in zip(np_, nf)))
            idx_sectors += 0
    t["KV"] = kv_blocks * BS * row_bytes * 2
    t["index"] = idx_sectors * 32
    t["aux"] = partial * BS * 4 if kind.startswith("doc") else 0  # doc ids of the keys of each partial block
    t["read"] = t["Q"] + t["KV"] + t["index"] + t["aux"]
    lse_written = grad or lse
    t["O"] = hq * N * row_bytes
    t["LSE"] = hq * N * 4 if lse_written else 0
    t["write"] = t["O"] + t["LSE"]
    t["kv_blocks"] = kv_blocks
    return t


def varlen_model(docs, causal, block_m=128):
    row_bytes = D * 2
    grid = math.ceil(max(docs) / block_m) * len(docs) * H
    active = sum(math.ceil(L / block_m) for L in docs) * H
    q = kv = 0
    for L in docs:
        for m in range(math.ceil(L / block_m)):
            rows = min(block_m, L - m * block_m)
            keys = min(L, (m + 1) * block_m) if causal else L
            q += rows * row_bytes
            kv += 2 * keys * row_bytes
    q *= H
    kv *= H
    return {"grid": grid, "active_ctas": active, "Q": q, "KV": kv, "read": q + kv,
            "O": N * H * row_bytes, "LSE": N * H * 4, "write": N * H * row_bytes + N * H * 4}


PREDICT_COLUMNS = ("kernel", "case", "N", "heads", "kv_heads", "d", "BLOCK_M", "grid", "ctas", "partial_blocks",
                   "full_blocks", "kv_blocks_loaded", "Q_bytes", "KV_bytes", "index_bytes", "aux_bytes",
                   "model_read_bytes", "O_bytes", "LSE_bytes", "model_write_bytes")


def predict_mode(blocks_out=""):
    """The hand model before any measurement: each large case's BlockMask built on the CPU with the same
    create_block_mask call (the block tables are the ones the GPU run builds), BLOCK_M = 128 (the installed
    H100 fp16 d = 128 heuristic: 128 x 64, 8 warps, 3 stages), and varlen's grid and bytes (kBlockM = 128)."""
    import numpy as np
    import torch
    from torch.nn.attention.flex_attention import create_block_mask
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(PREDICT_COLUMNS)
    block_m = 128
    for name, (kind, hq, hkv, grad, lse) in FLEX_CASES.items():
        table = None
        if kind != "none":
            mm, bmh, _ = make_mask_mod(torch, kind, "cpu")
            arr = block_arrays(create_block_mask(mm, None, bmh, N, N, device="cpu", BLOCK_SIZE=BS))
            table = arr["block_table"]
            if blocks_out:
                os.makedirs(blocks_out, exist_ok=True)
                for key, a in arr.items():
                    np.save(os.path.join(blocks_out, f"{name}_{key}.npy"), a)
        t = flex_model(name, block_m, table)
        part = "" if table is None else int(sum((table[h % table.shape[0]] == 1).sum() for h in range(hq)))
        full = "" if table is None else int(sum((table[h % table.shape[0]] == 2).sum() for h in range(hq)))
        w.writerow(("torch-flex", name, N, hq, hkv, D, block_m, f"{math.ceil(N / block_m)}x1x{hq}", t["ctas"], part,
                    full, t["kv_blocks"], t["Q"], t["KV"], t["index"], t["aux"], t["read"], t["O"], t["LSE"],
                    t["write"]))
    for name, (docs, causal) in VARLEN_CASES.items():
        t = varlen_model(docs, causal, block_m)
        w.writerow(("torch-flash-varlen", name, N, H, H, D, block_m,
                    f"{math.ceil(max(docs) / block_m)}x{len(docs)}x{H}", f"{t['active_ctas']}/{t['grid']}", "", "",
                    "", t["Q"], t["KV"], 0, 0, t["read"], t["O"], t["LSE"], t["write"]))


def model_mode(tidy_path, blocks_dir):
    import numpy as np
    rows = list(csv.DictReader(open(tidy_path)))
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(("case", "kernel", "ctas", "Q_bytes", "KV_bytes", "index_bytes", "aux_bytes", "model_read_bytes",
                "measured_read_bytes", "read_error_pct", "model_write_bytes", "measured_write_bytes",
                "write_error_pct"))
    for r in rows:
        case = r["case"]
        meas_r, meas_w = int(r["l2_to_sm_read_bytes"]), int(r["l1_to_l2_write_bytes"])
        if r["kernel"].startswith("torch-flex"):
            kind = FLEX_CASES[case][0]
            table = None
            p = os.path.join(blocks_dir, f"{case}_block_table.npy")
            if kind != "none":
                table = np.load(p)
            t = flex_model(case, int(r["BLOCK_M"] or 128), table)
            w.writerow((case, r["kernel"], t["ctas"], t["Q"], t["KV"], t["index"], t["aux"], t["read"], meas_r,
                        f"{100 * (meas_r - t['read']) / t['read']:+.2f}", t["write"], meas_w,
                        f"{100 * (meas_w - t['write']) / t['write']:+.2f}"))
        else:
            docs, causal = VARLEN_CASES[case]
            t = varlen_model(docs, causal, int(r["BLOCK_M"] or 128))
            w.writerow((case, r["kernel"], f"{t['active_ctas']}/{t['grid']}", t["Q"], t["KV"], 0, 0, t["read"],
                        meas_r, f"{100 * (meas_r - t['read']) / t['read']:+.2f}", t["write"], meas_w,
                        f"{100 * (meas_w - t['write']) / t['write']:+.2f}"))


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "prepare":
        prepare_mode(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "all")
    elif mode == "ncu":
        ncu_mode()
    elif mode == "ranges":
        print(" ".join([f"--nvtx-include {fm_range(c)}/" for c in FLEX_CASES]
                       + [f"--nvtx-include {vl_range(c)}/" for c in VARLEN_CASES]))
    elif mode == "split":
        split_mode(*sys.argv[2:5])
    elif mode == "tidy":
        tidy_mode(sys.argv[2:])
    elif mode == "model":
        model_mode(sys.argv[2], sys.argv[3])
    elif mode == "predict":
        predict_mode(sys.argv[2] if len(sys.argv) > 2 else "")
    else:
        sys.exit(__doc__)
