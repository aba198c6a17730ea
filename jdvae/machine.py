"""The machine: the device a run uses, the CPU as a kind, and the jdvae commit checked out (where a number was measured)."""
from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from jdvae.errors import JdvaeError
from jdvae.io import PROJECT_ROOT

if TYPE_CHECKING:
    import torch


def cpu_model() -> str:
    """The CPU as a kind: /proc/cpuinfo's "model name", family and model, and the kernels torch picks on it.

    E.g. "AMD EPYC (family 25, model 17; torch AVX512)". Two CPUs sold under one name (an AVX2-only EPYC and an
    AVX-512 one) train different weights from the same command, so the name alone does not identify the machine.
    """
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""

    def field(key: str) -> str | None:
        found = re.search(rf"^{key}\s*:\s*(.+)$", text, flags=re.MULTILINE)
        return found.group(1).strip() if found else None

    name = field("model name") or platform.processor() or "unknown"
    family, model = field("cpu family"), field("model")
    try:
        import torch
        kernels = torch.backends.cpu.get_cpu_capability()
    except (ImportError, AttributeError):
        kernels = None
    details = ", ".join(x for x in (family and f"family {family}", model and f"model {model}") if x)
    details = "; ".join(x for x in (details, kernels and f"torch {kernels}") if x)
    return f"{name} ({details})" if details else name


def git_commit() -> str:
    """The jdvae commit checked out (git rev-parse HEAD), or "unknown" outside a git clone."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a JdvaeError."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise JdvaeError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise JdvaeError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)
