"""Tests of the iosim Python package against the built iosim binary ($IOSIM)."""
import math
import os
import re

import numpy as np
import pytest

import iosim

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fp16_kernel(q, k, v, causal=False, window_size=None, softcap=None, slopes=None, sinks=None):
    """A stand-in fp16 kernel: fp16 inputs, fp32 scores and softmax, P rounded to fp16 before
    PV (as FlashAttention feeds the tensor cores), O in fp16; also the fp32 LSE. `softcap`,
    ALiBi `slopes` and `sinks` (per query head) as FlashAttention and gpt-oss apply them."""
    q32, k32, v32 = (x.astype(np.float32) for x in (q, k, v))
    group = q.shape[-3] // k.shape[-3] if q.ndim >= 3 else 1
    if group > 1:
        k32, v32 = np.repeat(k32, group, axis=-3), np.repeat(v32, group, axis=-3)
    s = (q32 @ np.swapaxes(k32, -1, -2)) / np.float32(np.sqrt(q.shape[-1]))
    n, nk = s.shape[-2:]
    if softcap is not None:
        s = np.float32(softcap) * np.tanh(s / np.float32(softcap))
    if slopes is not None:  # bottom-right positions, one slope per query head
        dist = np.abs(np.arange(n)[:, None] + nk - n - np.arange(nk)[None, :]).astype(np.float32)
        s = s - np.asarray(slopes, np.float32)[:, None, None] * dist
    if causal:
        s = np.where(np.tril(np.ones((n, nk), bool), k=nk - n), s, -np.inf)  # bottom-right
    if window_size is not None:
        # FlashAttention's window_size = (left, right), bottom-right: row r sits at r + nk - n.
        left, right = window_size
        pos = np.arange(n)[:, None] + nk - n
        col = np.arange(nk)[None, :]
        s = np.where((col >= pos - left) & (col <= pos + right), s, -np.inf)
    m = s.max(-1, keepdims=True)
    sink = None if sinks is None else np.broadcast_to(np.asarray(sinks, np.float32)[:, None, None], m.shape)
    if sink is not None:
        m = np.maximum(m, sink)
    p = np.exp(s - m)
    row_sum = p.sum(-1, keepdims=True) + (0 if sink is None else np.exp(sink - m))
    o = ((p.astype(np.float16).astype(np.float32) @ v32) / row_sum).astype(np.float16)
    return o, (m + np.log(row_sum))[..., 0].astype(np.float32)


def inputs(shape_q, shape_kv, seed=0, dtype=np.float16):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape_q).astype(dtype), rng.standard_normal(shape_kv).astype(dtype),
            rng.standard_normal(shape_kv).astype(dtype))


def test_a_correct_fp16_kernel_passes_with_a_report_per_tensor():
    q, k, v = inputs((2, 4, 96, 32), (2, 2, 96, 32))
    o, lse = fp16_kernel(q, k, v, causal=True)
    report = iosim.check(q, k, v, o, lse=lse, dtype="fp16", causal=True)
    assert report.passed, report
    assert set(report.tensors) == {"O", "LSE"}
    t = report.tensors["O"]
    assert t.max_abs_error <= t.allowed and t.rtol == 2 and set(t.where) == {"batch", "head", "row", "column"}
    assert report.problem["kv_heads"] == 2 and report.problem["causal"] is True
    assert iosim.assert_attention_close(q, k, v, o, lse=lse, dtype="fp16", causal=True).passed


def test_a_two_sided_window_passes_with_its_window_size_and_fails_as_causal():
    q, k, v = inputs((2, 80, 32), (2, 100, 32), seed=3)
    o, lse = fp16_kernel(q, k, v, window_size=(10, 6))
    assert iosim.check(q, k, v, o, lse=lse, dtype="fp16", window_size=(10, 6)).passed
    assert not iosim.check(q, k, v, o, lse=lse, dtype="fp16", causal=True).passed
    report = iosim.check(q, k, v, o, lse=lse, dtype="fp16", window_size=(10, 6))
    assert report.problem["causal"] is False


