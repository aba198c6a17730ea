"""Thread shares of side-by-side CPU trainings: the last one running alone gets the idle cores.

`jdvae reproduce` runs its trainings as single-threaded processes, two at a time on a 2-core CPU. Once
no job waits, a core frees up with every job that ends, and the last training would run on one core
while the other idles. The scheduler writes each running job's share of the cores into a small file
named by the job's JDVAE_THREADS_FILE; the trainer reads it every `EVERY` steps and calls
torch.set_num_threads. Without the variable (every other use of the trainer) nothing changes.
The thread count does not enter the run's config (it is in IGNORED_ON_RESUME); on a CPU it can change
the last bits of a reduction, not what a model learns.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from jdvae.io import atomic_write_text

ENV = "JDVAE_THREADS_FILE"
EVERY = 100  # steps between reads: about 20 s of quick training on one core


def write_share(path: str | os.PathLike, threads: int) -> None:
    """Tell the job that reads `path` to use `threads` torch threads from its next read on."""
    atomic_write_text(path, f"{max(1, int(threads))}\n")


def read_share(path: str | os.PathLike | None = None) -> int | None:
    """The share in the file named by `path` (default: $JDVAE_THREADS_FILE); None when unset, missing or unreadable."""
    path = path or os.environ.get(ENV)
    if not path:
        return None
    try:
        n = int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None  # a missing or half-written file keeps the current count
    return n if n > 0 else None


def follow_share() -> int:
    """Adopt the share written for this process, if any; returns the thread count now in use."""
    n = read_share()
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return torch.get_num_threads()


def shares(running: int, cores: int) -> int:
    """Threads for each of `running` jobs once none waits: the cores split evenly, at least one each."""
    return max(1, cores // max(1, running))
