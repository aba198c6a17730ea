"""A study's unit of work: one notebook executed with papermill in a subprocess, wherever a launcher runs it
(side by side here, jdvae/study/local.py, or as a SLURM task, jdvae/study/slurm.py)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from jdvae.errors import JdvaeError
from jdvae.study import notebooks
from jdvae.study.progress import ENV as PROGRESS_ENV
from jdvae.study.threads import ENV as THREADS_ENV


@dataclass(frozen=True)
class Job:
    """One papermill execution: a notebook, its parameters and the executed copy's path."""

    title: str
    notebook: str
    parameters: tuple[tuple[str, object], ...]
    output: Path

    @property
    def log_file(self) -> Path:
        """Where the notebook's output goes, beside the executed copy."""
        return self.output.with_suffix(".log")


def last_error(lines: list[str]) -> str:
    """The last line that names an error (else the last line) of a log's lines, stripped and cut to 300 characters."""
    lines = [line for line in lines if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line] or lines
    return (errors[-1] if errors else "?").strip()[:300]


def execute(job: Job, threads: int | None, share_file: Path | None = None, progress_file: Path | None = None,
            gpu: str | None = None) -> float:
    """Run one notebook with papermill in a subprocess, its output in a log file beside the executed notebook;
    `gpu` becomes its CUDA_VISIBLE_DEVICES. A failure is a JdvaeError naming the job, its log file and the last
    line of its error."""
    notebook = notebooks.FOLDER / job.notebook
    if not notebook.exists():
        raise JdvaeError(f"notebook {notebook} is missing; restore the notebooks/ folder from the repository")
    cmd = [sys.executable, "-m", "papermill", str(notebook), str(job.output), "--no-progress-bar", "--log-level", "ERROR"]
    for name, value in job.parameters:
        cmd += ["-p", name, str(value)]  # papermill reads ints, floats and True/False back from the text
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if share_file is not None:
        env[THREADS_ENV] = str(share_file)
    if progress_file is not None:
        env[PROGRESS_ENV] = str(progress_file)
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    t0 = time.perf_counter()
    with open(job.log_file, "w") as out:
        result = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        error = last_error(job.log_file.read_text(errors="replace").splitlines())
        raise JdvaeError(f"{job.title} failed: {error}; log {job.log_file}, "
                         f"notebook {job.output}; fix the cause and rerun: complete steps are kept")
    return time.perf_counter() - t0
