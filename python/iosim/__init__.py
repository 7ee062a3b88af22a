"""Check attention kernel outputs against iosim's exact reference (docs/numerics.md, docs/cli.md §5).

``check()`` writes the arrays to temporary ``.npy`` files, runs ``iosim check`` (the executable
named by the ``IOSIM`` environment variable, else ``iosim`` on ``PATH``) and returns its
:class:`Report`; ``assert_attention_close()`` raises ``AssertionError`` carrying the report when
a tensor is outside the tolerance rule. Arrays are NumPy arrays or PyTorch tensors (moved to the
CPU; bf16 and fp8 tensors are passed as their raw bits with ``--bf16-bits`` / ``--fp8-bits``).
"""
from ._check import (IOSimError, Report, TensorReport, assert_attention_close, block_table, check,
                     documents_from_cu_seqlens, executable)

__all__ = ["check", "assert_attention_close", "block_table", "documents_from_cu_seqlens", "Report", "TensorReport",
           "IOSimError", "executable"]
__version__ = "0.1.0"
