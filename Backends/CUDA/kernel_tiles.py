"""Tile configuration of each recorded kernel, in one place for the scripts that describe or
simulate the kernels (make_manifest.py, traffic_csv.py, Benchmarks/time_estimates.py). The values
must equal the constants in the sources: standard.cuh and fa1.cuh (BR = BC = 64, 256 threads) and
fa2.cuh (BR = 128, bc_for(d) = 64 at every d, 4 warps, one K and one V buffer)."""
KERNELS = {"standard": {"Br": 64, "Bc": 64, "threads": 256},
           "fa1": {"Br": 64, "Bc": 64, "threads": 256},
           "fa2": {"Br": 128, "Bc": 64, "warps": 4, "stages": 1}}
# PyTorch's FA2 forward kernel per head dimension, from its template arguments (kBlockM, kBlockN).
TORCH_FLASH = {64: (128, 128), 128: (128, 64)}


def tiles(kernel):
    """(Br, Bc) of one of our kernels."""
    return KERNELS[kernel]["Br"], KERNELS[kernel]["Bc"]


def warps(kernel):
    """Warps sharing a row tile (split-Q); 1 for the CUDA-core kernels."""
    return KERNELS[kernel].get("warps", 1)
