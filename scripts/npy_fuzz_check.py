#!/usr/bin/env python3
"""Checks the .npy fuzzer's verdicts against NumPy (Tests/NpyIOTests/NpyFuzzTests.swift).

    python3 scripts/npy_fuzz_check.py DIR            # DIR holds the mutants and manifest.json
    python3 scripts/npy_fuzz_check.py --make-corpus DIR   # writes the seed corpus

manifest.json lists, per file, the raw-bit format it was read with (none, bfloat16,
float8e4m3fn, float8e5m2: as `--bf16-bits` / `--fp8-bits`) and what iosim's reader decided:
accepted (element type, shape and the values as fp64 bit patterns in hex, NaNs made canonical)
or rejected (error kind, message). Raw-bit values are checked against this script's own
decoding of the bytes NumPy loaded (bfloat16: the top half of an fp32; fp8: the OCP OFP8
formulas, E4M3FN and E5M2).
Each file is loaded with numpy.load(allow_pickle=False) and every disagreement printed:
iosim accepting what NumPy refuses, both accepting with a different dtype, shape or values,
and iosim refusing what NumPy reads, unless one of iosim's deliberate restrictions (see
`restriction`) explains it. Exit 0: all agree; 1: disagreements; 77: NumPy is missing.
"""
import ast
import json
import os
import re
import sys
import warnings

try:
    import numpy as np
except ImportError:
    print("numpy is not installed; the comparison with NumPy is skipped")
    sys.exit(77)

CANONICAL_NAN = "000000000000f87f"  # 0x7ff8000000000000, little-endian, as the Swift side writes it
FLOAT_NAMES = {"<f8": "float64", "<f4": "float32", "<f2": "float16"}
# The descrs each raw format is read from, as NumPy spells them after loading ('<V2' -> '|V2');
# '<f1' (ml_dtypes' float8_e5m2) is one NumPy cannot load at all.
RAW_DESCRS = {
    "bfloat16": {"<u2", "<i2", "<V2", "|V2"},
    "float8e4m3fn": {"|u1", "|i1", "<u1", "<i1", "<V1", "|V1", "<f1"},
    "float8e5m2": {"|u1", "|i1", "<u1", "<i1", "<V1", "|V1", "<f1"},
}


def decode_raw(raw, data):
    """The fp64 values of raw bits (bytes in C order) in format `raw`."""
    if raw == "bfloat16":
        return (np.frombuffer(data, dtype="<u2").astype("<u4") << 16).view("<f4").astype("<f8")
    bits = np.frombuffer(data, dtype="u1").astype(np.int64)
    e, m, ieee = (4, 3, False) if raw == "float8e4m3fn" else (5, 2, True)
    bias, top = 2 ** (e - 1) - 1, 2 ** e - 1
    field, mant = (bits >> m) & top, bits & (2 ** m - 1)
    value = np.where(field == 0, np.ldexp(mant.astype("<f8"), 1 - bias - m),
                     np.ldexp((mant + 2 ** m).astype("<f8"), field - bias - m))
    if ieee:
        value = np.where(field == top, np.where(mant == 0, np.inf, np.nan), value)
    else:
        value = np.where((field == top) & (mant == 2 ** m - 1), np.nan, value)
    return np.where(bits >> 7 == 1, -value, value)


def header_subset(version):
    """The header grammar iosim takes (Npy.parseHeader's doc comment), written independently."""
    ws = r"[ \t]*"
    string = r"""(?:'[\x20-\x26\x28-\x5b\x5d-\x7e]*'|"[\x20\x21\x23-\x5b\x5d-\x7e]*")"""
    integer = r"(?:0+|[1-9][0-9]*)" + (r"(?:[ \t]*L)?" if version < 3 else "")
    tup = rf"\({ws}(?:{integer}{ws},{ws}|{integer}(?:{ws},{ws}{integer})+{ws}(?:,{ws})?)?\)"
    entry = rf"{string}{ws}:{ws}(?:{string}|True|False|{tup})"
    return re.compile(rf"{ws}\{{{ws}(?:{entry}(?:{ws},{ws}{entry})*{ws}(?:,{ws})?)?\}}[ \t]*\n")


