"""How many of a study's jobs run side by side, and on which GPU each one runs.

On a CPU: one single-threaded process per core, up to two (jdvae/study/threads.py hands freed cores to the last
ones). On CUDA: as many processes as the visible GPUs' memory holds and the CPU has cores, each on one CPU
thread (a GPU job's CPU thread only launches kernels); with several GPUs each job gets the one running the
fewest jobs, through its own CUDA_VISIBLE_DEVICES.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from jdvae.config import RunConfig

CONTEXT_GIB = 1.0  # a CUDA context with cuDNN and cuBLAS workspaces, per process
PAPER_STEP_GIB = 2.0  # PA1's training step at 128 px, width 1, batch 32 in fp32 (docs/gpu.md: 1.44 GiB), rounded up
KEEP_FREE = 0.1  # of each GPU's memory, for fragmentation and the evaluation's spikes


@dataclass(frozen=True)
class Gpu:
    """A visible GPU: the id a child process names in CUDA_VISIBLE_DEVICES, and its memory."""

    id: str
    memory_gib: float


def visible_gpus() -> list[Gpu]:
    """The GPUs torch sees here, under the ids this process's CUDA_VISIBLE_DEVICES gives them (if set)."""
    import torch

    if not torch.cuda.is_available():
        return []
    count = torch.cuda.device_count()
    named = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    ids = named[:count] if len(named) >= count else [str(i) for i in range(count)]
    return [Gpu(ids[i], torch.cuda.get_device_properties(i).total_memory / 2**30) for i in range(count)]


def job_memory_gib(cfg: RunConfig) -> float:
    """GPU memory one training of `cfg` may take: the context, the step scaled from the paper's by pixels per batch
    and width (activations grow with both), and the training images kept on the GPU as uint8 (jdvae/vae/levers.py)."""
    pixels = cfg.train.batch_size * cfg.data.image_size ** 2 / (32 * 128 ** 2)
    images = cfg.data.n_train * cfg.data.image_size ** 2 * 3 / 2**30
    return CONTEXT_GIB + PAPER_STEP_GIB * pixels * max(cfg.model.width, 0.125) + images


def gpu_jobs(gpus: list[Gpu], cores: int, per_job_gib: float) -> int:
    """Jobs side by side on `gpus`: as many as their memory holds (a tenth kept free), at most one per core."""
    fit = sum(int(g.memory_gib * (1 - KEEP_FREE) // per_job_gib) for g in gpus)
    return max(1, min(cores, fit))


def side_by_side(device: str, cfg: RunConfig | None = None, cores: int | None = None,
                 gpus: Callable[[], list[Gpu]] = visible_gpus) -> int:
    """Processes run side by side by default on `device`: one per core (up to two) on a CPU; on CUDA, what the
    GPUs' memory and the cores allow for trainings of `cfg` (`gpus` lists the GPUs; tests pass a fake list)."""
    cores = cores or os.cpu_count() or 1
    if not device.startswith("cuda"):
        return max(1, min(2, cores))
    per_job = job_memory_gib(cfg) if cfg is not None else CONTEXT_GIB + PAPER_STEP_GIB
    return gpu_jobs(gpus(), cores, per_job)


class GpuPool:
    """Hands each starting job the GPU running the fewest jobs (the first such one), as a CUDA_VISIBLE_DEVICES."""

    def __init__(self, gpus: list[Gpu]):
        self.running = {g.id: 0 for g in gpus}
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def take(self) -> Iterator[str | None]:
        """The id of the GPU this job runs on while inside the block (None without GPUs: nothing to choose)."""
        if not self.running:
            yield None
            return
        with self.lock:
            gpu = min(self.running, key=lambda g: self.running[g])
            self.running[gpu] += 1
        try:
            yield gpu
        finally:
            with self.lock:
                self.running[gpu] -= 1
