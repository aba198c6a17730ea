"""The local launcher: a study's trainings and judges side by side on this machine (today's scheduler).

On a CPU one single-threaded process per core, up to two, and once no job waits the jobs still running share the
freed cores (jdvae/study/threads.py); on CUDA as many as the GPUs' memory and the cores allow, spread over the
visible GPUs (jdvae/study/scheduler.py). The SLURM launcher (jdvae/study/slurm.py) has the same three methods.
"""
from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from jdvae.config import RunConfig
from jdvae.errors import JdvaeError
from jdvae.machine import resolve_device
from jdvae.study import notebooks
from jdvae.study.jobs import Job
from jdvae.study.scheduler import GpuPool, side_by_side, visible_gpus
from jdvae.study.threads import shares, write_share
from jdvae.study.watch import StudyWatch


@dataclass(frozen=True)
class Placement:
    """Where a study's notebooks run: the device they are given, the trainings' CPU threads (None: torch's
    default) and the processes Table 1 evaluates side by side."""

    device: str
    threads: int | None
    workers: int


class _Shares:
    """Runs the side-by-side jobs, each on the GPU `pool` hands it (if any); on a CPU, once none waits, splits
    the cores among the trainings still running.

    Only CPU trainings follow a share (their thread count does not enter the run's config); the judge keeps
    its fixed thread count, so that its weights do not depend on the schedule."""

    def __init__(self, jobs: list[Job], threads: int | None, cores: int, folder: Path, pool: GpuPool | None = None,
                 follow: bool = True):
        self.total, self.threads, self.cores, self.folder = len(jobs), threads, cores, folder
        self.started, self.running, self.lock = 0, [], threading.Lock()
        self.pool, self.follow = pool or GpuPool([]), follow

    def share_file(self, job: Job) -> Path | None:
        if not self.threads or not self.follow or job.notebook != notebooks.TRAIN:
            return None
        return self.folder / f".{job.output.stem}.threads"

    def run(self, step, job: Job) -> None:
        share = self.share_file(job)
        with self.lock:
            self.started += 1
            self.running.append(job)
            if share is not None:
                write_share(share, self.threads)
        try:
            with self.pool.take() as gpu:
                step(job, self.threads, share, gpu=gpu)
        finally:
            with self.lock:
                self.running.remove(job)
                if share is not None:
                    share.unlink(missing_ok=True)
                if self.threads and self.started == self.total and self.running:  # nothing waits
                    each = shares(len(self.running), self.cores)
                    for other in self.running:
                        if (path := self.share_file(other)) is not None:
                            write_share(path, each)


class LocalLauncher:
    """Runs a study's jobs on this machine: `jobs` side by side (default: what the device allows); `gpus` lists
    the visible GPUs (tests pass a fake list)."""

    def __init__(self, jobs: int | None = None, gpus=visible_gpus):
        self.jobs, self.gpus = jobs, gpus
        self.lanes, self.cuda, self.pool = 1, False, GpuPool([])

    def place(self, device: str, cfg: RunConfig) -> Placement:
        """Resolve `device` here; one CPU thread per GPU job (it only launches kernels), a CPU's cores split
        among its jobs."""
        device = str(resolve_device(device))
        self.cuda = device.startswith("cuda")
        self.lanes = self.jobs or side_by_side(device, cfg, gpus=self.gpus)
        threads = 1 if self.cuda else None if self.lanes == 1 else max(1, (os.cpu_count() or 1) // self.lanes)
        self.pool = GpuPool(self.gpus() if device == "cuda" else [])  # a device named cuda:N keeps every job on it
        return Placement(device, threads, self.lanes)

    def describe(self) -> str:
        return f"{self.lanes} job(s) at a time"

    def run(self, pending: list[Job], step, threads: int | None, folder: Path, log) -> None:
        """Run the trainings and judges side by side, `step(job, threads, share_file, watch=, gpu=)` each; the
        failures are logged as they come and raised together at the end."""
        scheduler = _Shares(pending, threads, os.cpu_count() or 1, folder, self.pool, follow=not self.cuda)
        kinds = {job.title: dict(job.parameters).get("model", "judge") for job in pending}  # jobs of like cost
        watch = StudyWatch([job.title for job in pending], kinds, folder, self.lanes, log)
        with watch, ThreadPoolExecutor(max_workers=self.lanes) as executor:
            futures = [executor.submit(scheduler.run, functools.partial(step, watch=watch), job) for job in pending]
            errors = []
            for future in as_completed(futures):
                try:
                    future.result()
                except JdvaeError as e:
                    errors.append(str(e))
                    watch.log(f"  FAIL  {e}")
            if errors:
                raise JdvaeError(f"{len(errors)} training step(s) failed, first: {errors[0]}")

    def close(self, jobs: list[Job], step, log) -> None:
        """Table 1, claims and the figures, one notebook after the other."""
        for job in jobs:
            step(job)
