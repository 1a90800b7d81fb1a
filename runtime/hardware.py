"""Which GPUs are here (nvidia-smi, else torch), or which are named (`--gpus 4xH200`).

Memory figures are what nvidia-smi reports as memory.total (MiB), so a named set plans exactly like the same
set found on a host.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from wholerepo.errors import UsageError


@dataclass(frozen=True, slots=True)
class GpuKind:
    name: str
    memory_mib: int
    compute_capability: tuple[int, int]

    @property
    def memory_gib(self) -> float:
        return self.memory_mib / 1024

    @property
    def is_hopper(self) -> bool:
        return self.compute_capability[0] == 9

    @property
    def is_blackwell_datacenter(self) -> bool:
        """SM100 family (B200 10.0, B300 10.3): where vLLM's FP4 indexer cache and MegaMoE run."""
        return self.compute_capability[0] == 10


# nvidia-smi memory.total, MiB, and compute capability.
GPU_KINDS: dict[str, GpuKind] = {
    kind.name: kind
    for kind in (
        GpuKind("A100", 81_920, (8, 0)),
        GpuKind("L40S", 46_068, (8, 9)),
        GpuKind("H100", 81_559, (9, 0)),
        GpuKind("H200", 143_771, (9, 0)),
        GpuKind("B200", 183_359, (10, 0)),
        GpuKind("B300", 275_040, (10, 3)),
    )
}


@dataclass(frozen=True, slots=True)
class GpuSet:
    kind: GpuKind
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= 64:
            raise UsageError(f"GPU count must be 1..64, got {self.count}")

    @property
    def label(self) -> str:
        return f"{self.count}x{self.kind.name}"


def parse_gpu_set(spec: str) -> GpuSet:
    """'4xH200', '8 x b200', 'H200' (one)."""
    match = re.fullmatch(r"\s*(?:(\d+)\s*[x×*]\s*)?([A-Za-z0-9-]+)\s*", spec)
    if not match:
        raise UsageError(f"--gpus {spec!r}: write COUNTxNAME, e.g. 4xH200")
    name = match.group(2).upper()
    if name not in GPU_KINDS:
        raise UsageError(f"--gpus {spec!r}: unknown GPU {name}; known: {', '.join(GPU_KINDS)}")
    return GpuSet(GPU_KINDS[name], int(match.group(1) or 1))


def _kind_from_name(name: str, memory_mib: int, capability: tuple[int, int]) -> GpuKind:
    for known in GPU_KINDS.values():
        if re.search(rf"\b{known.name}\b", name.upper()):
            return GpuKind(known.name, memory_mib or known.memory_mib, capability)
    return GpuKind(name.removeprefix("NVIDIA ").strip(), memory_mib, capability)


def _parse_nvidia_smi(text: str) -> GpuSet | None:
    kinds = []
    for line in text.strip().splitlines():
        name, memory, capability = (part.strip() for part in line.split(","))
        major, _, minor = capability.partition(".")
        kinds.append(_kind_from_name(name, int(float(memory)), (int(major), int(minor or 0))))
    if not kinds:
        return None
    # Mixed hosts are rare; plan for the first kind over all of them.
    return GpuSet(kinds[0], len(kinds))


def detect_gpus() -> GpuSet | None:
    """The CUDA GPUs of this host, or None (the CPU default applies)."""
    if shutil.which("nvidia-smi"):
        try:
            done = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=20, check=False,
            )
            if done.returncode == 0 and done.stdout.strip():
                return _parse_nvidia_smi(done.stdout)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
    return _detect_with_torch()


def _detect_with_torch() -> GpuSet | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return None
    props = torch.cuda.get_device_properties(0)
    kind = _kind_from_name(props.name, props.total_memory // 2**20, (props.major, props.minor))
    return GpuSet(kind, torch.cuda.device_count())