def raw_header(data):
    """(version, header text, literal dict or None) as NumPy's reader sees them, or None."""
    if len(data) < 10 or data[:6] != b"\x93NUMPY" or data[6] not in (1, 2, 3):
        return None
    width = 2 if data[6] == 1 else 4
    length = int.from_bytes(data[8:8 + width], "little")
    raw = data[8 + width:8 + width + length]
    try:
        text = raw.decode("latin1" if data[6] < 3 else "utf8")
    except UnicodeDecodeError:
        return None
    literal = python_literal(text, data[6])
    return data[6], text, literal if isinstance(literal, dict) else None


def python_literal(text, version, parse=ast.literal_eval):
    """parse(text) as NumPy applies literal_eval: retried without Python 2's L suffixes in
    versions 1 and 2; None when it fails."""
    from numpy.lib import _format_impl
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return parse(text)
        except Exception:
            pass
        try:
            return parse(_format_impl._filter_header(text)) if version < 3 else None
        except Exception:
            return None


def has_duplicate_keys(text, version):
    node = python_literal(text, version, lambda t: ast.parse(t.lstrip(" \t"), mode="eval").body)
    if not isinstance(node, ast.Dict):
        return False
    keys = [ast.literal_eval(k) for k in node.keys if isinstance(k, ast.Constant)]
    return len(keys) != len(set(keys))


def restriction(data, swift_error, raw):
    """Why iosim may refuse a file NumPy reads, or None when nothing excuses it."""
    parsed = raw_header(data)
    if parsed is None:
        return None
    version, text, literal = parsed
    if literal is not None:
        descr = literal.get("descr")
        if not isinstance(descr, str) or (descr not in FLOAT_NAMES and (raw is None or descr not in RAW_DESCRS[raw])):
            return "only '<f8', '<f4', '<f2' and the named raw format's descrs are taken"
        if literal.get("fortran_order") is True and len(literal.get("shape", ())) > 1:
            return "Fortran order is refused"
    if swift_error != "badHeader":
        return None
    if not text.endswith("\n"):
        return "a header must end in a newline"
    if has_duplicate_keys(text, version):
        return "a key given twice is refused"
    if not header_subset(version).fullmatch(text):
        return "Python literal syntax beyond what .npy writers produce"
    return None


def values_hex(array):
    with np.errstate(invalid="ignore"):  # widening an fp32 signalling NaN
        flat = np.ascontiguousarray(array, dtype="<f8").reshape(-1)
    words = flat.view("<u8").copy()
    words[np.isnan(flat)] = 0x7FF8000000000000
    return words.tobytes().hex()


def check(directory):
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    problems = []
    tally = {"both read": 0, "both refused": 0}
    for entry in manifest:
        path = os.path.join(directory, entry["file"])
        with open(path, "rb") as f:
            data = f.read()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # max_header_size lifts NumPy's 10000-character guard for untrusted headers, a
                # resource limit rather than part of the format; allow_pickle stays False.
                array = np.load(path, allow_pickle=False, max_header_size=1 << 62)
            if not isinstance(array, np.ndarray):
                raise ValueError("not a .npy array")
            numpy_error = None
        except Exception as e:  # NumPy's refusals are ValueError, TypeError, OverflowError, ...
            numpy_error = f"{type(e).__name__}: {e}"
        name = entry["file"]
        raw = entry.get("raw")
        if entry["swift"] == "accepted":
            parsed = raw_header(data)
            if numpy_error is not None and raw and parsed and parsed[2] and parsed[2].get("descr") == "<f1":
                tally["'<f1' read as fp8 (ml_dtypes writes it; NumPy cannot load it)"] = \
                    tally.get("'<f1' read as fp8 (ml_dtypes writes it; NumPy cannot load it)", 0) + 1
                continue
            if numpy_error is not None:
                problems.append(f"{name}: iosim accepted, NumPy refused ({numpy_error[:200]})")
                continue
            descr = array.dtype.str
            expected = FLOAT_NAMES.get(descr) or (raw if raw and descr in RAW_DESCRS[raw] else f"NumPy's {descr}")
            numpy_view = (expected, list(array.shape))
            swift_view = (entry["dtype"], entry["shape"])
            values = array if descr in FLOAT_NAMES else decode_raw(raw, np.ascontiguousarray(array).tobytes())
            if numpy_view != swift_view:
                problems.append(f"{name}: iosim read {swift_view}, NumPy {numpy_view}")
            elif values_hex(values) != entry["values"]:
                problems.append(f"{name}: same dtype and shape, different values")
            else:
                version, text, _ = raw_header(data)
                if not header_subset(version).fullmatch(text):
                    problems.append(f"{name}: iosim accepted a header outside its documented subset: {text!r}")
                tally["both read"] += 1
        elif numpy_error is None:
            why = restriction(data, entry["error"], raw)
            if why is None:
                problems.append(f"{name}: NumPy read {array.dtype.str} {array.shape}, iosim refused: {entry['message']}")
            else:
                tally[f"refused by iosim only ({why})"] = tally.get(f"refused by iosim only ({why})", 0) + 1
        else:
            tally["both refused"] += 1
    for p in problems:
        print(p)
    counts = ", ".join(f"{k}: {v}" for k, v in tally.items())
    print(f"{len(manifest)} files, {len(problems)} disagreements with NumPy {np.__version__}; {counts}")
    return 1 if problems else 0


