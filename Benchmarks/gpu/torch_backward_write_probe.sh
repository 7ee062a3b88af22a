#!/usr/bin/env bash
# On the GPU machine, from the repository root: where the SM->L2 writes (and the few extra L2->SM reads)
# of PyTorch's FA2 backward main kernel come from — dQ atomics (RED), global stores (dK, dV), or
# register spills (local stores). Same workload as measure_torch_backward.sh's step A
# (torch_backward.py ncu), only the main kernel (-k regex:dq_dk_dv), ncu's details page.
# Writes $OUT/bwd_write_probe.txt.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-out}; mkdir -p "$OUT"
exec > >(tee -a "$OUT/bwd_write_probe.txt") 2>&1
PY=Benchmarks/gpu/torch_backward.py
echo "== metric names this ncu knows (gh100)"
Q=$(ncu --query-metrics --chip gh100 2>/dev/null)
echo "$Q" | grep -E "^(l1tex__m_xbar2l1tex_read_bytes|l1tex__m_l1tex2xbar_write_bytes|l1tex__t_bytes_pipe_lsu_mem_local|smsp__sass_inst_executed_op_(local|global_red|global_atom|global_st))" | cut -c1-160
W=$(echo "$Q" | grep -oE "^l1tex__m_l1tex2xbar_write_bytes_mem_(global_op_red|global_op_atom|lg_op_st)\b" | sort -u | sed 's/$/.sum/' | paste -sd, -)
R=$(echo "$Q" | grep -oE "^l1tex__m_xbar2l1tex_read_bytes_mem_[a-z_]+" | sort -u | sed 's/$/.sum/' | paste -sd, -)
I=$(echo "$Q" | grep -oE "^smsp__sass_inst_executed_op_(local_ld|local_st|global_red|global_atom|global_st|global_ld|ldgsts)\b" | sort -u | sed 's/$/.sum/' | paste -sd, -)
M=l1tex__m_xbar2l1tex_read_bytes.sum,l1tex__m_l1tex2xbar_write_bytes.sum,l1tex__t_bytes_pipe_lsu_mem_local_op_st.sum,l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum
for x in "$W" "$R" "$I"; do [ -n "$x" ] && M=$M,$x; done
echo "metrics: $M"
INC=$(python3 $PY ranges)
echo "ncu --clock-control none --nvtx $INC -k regex:dq_dk_dv --section LaunchStats --metrics \$M python3 $PY ncu"
timeout 300 ncu --clock-control none --nvtx $INC -k regex:dq_dk_dv --section LaunchStats --metrics "$M" \
  python3 $PY ncu 2>&1 | grep -vE "^==PROF== Profiling|^\s*-{5,}"
echo "rc=$?"
