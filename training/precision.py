"""The precision the maths runs in: bf16 where the hardware multiplies it natively, else fp32.

Weights stay in their own dtype (fp32 on CPU: AdamW's small updates vanish in bf16); autocast runs
the matrix products in bf16 and keeps sums, norms and the loss in fp32. A CPU with AVX512-BF16 or
AMX (AMD Zen 4, Intel Sapphire Rapids and later) multiplied bf16 matrices about 3x faster than
fp32 ones here, and a whole LoRA step of SmolLM2-135M ran 1.5-1.7x faster, its loss moving by
2e-4 nats and its gradient keeping its direction (cosine 0.9998; benchmarks/precision.py).
Elsewhere bf16 is emulated and slower than fp32, so those CPUs stay in fp32.
"""

from __future__ import annotations

import contextlib

import torch


def cpu_bf16() -> bool:
    """Say whether this CPU multiplies bf16 matrices natively."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def fast_dtype(device: torch.device) -> torch.dtype | None:
    """Return the dtype autocast should compute in on `device`; None for plain fp32."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_bf16():
        return torch.bfloat16
    return None


def fast_maths(device: torch.device) -> contextlib.AbstractContextManager:
    """Return a context in which forward passes on `device` compute in its fast dtype."""
    dtype = fast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