def make_corpus(directory):
    """The seed corpus: tiny valid files of each version, dtype and rank, with awkward values."""
    from numpy.lib import format as npformat
    os.makedirs(directory, exist_ok=True)
    special = [np.nan, -np.inf, np.inf, -0.0, 5e-324, 1.5]
    arrays = {
        "v1_f8_2d.npy": ((1, 0), np.array(special, dtype="<f8").reshape(2, 3)),
        "v1_f8_scalar.npy": ((1, 0), np.array(-2.5, dtype="<f8")),
        "v1_f4_empty.npy": ((1, 0), np.zeros((0, 3), dtype="<f4")),
        "v2_f4_1d.npy": ((2, 0), np.array([1, -2, 3.25, np.nan, 1e-45], dtype="<f4")),
        "v3_f8_4d.npy": ((3, 0), np.arange(4, dtype="<f8").reshape(1, 2, 1, 2)),
    }
    for name, (version, array) in arrays.items():
        with open(os.path.join(directory, name), "wb") as f:
            npformat.write_array(f, array, version=version)
    # fp16 as NumPy writes it, and the raw-bit files ml_dtypes writes (bfloat16 '<V2',
    # float8_e4m3fn '<V1', float8_e5m2 '<f1' with ml_dtypes 0.6.0), all from the same values.
    values = [1.5, -2, 0.1, 448]
    with open(os.path.join(directory, "v1_f2_2d.npy"), "wb") as f:
        npformat.write_array(f, np.array(values, dtype="<f2").reshape(2, 2), version=(1, 0))
    with open(os.path.join(directory, "v1_f2_specials.npy"), "wb") as f:
        npformat.write_array(f, np.array([np.nan, -np.inf, 65504, -0.0, 2**-24, 6.1e-5], dtype="<f2"), version=(1, 0))
    with open(os.path.join(directory, "v1_u2_bf16bits.npy"), "wb") as f:
        npformat.write_array(f, np.array([0x3FC0, 0xC000, 0x7F80, 0xFFC1, 0x0001], dtype="<u2"), version=(1, 0))
    with open(os.path.join(directory, "v1_u1_fp8bits.npy"), "wb") as f:
        npformat.write_array(f, np.arange(0, 256, 17, dtype="|u1"), version=(1, 0))
    try:
        import ml_dtypes
    except ImportError:
        print("ml_dtypes is not installed; its files (mldtypes_*.npy) are left as they are", file=sys.stderr)
    else:
        for name, dtype in (("bf16", ml_dtypes.bfloat16), ("e4m3fn", ml_dtypes.float8_e4m3fn), ("e5m2", ml_dtypes.float8_e5m2)):
            np.save(os.path.join(directory, f"mldtypes_{name}.npy"), np.array(values, dtype=dtype))
    # A signalling NaN in fp32: its bits change when widened, so NaNs compare by class only.
    path = os.path.join(directory, "v1_f4_snan.npy")
    with open(path, "wb") as f:
        npformat.write_array(f, np.array([0x7FA00001, 0xFFC00000], dtype="<u4").view("<f4"), version=(1, 0))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--make-corpus":
        make_corpus(sys.argv[2])
    elif len(sys.argv) == 2:
        sys.exit(check(sys.argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