def test_score_modifications_pass_with_their_flags_and_fail_without_them():
    q, k, v = inputs((1, 4, 64, 32), (1, 4, 80, 32), seed=7)
    mods = dict(softcap=2.0, slopes=[2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8], sinks=[0.5, -1.0, 0.0, 2.0])  # standard for 4 heads
    o, lse = fp16_kernel(q, k, v, causal=True, **mods)
    flags = dict(softcap=2.0, alibi_slopes="standard", sink_logits=np.array(mods["sinks"], np.float32))
    assert iosim.check(q, k, v, o, lse=lse, dtype="fp16", causal=True, **flags).passed
    for left_out in flags:
        partial = {key: value for key, value in flags.items() if key != left_out}
        assert not iosim.check(q, k, v, o, lse=lse, dtype="fp16", causal=True, **partial).passed, left_out
    with pytest.raises(iosim.IOSimError, match="one value per query head"):
        iosim.check(q, k, v, o, dtype="fp16", causal=True, sink_logits=[0.0, 1.0])


def test_a_corrupted_output_raises_assertion_error_naming_where():
    q, k, v = inputs((3, 64, 16), (3, 64, 16), seed=1)
    o, _ = fp16_kernel(q, k, v)
    o[2, 40, 7] += np.float16(0.1)
    with pytest.raises(AssertionError) as caught:
        iosim.assert_attention_close(q, k, v, o, dtype="fp16")
    message = str(caught.value)
    assert "FAIL" in message and "(0, 2, 40, 7)" in message
    report = iosim.check(q, k, v, o, dtype="fp16")
    assert not report.passed and report.tensors["O"].where == {"batch": 0, "head": 2, "row": 40, "column": 7}


def test_bad_shapes_raise_iosim_error_with_its_one_line():
    q, k, v = inputs((64, 16), (64, 16))
    with pytest.raises(iosim.IOSimError, match="o has shape"):
        iosim.check(q, k, v, np.zeros((64, 8), np.float16), dtype="fp16")
    with pytest.raises(iosim.IOSimError, match="invalid for '--dtype"):
        iosim.check(q, k, v, q, dtype="fp12")


def test_float64_arrays_are_converted_to_the_kernels_dtype():
    q, k, v = inputs((48, 16), (48, 16), seed=2)
    o, _ = fp16_kernel(q, k, v)
    report = iosim.check(q.astype(np.float64), k.astype(np.float64), v, o.astype(np.float64), dtype="fp16")
    assert report.passed, report


def test_missing_executable_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("IOSIM", "")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(FileNotFoundError, match="IOSIM"):
        iosim.executable()


def test_pytorch_tensors_including_bf16_are_checked():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 80, 32, dtype=torch.bfloat16) for _ in range(3))
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    report = iosim.check(q, k, v, o, dtype="bf16", causal=True, alignment="top-left")
    assert report.passed, report


def test_ml_dtypes_bfloat16_arrays_are_read_as_raw_bits():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    q, k, v = inputs((40, 16), (40, 16), seed=3, dtype=np.float32)
    q, k, v = (x.astype(ml_dtypes.bfloat16) for x in (q, k, v))
    o32, _ = fp16_kernel(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32))
    report = iosim.check(q, k, v, o32.astype(np.float32).astype(ml_dtypes.bfloat16), dtype="bf16")
    assert "O" in report.tensors


def readme_section():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index("## Use iosim in your CI")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


def test_the_readme_pytest_example_runs_and_passes(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", readme_section(), re.S)
    assert blocks, "the README's CI section has a python example"
    namespace = {}
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "README example", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        test()


def test_the_readme_shell_example_passes_and_a_corruption_fails(tmp_path):
    import subprocess
    blocks = re.findall(r"```bash\n(.*?)```", readme_section(), re.S)
    script = next(b for b in blocks if "iosim check" in b)
    env = dict(os.environ, PATH=os.path.dirname(iosim.executable()) + os.pathsep + os.environ["PATH"])
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout


def test_a_nan_output_fails_with_its_reason_and_prints_nan():
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((2, 32, 16)) for _ in range(3))
    o = np.full((2, 32, 16), np.nan)
    report = iosim.check(q, k, v, o, dtype="fp32")
    t = report.tensors["O"]
    assert not report.passed and math.isnan(t.max_abs_error)
    assert "NaN or infinite where the reference is finite" in t.reason
    assert "max|err| NaN" in str(report) and "nan" not in str(report).replace("NaN", "")


