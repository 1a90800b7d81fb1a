"""Shared launcher checks: typed errors for wrong shapes/dtypes, and whether Triton runs interpreted."""

from __future__ import annotations

import os

import torch

from wholerepo.errors import UsageError


def interpreted(t: torch.Tensor) -> bool:
    """CPU tensors run under TRITON_INTERPRET=1; its bf16 tl.dot is wrong, so kernels dot in fp32 there."""
    return t.device.type == "cpu" or os.environ.get("TRITON_INTERPRET") == "1"


PDL_ENABLED = False  # programmatic dependent launch between the decode kernels: off, it cost 8-16 µs at batch 1
# on the H200 (bench/results, round 4); the bench's probe still compares it


def use_pdl(t: torch.Tensor) -> bool:
    """Hopper and later overlap a kernel's launch and prologue with the previous kernel's tail (PDL); the
    kernels wait (griddepcontrol.wait) before reading what that kernel wrote."""
    return (PDL_ENABLED and t.device.type == "cuda" and not interpreted(t)
            and torch.cuda.get_device_capability(t.device)[0] >= 9)


def pdl_launch(pdl: bool) -> dict[str, bool]:
    """The launch option, passed only when on (the CPU interpreter takes no launch_pdl)."""
    return {"launch_pdl": True} if pdl else {}


def check_shape(name: str, t: torch.Tensor, shape: tuple[int, ...]) -> None:
    if tuple(t.shape) != shape:
        raise UsageError(f"{name} has shape {tuple(t.shape)}, expected {shape}: pass tensors shaped as documented")


def check_dtype(name: str, t: torch.Tensor, dtypes: tuple[torch.dtype, ...]) -> None:
    if t.dtype not in dtypes:
        raise UsageError(f"{name} has dtype {t.dtype}, expected one of {dtypes}: cast it before the call")


def check_last_contiguous(name: str, t: torch.Tensor) -> None:
    if t.stride(-1) != 1:
        raise UsageError(f"{name} must be contiguous in its last dim: call .contiguous() first")


def check_power_of_two(name: str, value: int) -> None:
    if value <= 0 or value & (value - 1):
        raise UsageError(f"{name}={value} must be a power of two for these kernels")
