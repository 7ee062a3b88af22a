"""PyTorch SDPA's math backend (`torch-math`: Q K^T, softmax and P V as separate cuBLAS/ATen kernels,
the S and P matrices in HBM: standard attention) for Reports/gpu/speed.csv, timed as
Benchmarks/gpu/torch_speed.py times flash and cuDNN: fp16, batch = 16384 / N, heads = 2048 / d,
CUDA events around 20 calls after 3 warm-up calls. fp16 reductions inside the math backend are
allowed (torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True), where this PyTorch has it):
without it the math backend upcasts Q, K, V to fp32. N values from $SPEED_N (default 1024 4096
16384). Prints CSV rows kernel,N,d,heads,dtype,causal,time_us,tflops,gpu."""
import os
import sys
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

gpu = torch.cuda.get_device_name().replace(",", " ")
reduced = hasattr(torch.backends.cuda, "allow_fp16_bf16_reduction_math_sdp")
if reduced:
    torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp(True)
print(f"# torch-math: fp16 reduction math allowed: {reduced}", file=sys.stderr)
for n in (int(x) for x in os.environ.get("SPEED_N", "1024 4096 16384").split()):
    for d in (64, 128):
        b, h = 16384 // n, 2048 // d
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        for causal in (False, True):
            try:
                with sdpa_kernel(SDPBackend.MATH):
                    for _ in range(3):
                        F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    torch.cuda.synchronize()
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    reps = 20 if n < 16384 else 5
                    start.record()
                    for _ in range(reps):
                        F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                    end.record()
                    torch.cuda.synchronize()
            except RuntimeError as e:  # out of memory at long N
                print(f"# torch-math N={n} d={d} causal={causal}: {str(e).splitlines()[0]}", file=sys.stderr)
                torch.cuda.empty_cache()
                continue
            us = start.elapsed_time(end) * 1000 / reps
            flops = 4 * b * h * n * n * d / (2 if causal else 1)
            print(f"torch-math,{n},{d},{h},fp16,{str(causal).lower()},{us:.3f},{flops / us / 1e6:.3f},{gpu}", flush=True)
        del q, k, v
        torch.cuda.empty_cache()
