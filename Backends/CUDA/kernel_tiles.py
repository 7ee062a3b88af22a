"""Tile configuration of each recorded kernel, in one place for the scripts that describe or
simulate the kernels (make_manifest.py, traffic_csv.py, Benchmarks/time_estimates.py). The values
must equal the constants in the sources: standard.cuh (BR = 128, BC = 64, 4 warps of 32 rows in
the two GEMM kernels, a two-stage cp.async ring; softmax one CTA of 128 threads per row), fa1.cuh
(BR = 16, BC = 128, 8 warps per CTA, each warp one 16-row tile of a pair: warps = 1 per pair) and
fa2.cuh (BR = 128, bc_for(d) = 64 at every d, 4 warps, one K and one V buffer) and fa2_bwd.cuh
(BR = 64, BC = 128 at every d, 8 warps; preprocess and convert a CTA per BR rows, main a CTA per
BC rows; Q, dO, LSE, D double-buffered), fa3.cuh (BR = BC = 128 at d = 64 and 128, a 2-stage K/V
ring, 2 consumer warpgroups of 64 rows and a producer warpgroup; S and O in registers, so iosim
needs M = 289KiB at d = 128 for its footprint) and decode.cuh (split-kv, paged-v1, paged-v2: Br = 64
packed query rows, Bc = 256 at d <= 64 and 128 above, 4 warps, one K and one V buffer; paged
kernels over blocks of 16 tokens, paged-v2 in partitions of 512)."""
KERNELS = {"standard": {"Br": 128, "Bc": 64, "warps": 4, "stages": 2},
           "fa1": {"Br": 16, "Bc": 128, "warps": 1, "cta_warps": 8, "stages": 2},
           "fa2": {"Br": 128, "Bc": 64, "warps": 4, "stages": 1},
           "fa2-bwd": {"Br": 64, "Bc": 128, "warps": 8, "stages": 2},
           "fa3": {"Br": 128, "Bc": 128, "warps": 4, "stages": 2, "consumer_warpgroups": 2},
           "split-kv": {"Br": 64, "Bc_by_d": {"64": 256, "128": 128}, "warps": 4, "stages": 1},
           "paged-v1": {"Br": 64, "Bc_by_d": {"64": 256, "128": 128}, "warps": 4, "block": 16},
           "paged-v2": {"Br": 64, "Bc_by_d": {"64": 256, "128": 128}, "warps": 4, "block": 16, "partition": 512}}
# Kernel sources: the first is the manifest's `source`, the rest its `depends` (fa2-bwd's O and
# LSE come from the fa2 forward). Default: Backends/CUDA/<kernel>.cuh alone.
DECODE = ["Backends/CUDA/decode.cuh", "Backends/CUDA/decode.cu"]
SOURCES = {"fa2-bwd": ["Backends/CUDA/fa2_bwd.cuh", "Backends/CUDA/fa2.cuh"],
           "split-kv": DECODE, "paged-v1": DECODE, "paged-v2": DECODE}
# Per (kernel, dtype) where a dtype has its own source: fa3 in fp8 is fa3_fp8.cuh, which includes
# fa3.cuh's helpers (same tiles: Br = Bc = 128, 2 stages, 2 consumer warpgroups).
DTYPE_SOURCES = {("fa3", "fp8"): ["Backends/CUDA/fa3_fp8.cuh", "Backends/CUDA/fa3.cuh"]}
# Extra iosim flags that describe a kernel's configuration (fa3: its ring depth and an M that holds
# the footprint iosim counts, S and O included).
IOSIM_FLAGS = {"fa3": ["--stages", "2", "--M", "289KiB"]}
# iosim's schedule and pass for a kernel (default: the kernel's name, forward).
SCHEDULE = {"fa2-bwd": ("fa2", "backward")}
# PyTorch's FA2 forward kernel per head dimension, from its template arguments (kBlockM, kBlockN).
TORCH_FLASH = {64: (128, 128), 128: (128, 64)}
# PyTorch's FA2 backward kernel (Br x Bc read off its launches, Reports/gpu/README.md).
TORCH_FLASH_BWD = {64: (128, 128), 128: (64, 128)}
# FlashAttention-3's forward tiles, the shape cuDNN's sm90 kernel shares (Reports/gpu/README.md).
FA3_PAPER = {64: (192, 128), 128: (128, 128)}


def tiles(kernel):
    """(Br, Bc) of one of our kernels."""
    return KERNELS[kernel]["Br"], KERNELS[kernel]["Bc"]


def warps(kernel):
    """Warps sharing a row tile (iosim's --warps): 4 for fa2 and standard (split-Q), 1 for fa1."""
    return KERNELS[kernel].get("warps", 1)


def sources(kernel, dtype=None):
    """The kernel's source files (Backends/CUDA/...), its own first (for `dtype` where it has its own)."""
    return DTYPE_SOURCES.get((kernel, dtype)) or SOURCES.get(kernel, [f"Backends/CUDA/{kernel}.cuh"])
