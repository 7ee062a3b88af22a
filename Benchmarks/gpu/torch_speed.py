"""PyTorch timings for Reports/gpu/speed.csv: fp16, 16K tokens per batch (batch = 16384 / N), hidden
2048 (heads = 2048 / d), as in the FlashAttention-2 paper's benchmarks. Prints CSV rows
kernel,N,d,heads,dtype,causal,time_us,tflops,gpu (the heads column is per sequence; the batch is
16384 / N). Rows:
  torch-flash, torch-cudnn, torch-efficient   SDPA forward with that backend only
  torch-flex                                  torch.compile(flex_attention) forward (a causal block
                                              mask from create_block_mask for causal, none otherwise);
                                              only at N in $FLEX_N (default 4096): each shape compiles
  torch-flash-bwd, torch-cudnn-bwd            the backward of that backend's SDPA call:
                                              torch.autograd.grad(out, (q, k, v), dO, retain_graph=True)
                                              on one forward's graph (PyTorch's flash backward includes
                                              its two .contiguous() copies of dO and O, Reports/gpu/README.md);
                                              TFLOP/s counted as 2.5x the forward's flops
Timing as before for every row: 3 warm-up calls, then CUDA events around `reps` back-to-back calls
(20), time_us = elapsed / reps. N values from $SPEED_N (default 1024 4096 16384); $TORCH_ROWS
picks a subset of the row names (comma-separated; default all)."""
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

gpu = torch.cuda.get_device_name().replace(",", " ")
BACKENDS = {"torch-flash": SDPBackend.FLASH_ATTENTION, "torch-cudnn": SDPBackend.CUDNN_ATTENTION,
            "torch-efficient": SDPBackend.EFFICIENT_ATTENTION}
ALL = ["torch-flash", "torch-cudnn", "torch-efficient", "torch-flex", "torch-flash-bwd", "torch-cudnn-bwd"]
rows = os.environ.get("TORCH_ROWS", ",".join(ALL)).split(",")
flex_n = [int(x) for x in os.environ.get("FLEX_N", "4096").split()]
REPS = 20


def timed(fn, reps=REPS):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1000 / reps


def emit(name, n, d, h, causal, us, flops):
    print(f"{name},{n},{d},{h},fp16,{str(causal).lower()},{us:.3f},{flops / us / 1e6:.3f},{gpu}", flush=True)


flex = None
for n in (int(x) for x in os.environ.get("SPEED_N", "1024 4096 16384").split()):
    for d in (64, 128):
        b, h = 16384 // n, 2048 // d
        q, k, v, do = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(4))
        for causal in (False, True):
            flops = 4 * b * h * n * n * d / (2 if causal else 1)
            for name in rows:
                base = name.removesuffix("-bwd")
                try:
                    if name == "torch-flex":
                        if n not in flex_n:
                            continue
                        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
                        flex = flex or torch.compile(flex_attention, dynamic=False)
                        bm = create_block_mask(lambda bb, hh, qi, ki: qi >= ki, None, None, n, n, device="cuda") if causal else None
                        emit(name, n, d, h, causal, timed(lambda: flex(q, k, v, block_mask=bm)), flops)
                    elif name.endswith("-bwd"):
                        with sdpa_kernel(BACKENDS[base]):
                            qa, ka, va = (t.clone().requires_grad_(True) for t in (q, k, v))
                            out = F.scaled_dot_product_attention(qa, ka, va, is_causal=causal)
                            us = timed(lambda: torch.autograd.grad(out, (qa, ka, va), do, retain_graph=True))
                        emit(name, n, d, h, causal, us, 2.5 * flops)
                        del qa, ka, va, out
                    else:
                        with sdpa_kernel(BACKENDS[name]):
                            us = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
                        emit(name, n, d, h, causal, us, flops)
                except (RuntimeError, torch.OutOfMemoryError) as e:
                    print(f"# {name} N={n} d={d} causal={causal}: {str(e).splitlines()[0][:300]}", file=sys.stderr)
                torch.cuda.empty_cache()
        del q, k, v, do
        torch.cuda.empty_cache()
print("torch", torch.__version__, file=sys.stderr)
