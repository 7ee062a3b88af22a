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


def check(q, k, v, o, *, lse=None, do=None, dq=None, dk=None, dv=None, dtype: str, causal: bool = False,
          window: Optional[int] = None, window_size: Optional[Tuple[Optional[int], Optional[int]]] = None,
          alignment: Optional[str] = None, scale: Optional[float] = None,
          block_rows: Optional[int] = None) -> Report:
    """Checks a kernel's output `o` (and `lse`) for inputs q, k, v with `iosim check`.

    Shapes [N, d], [heads, N, d] or [batch, heads, N, d] (k, v may have fewer heads: GQA);
    `dtype` is the kernel's ("fp16", "bf16", "fp8", "fp32", "fp64"); `alignment` places the
    causal diagonal when Nq != Nk ("bottom-right", the default, or "top-left" as PyTorch's
    is_causal). `window_size=(left, right)` is FlashAttention's two-sided window (None, or -1 as
    FlashAttention writes it, for an unbounded side). Gradients (do, dq, dk, dv) are passed on when given, for an iosim that checks them.
    Raises IOSimError on bad input."""
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
    raws = set()
    with tempfile.TemporaryDirectory(prefix="iosim-check-") as folder:
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
