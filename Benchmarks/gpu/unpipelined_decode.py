"""Makes an unpipelined copy of our split-KV decode kernel (issue 16 item 7), to check iosim's
`--stages 1` time model against a kernel whose structure is known.

    python3 Benchmarks/gpu/unpipelined_decode.py DIR     # writes DIR/decode.cu, decode.cuh, common.cuh

Backends/CUDA/decode.cuh overlaps FlashAttention-2's way: V_j is copied during S = Q K_jᵀ and
K_{j+1} during O += P V_j. The copy waits for each tile right after issuing it (cp.async.wait_all
and a barrier), so a step is: K_j's round trip, V_j's round trip, then S, the softmax and P V_j,
with nothing in flight during the arithmetic — Triton's num_stages = 1. Nothing else changes (the
recorded sources are not touched). Every replacement must match exactly once, or this exits 1."""
import pathlib
import shutil
import sys

SRC = pathlib.Path(__file__).resolve().parents[2] / "Backends" / "CUDA"
WAIT = "cp_commit();\n    cp_wait<0>();\n    __syncthreads();  // unpipelined: wait for the tile just issued\n"
PATCHES = [
    # V_j: issued right after K_j landed; now waited for at once.
    ("    load_kv(sV, vbase, 1, j);\n    cp_commit();\n", "    load_kv(sV, vbase, 1, j);\n    " + WAIT),
    # K_{j+1}: issued before P V_j; now waited for at once.
    ("      load_kv(sK, kbase, 0, j + 1);\n      cp_commit();\n",
     "      load_kv(sK, kbase, 0, j + 1);\n      " + WAIT.replace("\n    ", "\n      ")),
]


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: unpipelined_decode.py DIR")
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for f in ["decode.cu", "common.cuh"]:
        shutil.copy(SRC / f, out / f)
    text = (SRC / "decode.cuh").read_text()
    for old, new in PATCHES:
        if text.count(old) != 1:
            sys.exit(f"patch does not match exactly once: {old!r}")
        text = text.replace(old, new)
    (out / "decode.cuh").write_text(text)


main()
