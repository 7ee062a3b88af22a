import json
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import numpy as np


class IOSimError(ValueError):
    """Bad input (iosim check's exit 2): shapes that do not fit, a dtype the kernel cannot have
    written, a file iosim cannot read. The message is iosim's one line."""


def executable() -> str:
    """The iosim binary: $IOSIM, else `iosim` on PATH."""
    path = os.environ.get("IOSIM") or shutil.which("iosim")
    if not path:
        raise FileNotFoundError("the iosim executable was not found: set IOSIM to its path or put it on PATH "
                                "(swift build -c release; .build/release/iosim)")
    return path


@dataclass
class TensorReport:
    """One tensor's verdict: max |out - ref|, where (batch, head, row[, column]) and the allowance
    rtol * baseline_error + atol."""
    name: str
    passed: bool
    max_abs_error: float
    where: Dict[str, int]
    allowed: float
    baseline_error: float
    atol: float
    rtol: float
    reason: Optional[str] = None
    """Why the tensor fails (NaN where the reference is finite, an allowance that is not finite, …);
    None when it passes."""


@dataclass
class Report:
    """What `iosim check --format json` said, plus its table for messages."""
    passed: bool
    tensors: Dict[str, TensorReport]
    problem: Dict[str, Any]
    table: str = ""
    raw: Dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.table or json.dumps(self.raw)


_RAW_FLAGS = {"bfloat16": ("--bf16-bits", None), "float8_e4m3fn": ("--fp8-bits", "e4m3"), "float8_e5m2": ("--fp8-bits", "e5m2")}


def _to_numpy(x):
    """(array for np.save, raw format name or None). PyTorch tensors are detached and moved to the
    CPU; bfloat16 and fp8 (PyTorch's or ml_dtypes') become their raw bits."""
    raw = None
    if type(x).__module__.startswith("torch"):
        import torch
        t = x.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            return t.view(torch.int16).numpy(), "bfloat16"
        for name in ("float8_e4m3fn", "float8_e5m2"):
            if getattr(torch, name, None) is not None and t.dtype == getattr(torch, name):
                return t.view(torch.uint8).numpy(), name
        return t.numpy(), None
    a = np.ascontiguousarray(x)
    if a.dtype.name in _RAW_FLAGS:  # ml_dtypes
        raw = a.dtype.name
        a = a.view(np.uint16 if a.dtype.itemsize == 2 else np.uint8)
    return a, raw


def _array(x) -> np.ndarray:
    """A NumPy view of a NumPy array or a PyTorch tensor (moved to the CPU)."""
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def documents_from_cu_seqlens(cu_seqlens) -> list:
    """FlashAttention's `cu_seqlens` ([0, end of document 1, …, total]) as document lengths."""
    c = _array(cu_seqlens).astype(np.int64).ravel()
    if c.size < 2 or c[0] != 0 or np.any(np.diff(c) < 1):
        raise IOSimError(f"cu_seqlens must start at 0 and increase by at least 1 per document, got {c.tolist()}")
    return np.diff(c).tolist()


def block_table(block_mask) -> np.ndarray:
    """A FlexAttention `BlockMask` (or anything with its `kv_num_blocks`, `kv_indices` and,
    optionally, `full_kv_num_blocks` and `full_kv_indices`) as iosim's block-mask array:
    int8 [batch, heads, query blocks, key blocks], 0 empty, 1 partial (mask_mod applies),
    2 full. The key-block count is the widest index table's (FlexAttention pads it to ⌈Nk/B⌉)."""
    num, idx = _array(block_mask.kv_num_blocks), _array(block_mask.kv_indices)
    full_num = getattr(block_mask, "full_kv_num_blocks", None)
    full_idx = getattr(block_mask, "full_kv_indices", None)
    cols = idx.shape[-1] if full_idx is None else max(idx.shape[-1], _array(full_idx).shape[-1])
    table = np.zeros(num.shape + (cols,), dtype=np.int8)
    for value, (n, ix) in ((1, (num, idx)), (2, (None if full_num is None else _array(full_num),
                                                   None if full_idx is None else _array(full_idx)))):
        if n is None:
            continue
        for pos in np.ndindex(*n.shape):
            table[pos][ix[pos][:int(n[pos])]] = value
    return table


