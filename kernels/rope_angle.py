"""cos and sin of RoPE angles pos·freq at up to millions of tokens, in fp32 without losing the angle.

A plain fp32 product pos·freq is rounded to its ulp: 0.03-0.06 rad at 1M tokens for the fastest pairs (freq near 1),
an error the rotation then carries into every rope dim. An fma recovers the product's rounding error exactly, and one
Cody-Waite step brings the angle to [-π, π] before cos/sin, so the result is within ~3e-7 rad of pos·freq in fp64
(what `reference.apply_rope` computes) and libdevice never takes its slow path for |x| > 105615. Shared by the
compressors (RoPE at each entry's anchor) and the split combine (the inverse RoPE at the query position).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def rope_cos_sin(pos, freq):
    """(cos, sin) of pos·freq for fp32 positions (exact below 2^24) and fp32 frequencies."""
    angle = pos * freq
    rounding = tl.fma(pos, freq, -angle)  # pos·freq = angle + rounding, exactly
    k = tl.floor(angle * 0.15915494309189535 + 0.5)
    r = tl.fma(k, -6.2831854820251465, angle)  # 2π rounded to fp32 ...
    r = tl.fma(k, 1.7484556000744883e-07, r) + rounding  # ... and what that rounding dropped
    return tl.cos(r), tl.sin(r)
