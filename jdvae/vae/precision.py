"""Which arithmetic the training step runs in: `train.precision = auto | fp32 | bf16`.

bf16 autocast pays where the hardware multiplies bf16 natively: CUDA GPUs from Ampere on, and
CPUs with AMX (amx_bf16) or AVX512-BF16 (avx512_bf16), read from /proc/cpuinfo at start. `auto`
picks bf16 there and fp32 elsewhere (on a CPU without them bf16 is emulated and slower). Only the
forward pass is autocast; its outputs are cast back to fp32 before the loss (`to_fp32`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

from jdvae.config import PRECISIONS
from jdvae.errors import JdvaeError

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native bf16 matrix arithmetic


@dataclass(frozen=True)
class Precision:
    """The precision chosen for a device, and why."""

    name: str  # "fp32" or "bf16"
    reason: str

    @property
    def bf16(self) -> bool:
        return self.name == "bf16"

    def autocast(self, device: torch.device | str):
        """bf16 autocast on `device` when chosen, else a no-op context."""
        kind = torch.device(device).type
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(kind, dtype=torch.bfloat16)

    def describe(self) -> str:
        return f"precision {self.name} ({self.reason})"


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags of the first processor in /proc/cpuinfo (empty when unreadable, e.g. not Linux)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_bf16(flags: frozenset[str] | set[str] | None = None) -> tuple[bool, str]:
    """(True, which flag) when this CPU multiplies bf16 natively, else (False, what it lacks)."""
    flags = cpu_flags() if flags is None else flags
    found = [f for f in CPU_BF16_FLAGS if f in flags]
    if found:
        return True, f"CPU has {'/'.join(found)}"
    capability = _cpu_capability()
    return False, f"CPU has no {' or '.join(CPU_BF16_FLAGS)} (torch CPU capability {capability})"


def _cpu_capability() -> str:
    try:
        return torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch or an unusual build: only a detail of the message
        return "unknown"


def check(name: str) -> None:
    """Refuse an unknown precision name with the allowed ones."""
    if name not in PRECISIONS:
        raise JdvaeError(f"train.precision = {name!r} is unknown; use one of {', '.join(PRECISIONS)} "
                         f"(e.g. --set train.precision=auto)")


def resolve(requested: str, device: torch.device | str, flags: frozenset[str] | set[str] | None = None) -> Precision:
    """The precision `requested` ('auto', 'fp32', 'bf16') means on `device`; `flags` fakes the CPU's flags (tests)."""
    check(requested)
    device = torch.device(device)
    if requested == "fp32":
        return Precision("fp32", "asked for")
    if device.type == "cuda":
        supported = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        gpu = torch.cuda.get_device_name(device) if torch.cuda.is_available() else "no GPU"
        if supported:
            return Precision("bf16", f"{'asked for' if requested == 'bf16' else 'auto'}: {gpu} has bf16")
        if requested == "bf16":
            raise JdvaeError(f"train.precision = bf16 was asked for but {gpu} has no bf16 arithmetic; "
                             f"use --set train.precision=auto or fp32")
        return Precision("fp32", f"auto: {gpu} has no bf16 arithmetic")
    if device.type != "cpu":
        return Precision("fp32", f"auto: no bf16 rule for device type {device.type}") if requested == "auto" \
            else Precision("bf16", "asked for")
    native, why = cpu_bf16(flags)
    if requested == "bf16":
        return Precision("bf16", "asked for" + ("" if native else f"; {why}: emulated, slower than fp32"))
    return Precision("bf16" if native else "fp32", f"auto: {why}")


def to_fp32(out):
    """A forward NamedTuple (or tensor) with every floating tensor in fp32, so that the losses run in fp32."""
    if isinstance(out, torch.Tensor):
        return out.float() if out.is_floating_point() else out
    if isinstance(out, tuple) and hasattr(out, "_fields"):
        return type(out)(*(to_fp32(v) if isinstance(v, torch.Tensor) else v for v in out))
    return out