def check(q, k, v, o, *, lse=None, do=None, dq=None, dk=None, dv=None, dtype: str, causal: bool = False,
          window: Optional[int] = None, window_size: Optional[Tuple[Optional[int], Optional[int]]] = None,
          alignment: Optional[str] = None, scale: Optional[float] = None,
          block_rows: Optional[int] = None, sink_tokens: Optional[int] = None, prefix: Optional[int] = None,
          documents=None, cu_seqlens=None, block_mask=None, mask_block=None, layout: Optional[str] = None,
          softcap: Optional[float] = None, alibi_slopes=None, sink_logits=None) -> Report:
    """Checks a kernel's output `o` (and `lse`) for inputs q, k, v with `iosim check`.

    Shapes [N, d], [heads, N, d] or [batch, heads, N, d] (k, v may have fewer heads: GQA);
    `dtype` is the kernel's ("fp16", "bf16", "fp8", "fp32", "fp64"); `alignment` places the
    causal diagonal when Nq != Nk ("bottom-right", the default, or "top-left" as PyTorch's
    is_causal). `window_size=(left, right)` is FlashAttention's two-sided window (None, or -1 as
    FlashAttention writes it, for an unbounded side). `sink_tokens`, `prefix` and `documents`
    (lengths) or `cu_seqlens` (FlashAttention's varlen offsets) are iosim's --sink-tokens,
    --prefix and --documents; `block_mask` is a FlexAttention `BlockMask` (converted with
    :func:`block_table`) or an array of 0/1/2, with `mask_block` (B or (Bq, Bk); a BlockMask's
    BLOCK_SIZE by default). `layout` is "bhsd" (the default), "bshd" (FlashAttention's
    [batch, seqlen, heads, d]) or "thd" (varlen's packed [total_tokens, heads, d], with
    documents or cu_seqlens). `softcap` (FlashAttention's), `alibi_slopes` (one per query head, or
    "standard") and `sink_logits` (one per query head, gpt-oss) are iosim's --softcap,
    --alibi-slopes and --sink-logits. Gradients (do, dq, dk, dv) are passed on when given, for an
    iosim that checks them. Raises IOSimError on bad input."""
    tensors = {"q": q, "k": k, "v": v, "o": o, "lse": lse, "do": do, "dq": dq, "dk": dk, "dv": dv}
    args = ["check", "--dtype", dtype, "--format", "json"]
    if causal:
        args.append("--causal")
    if window is not None:
        args += ["--window", str(int(window))]
    if window_size is not None:
        for flag, side in zip(("--window-left", "--window-right"), window_size):
            if side is not None and int(side) >= 0:
                args += [flag, str(int(side))]
    if alignment is not None:
        args += ["--alignment", alignment]
    if scale is not None:
        args += ["--scale", repr(float(scale))]
    if block_rows is not None:
        args += ["--block-rows", str(int(block_rows))]
    if layout is not None:
        args += ["--layout", layout]
    for flag, value in (("--sink-tokens", sink_tokens), ("--prefix", prefix)):
        if value is not None:
            args += [flag, str(int(value))]
    if documents is not None and cu_seqlens is not None:
        raise IOSimError("give documents or cu_seqlens, not both")
    if cu_seqlens is not None:
        documents = documents_from_cu_seqlens(cu_seqlens)
    if documents is not None:
        args += ["--documents", ",".join(str(int(n)) for n in documents)]
    if mask_block is None and block_mask is not None and hasattr(block_mask, "BLOCK_SIZE"):
        mask_block = tuple(int(b) for b in block_mask.BLOCK_SIZE)
    if mask_block is not None:
        bq, bk = (mask_block, mask_block) if isinstance(mask_block, int) else mask_block
        args += ["--mask-block", f"{int(bq)}x{int(bk)}"]
    if softcap is not None:
        args += ["--softcap", repr(float(softcap))]
    if isinstance(alibi_slopes, str):
        args += ["--alibi-slopes", alibi_slopes]
        alibi_slopes = None
    raws = set()
    with tempfile.TemporaryDirectory(prefix="iosim-check-") as folder:
        if block_mask is not None:
            table = block_table(block_mask) if hasattr(block_mask, "kv_num_blocks") else _array(block_mask).astype(np.int8)
            path = os.path.join(folder, "block_mask.npy")
            np.save(path, table)
            args += ["--block-mask", path]
        for flag, values in (("--alibi-slopes", alibi_slopes), ("--sink-logits", sink_logits)):
            if values is not None:
                path = os.path.join(folder, flag[2:] + ".npy")
                np.save(path, np.asarray(_array(values), dtype=np.float64).reshape(-1))
                args += [flag, path]
        for name, x in tensors.items():
            if x is None:
                continue
            a, raw = _to_numpy(x)
            if raw:
                raws.add(raw)
            path = os.path.join(folder, name + ".npy")
            np.save(path, a)
            args += ["--" + name, path]
        for raw in sorted(raws):
            flag, value = _RAW_FLAGS[raw]
            args += [flag] + ([value] if value else [])
        if len([r for r in raws if r.startswith("float8")]) > 1:
            raise IOSimError("fp8 tensors of two formats (e4m3 and e5m2) cannot be checked together")
        done = subprocess.run([executable()] + args, capture_output=True, text=True)
        if done.returncode == 2:
            raise IOSimError(done.stderr.strip())
        if done.returncode not in (0, 1):
            raise RuntimeError(f"iosim check exited {done.returncode}: {done.stderr.strip()}")
    out = json.loads(done.stdout)
    reports = {t["name"]: TensorReport(t["name"], t["passed"], _f(t["max_abs_error"]), t["where"], _f(t["allowed"]),
                                       _f(t["baseline_error"]), _f(t["atol"]), _f(t["rtol"]), t.get("reason"))
               for t in out["tensors"]}
    return Report(out["passed"], reports, out["problem"], _table(out, reports), out)


