"""PyTorch SDPA timings (flash and cuDNN backends) for Reports/gpu/speed.csv: fp16, 16K tokens per
batch (batch = 16384 / N), hidden 2048 (heads = 2048 / d), as in the FlashAttention-2 paper's
benchmarks. Prints CSV rows kernel,N,d,heads,dtype,causal,time_us,tflops,gpu (heads = batch*heads
is not folded: the heads column is per sequence, and the batch is 16384 / N)."""
import sys
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

gpu = torch.cuda.get_device_name().replace(",", " ")
backends = [("torch-flash", SDPBackend.FLASH_ATTENTION), ("torch-cudnn", SDPBackend.CUDNN_ATTENTION)]
for n in (1024, 4096, 16384):
    for d in (64, 128):
        b, h = 16384 // n, 2048 // d
        q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=torch.float16) for _ in range(3))
        for causal in (False, True):
            for name, backend in backends:
                try:
                    with sdpa_kernel(backend):
                        for _ in range(3):
                            F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        torch.cuda.synchronize()
                        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        reps = 20
                        start.record()
                        for _ in range(reps):
                            F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        end.record()
                        torch.cuda.synchronize()
                except RuntimeError as e:
                    print(f"# {name} N={n} d={d} causal={causal}: {str(e).splitlines()[0]}", file=sys.stderr)
                    continue
                us = start.elapsed_time(end) * 1000 / reps
                flops = 4 * b * h * n * n * d / (2 if causal else 1)
                print(f"{name},{n},{d},{h},fp16,{str(causal).lower()},{us:.3f},{flops / us / 1e6:.3f},{gpu}", flush=True)
print("torch", torch.__version__, file=sys.stderr)
