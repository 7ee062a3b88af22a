"""On the GPU machine (issue 27, item 4): PyTorch's compiled FlexAttention forward, causal, fp16,
N = 8192, batch 1, 8 heads, at d = 64 and d = 256 (the d = 128 cases are flex_masks.py's), each
call inside an NVTX range fd_d<d> for ncu. Grad mode stays on (PyTorch's default), so the kernel
writes the LSE too, as at d = 128. Prints each output's max relative error against an fp32
reference on the first 256 rows.
    ncu --clock-control none --nvtx --nvtx-include fd_d64/ --nvtx-include fd_d256/ --metrics ... python3 flex_head_dims.py"""
import torch
from torch.nn.attention.flex_attention import create_block_mask, flex_attention

N, H = 8192, 8
flex = torch.compile(flex_attention, dynamic=False)
block_mask = create_block_mask(lambda b, h, q, k: q >= k, None, None, N, N, device="cuda")
for d in (64, 256):
    g = torch.Generator(device="cuda").manual_seed(d)
    q, k, v = (torch.randn(1, H, N, d, dtype=torch.float16, device="cuda", generator=g) for _ in range(3))
    for _ in range(2):  # compile and warm up outside the profiled range
        o = flex(q, k, v, block_mask=block_mask)
    torch.cuda.synchronize()
    torch.cuda.nvtx.range_push(f"fd_d{d}")
    o = flex(q, k, v, block_mask=block_mask)
    torch.cuda.synchronize()
    torch.cuda.nvtx.range_pop()
    rows = 256
    s = (q[:, :, :rows].float() @ k.float().transpose(-1, -2)) / d ** 0.5
    s = s.masked_fill(torch.arange(N, device="cuda")[None, :] > torch.arange(rows, device="cuda")[:, None], float("-inf"))
    ref = torch.softmax(s, -1) @ v.float()
    err = ((o[:, :, :rows].float() - ref).abs().max() / ref.abs().max()).item()
    print(f"d={d} rel_err={err:.2e}", flush=True)