def _table(out: Dict[str, Any], reports: Dict[str, TensorReport]) -> str:
    """The report as lines like iosim's own table."""
    p = out["problem"]
    lines = [f"iosim check: {p['dtype']} kernel, batch={p['batch']} heads={p['heads']} kv_heads={p['kv_heads']} "
             f"N={p['N']} Nk={p['Nk']} d={p['d']} dv={p['dv']}, causal={p['causal']}, scale {p['scale']}"]
    for t in reports.values():
        where = ", ".join(str(t.where[key]) for key in ("batch", "head", "row", "column") if key in t.where)
        lines.append(f"{t.name}: max|err| {_num(t.max_abs_error)} at ({where}), allowed {_num(t.allowed)} = "
                     f"{t.rtol:g}*{_num(t.baseline_error)} (baseline error) + {_num(t.atol)} (atol): "
                     + ("pass" if t.passed else "FAIL" + (f": {t.reason}" if t.reason else "")))
    lines.append("PASS" if out["passed"] else "FAIL")
    return "\n".join(lines)


def _f(x) -> float:
    # iosim writes non-finite numbers as the strings "NaN", "Infinity" and "-Infinity", which
    # float() reads; null (older iosim) stood for a non-finite number.
    return float("inf") if x is None else float(x)


def _num(x: float) -> str:
    """A number as iosim's table prints it: NaN as NaN (never nan or inf), infinities as Inf."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    return f"{x:.3e}"


def assert_attention_close(q, k, v, o, **kwargs) -> Report:
    """check(...) that raises AssertionError with the report's table when a tensor fails: the
    pytest idiom. Returns the report when everything passes."""
    report = check(q, k, v, o, **kwargs)
    if not report.passed:
        raise AssertionError("attention output is outside iosim's tolerance rule:\n" + str(report))
    return report