def masked_kernel(q, k, v, visible):
    """fp16_kernel under an arbitrary boolean mask [n, nk] (True = attend)."""
    q32, k32, v32 = (x.astype(np.float32) for x in (q, k, v))
    s = (q32 @ np.swapaxes(k32, -1, -2)) / np.float32(np.sqrt(q.shape[-1]))
    s = np.where(visible, s, -np.inf)
    m = s.max(-1, keepdims=True)
    p = np.exp(s - m)
    row_sum = p.sum(-1, keepdims=True)
    return ((p.astype(np.float16).astype(np.float32) @ v32) / row_sum).astype(np.float16)


def document_causal(lengths):
    ids = np.repeat(np.arange(len(lengths)), lengths)
    n = ids.size
    return (ids[:, None] == ids[None, :]) & np.tril(np.ones((n, n), bool))


def test_documents_and_cu_seqlens_give_the_document_mask():
    lengths = [30, 1, 33]
    q, k, v = inputs((2, 64, 16), (2, 64, 16), seed=4)
    o = masked_kernel(q, k, v, document_causal(lengths))
    assert iosim.check(q, k, v, o, dtype="fp16", causal=True, documents=lengths).passed
    assert iosim.check(q, k, v, o, dtype="fp16", causal=True, cu_seqlens=np.array([0, 30, 31, 64], np.int32)).passed
    # FlashAttention's packed varlen layout: [total_tokens, heads, d].
    packed = [np.ascontiguousarray(np.swapaxes(x, 0, 1)) for x in (q, k, v, o)]
    assert iosim.check(*packed, dtype="fp16", causal=True, cu_seqlens=[0, 30, 31, 64], layout="thd").passed
    # The boundary ignored, or moved by one: FAIL.
    assert not iosim.check(q, k, v, o, dtype="fp16", causal=True).passed
    assert not iosim.check(q, k, v, o, dtype="fp16", causal=True, documents=[31, 1, 32]).passed
    with pytest.raises(iosim.IOSimError):
        iosim.documents_from_cu_seqlens([0, 30, 30, 64])


class FakeBlockMask:
    """FlexAttention's BlockMask fields, as NumPy arrays: [batch, heads, query blocks(, indices)]."""
    def __init__(self, table, block):
        b, h, rows, cols = table.shape
        self.BLOCK_SIZE = (block, block)
        self.kv_num_blocks = (table == 1).sum(-1).astype(np.int32)
        self.full_kv_num_blocks = (table == 2).sum(-1).astype(np.int32)
        # Indices of each kind first, padded with the rest as FlexAttention pads its tables.
        self.kv_indices = np.argsort(table != 1, axis=-1, kind="stable").astype(np.int32)
        self.full_kv_indices = np.argsort(table != 2, axis=-1, kind="stable").astype(np.int32)


def test_a_flex_block_mask_becomes_iosims_table_and_checks_a_block_sparse_kernel():
    rng = np.random.default_rng(5)
    table = rng.choice(3, size=(1, 2, 4, 4), p=[0.4, 0.3, 0.3]).astype(np.int8)
    table[..., 0] = np.maximum(table[..., 0], 1)  # every row sees something
    fake = FakeBlockMask(table, 16)
    assert (iosim.block_table(fake) == table).all()
    q, k, v = inputs((1, 2, 64, 16), (1, 2, 64, 16), seed=6)
    # Partial blocks apply the causal mask (mask_mod), full ones show everything.
    causal = np.tril(np.ones((64, 64), bool))
    visible = np.stack([np.where(np.kron(table[0, h], np.ones((16, 16), np.int8)) == 2, True,
                                 (np.kron(table[0, h], np.ones((16, 16), np.int8)) == 1) & causal) for h in range(2)])[None]
    o = masked_kernel(q, k, v, visible)
    assert iosim.check(q, k, v, o, dtype="fp16", causal=True, block_mask=fake).passed
    # A partial block treated as full: FAIL.
    assert not iosim.check(q, k, v, o, dtype="fp16", block_mask=fake).passed
