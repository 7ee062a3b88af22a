"""Runs PyTorch's flash SDPA kernel once per shape (after a warm-up) so Nsight Compute can
measure it. fp16, batch 1, 8 heads, N = 4096, d in {64, 128}, non-causal."""
import sys
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

torch.manual_seed(0)
for d in (64, 128):
    q, k, v = (torch.randn(1, 8, 4096, d, device="cuda", dtype=torch.float16) for _ in range(3))
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        for _ in range(2):
            torch.nn.functional.scaled_dot_product_attention(q, k, v)
    torch.cuda.synchronize()
print("torch", torch.__version__, torch.cuda.get_device_name(), file=sys.stderr)
