#!/usr/bin/env bash
# Experiment (GPU machine): fa2 at d = 64 with 128-row K/V tiles, Q in registers or not.
set -u
OUT=${OUT:-out}
for v in "128 0" "128 1"; do
  set -- $v
  B=Backends/CUDA/build/x$1q$2; mkdir -p $B
  nvcc -O3 -std=c++17 -DFA2_NARROW_BC=$1 -DFA2_Q_IN_REGS=$2 -gencode=arch=compute_90a,code=sm_90a -Xptxas -v -o $B/attn Backends/CUDA/driver.cu 2> $B/ptx.txt || { tail -5 $B/ptx.txt; continue; }
  grep -A1 "Li64E.*sm_90a" $B/ptx.txt | grep -E "Used|spill" | head -2
  for c in "" --causal; do
    echo "bc=$1 qreg=$2 $c L2->SM $(ncu --clock-control none --metrics l1tex__m_xbar2l1tex_read_bytes.sum --csv $B/attn fa2 fp16 --B 1 --H 8 --N 4096 --D 64 $c 2>&1 | grep xbar | sed 's/.*"byte","//')"
  done
  for n in 1024 4096 16384; do for c in "" --causal; do
    echo "bc=$1 qreg=$2 N=$n $c $($B/attn fa2 fp16 --B $((16384 / n)) --H 32 --N $n --D 64 $c --time 10 | grep time_us)"
  done; done
done
python3 - <<'PY'
import torch, torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
for n in (1024, 4096, 16384):
    q, k, v = (torch.randn(16384 // n, 32, n, 64, device="cuda", dtype=torch.float16) for _ in range(3))
    for causal in (False, True):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            for _ in range(3): F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            torch.cuda.synchronize(); s, e = torch.cuda.Event(True), torch.cuda.Event(True); s.record()
            for _ in range(20): F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            e.record(); torch.cuda.synchronize()
        us = s.elapsed_time(e) * 50
        print(f"torch N={n} causal={causal} time_us={us:.1f} tflops={4*16384*32*n*64/(2 if causal else 1)/us/1e6:.1f}")
PY
