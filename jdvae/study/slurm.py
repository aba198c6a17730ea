"""The SLURM launcher: a study's trainings and judges as the tasks of one job array, through submitit.

Each task runs its notebook on its node (device and threads resolved there) and trains into its run folder, so a
task requeued after its time limit or a preemption resumes from its own state.pt (jdvae/study/slurm_tasks.py);
a finished run is skipped before anything is submitted. Table 1, claims and the figures follow as one more task
once the array has ended. The tasks are recorded in the job folder (jdvae/study/follow.py): the same command run
again follows them instead of submitting twice. RUNS and the job folder must be on a file system the nodes share
(docs/cluster.md). submitit pickles every task into the job folder, and whoever can write there can run code as
the user: it is created private (0700), and one that others may write is refused.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from jdvae.config import RunConfig
from jdvae.errors import JdvaeError
from jdvae.study.follow import Task, add_to_record, follow, queue, read_record
from jdvae.study.jobs import Job
from jdvae.study.local import Placement

# a task's default time limit in minutes, per profile: a task that reaches it is requeued and resumes
MINUTES = {"smoke": 30, "quick": 240, "paper": 1440}
EXTRA = "pip install -e '.[slurm]'"


@dataclass(frozen=True)
class SlurmOptions:
    """What the tasks ask SLURM for; None: the default a user expects (one GPU per task on CUDA and none with
    --device cpu, the profile's thread count or one CPU, a time limit from the profile, the cluster's partition)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    gpus_per_job: int | None = None
    cpus_per_job: int | None = None
    mem_per_job: str | None = None  # sbatch's --mem, e.g. 16G
    time: int | None = None  # minutes
    max_parallel: int | None = None  # tasks of the array running at once (None: as many as SLURM allows)
    job_dir: Path | None = None  # default RUNS/slurm
    sets: tuple[tuple[str, str], ...] = ()  # further sbatch options, e.g. (("constraint", "a100"),)
    dry_run: bool = False
    nodes: int = 1  # `jdvae train` over several nodes
    gpus_per_node: int | None = None

    def __post_init__(self):
        for name in ("gpus_per_job", "cpus_per_job", "time", "max_parallel", "nodes", "gpus_per_node"):
            value = getattr(self, name)
            if value is not None and value < (0 if name.startswith("gpus") else 1):
                raise JdvaeError(f"--{name.replace('_', '-')} {value} is out of range; give a positive number")
        if self.mem_per_job is not None and not re.fullmatch(r"\d+[KMGT]?", self.mem_per_job):
            raise JdvaeError(f"--mem-per-job {self.mem_per_job!r} is not sbatch's --mem syntax; e.g. 16G or 4000M")


def parse_slurm_sets(items: list[str]) -> tuple[tuple[str, str], ...]:
    """--slurm-set key=value pairs: sbatch long options without the dashes, e.g. constraint=a100."""
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise JdvaeError(f"--slurm-set {item!r} must be KEY=VALUE with an sbatch long option as KEY, e.g. "
                             "--slurm-set constraint=a100")
        pairs.append((key, value))
    return tuple(pairs)


def private_folder(folder: Path, create: bool = True) -> Path:
    """The job folder, created 0700; an existing one that others can write is refused (they could run code as
    the user through the pickles submitit loads from it)."""
    folder = Path(folder).absolute()
    if folder.exists():
        mode = folder.stat().st_mode
        if not stat.S_ISDIR(mode):
            raise JdvaeError(f"job folder {folder} is not a folder; give another --job-dir")
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise JdvaeError(f"job folder {folder} can be written by others (mode {stat.S_IMODE(mode):o}), who could run "
                             f"code as you through it; `chmod 700 {folder}` or give another --job-dir")
        return folder
    if not create:
        parent = next(p for p in folder.parents if p.exists())
        if not os.access(parent, os.W_OK | os.X_OK):
            raise JdvaeError(f"cannot create job folder {folder} ({parent} is not writable); give another --job-dir")
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        folder.chmod(0o700)  # whatever the umask
    except OSError as e:
        raise JdvaeError(f"cannot create job folder {folder}: {e.strerror}; give another --job-dir") from None
    return folder


def check_cluster(partition: str | None) -> None:
    """sbatch and srun on PATH, and the partition known to the cluster."""
    for program in ("sbatch", "srun", "squeue"):
        if shutil.which(program) is None:
            raise JdvaeError(f"{program} is not on PATH: run this on a SLURM login node, or drop --launcher slurm "
                             "to run here")
    if partition is None:
        return
    out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=60)
    known = [p.rstrip("*") for p in out.stdout.split()]
    if out.returncode != 0:
        raise JdvaeError(f"sinfo failed ({out.stderr.strip()[:200]}); check that the cluster answers, then rerun")
    if partition not in known:
        raise JdvaeError(f"unknown partition {partition!r}; this cluster has {', '.join(known) or 'none'} (sinfo)")


def sbatch_parameters(options: SlurmOptions, profile_name: str, device: str, name: str,
                      threads: int | None = None) -> dict:
    """submitit's SlurmExecutor parameters for a task of this study (array size and parallelism aside)."""
    gpus = options.gpus_per_job if options.gpus_per_job is not None else (0 if device == "cpu" else 1)
    extra = dict(options.sets)
    if options.mem_per_job:
        extra["mem"] = options.mem_per_job
    params = {"job_name": name, "time": options.time or MINUTES.get(profile_name, 60),
              "cpus_per_task": options.cpus_per_job or threads or 1, "nodes": options.nodes, "ntasks_per_node": 1,
              "signal_delay_s": 120, "additional_parameters": extra}  # USR2 two minutes before the limit: requeue
    if gpus:
        params["gpus_per_node"] = gpus
    for key in ("partition", "account", "qos"):
        if getattr(options, key):
            params[key] = getattr(options, key)
    if options.max_parallel:
        params["array_parallelism"] = options.max_parallel
    return params


def sbatch_script(params: dict, folder: Path, count: int | None = None) -> str:
    """The sbatch file submitit writes for these parameters (an array of `count` tasks when count > 1)."""
    from submitit.slurm.slurm import _make_sbatch_string  # what SlurmExecutor writes: shown by --dry-run, tested

    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=folder, map_count=count if count and count > 1 else None,
                               **params)


def need_submitit() -> None:
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise JdvaeError(f"--launcher slurm needs submitit, which is not installed; install it with {EXTRA}") from None


@dataclass
class SlurmLauncher:
    """Runs a study's trainings and judges as SLURM tasks; checks what it can when made (`check`)."""

    options: SlurmOptions
    profile_name: str
    device: str  # as asked: "auto" and "cuda" resolve on the node
    folder: Path
    threads: int | None = field(default=None, init=False)

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    def check(self) -> "SlurmLauncher":
        """Bad input, before anything runs: one line each (jdvae.errors.JdvaeError)."""
        need_submitit()
        if self.device == "cpu" and (self.options.gpus_per_job or self.options.gpus_per_node):
            raise JdvaeError("--gpus-per-job/--gpus-per-node above 0 with --device cpu; drop one of them")
        self.folder = private_folder(self.folder, create=not self.options.dry_run)
        if not self.options.dry_run:
            check_cluster(self.options.partition)
        return self

    def place(self, device: str, cfg: RunConfig) -> Placement:
        """The device as asked (the notebooks resolve auto on the node); the profile's threads, else one per task."""
        self.threads = self.options.cpus_per_job or cfg.train.threads or 1
        return Placement(device, self.threads, 1)

    def describe(self) -> str:
        at_once = self.options.max_parallel or "all"
        return (f"SLURM tasks ({at_once} at a time) on partition {self.options.partition or '(default)'}, "
                f"job folder {self.folder}")

    def parameters(self) -> dict:
        return sbatch_parameters(self.options, self.profile_name, self.device, f"jdvae-{self.profile_name}",
                                 self.threads)

    def submit(self, groups: list[tuple[str, tuple[Job, ...]]], log) -> list[Task]:
        """Follow the recorded tasks still queued or running; submit the other groups as one array."""
        record, queued = read_record(self.folder), queue() or {}
        tasks, new = [], []
        for title, jobs in groups:
            job_id = record.get(title)
            if job_id in queued:
                log(f"  follow {job_id:<9} {title} (submitted before)")
                tasks.append(Task(title, job_id, self.folder))
            else:
                new.append((title, jobs))
        if self.options.dry_run:
            log(f"  dry run: would submit {len(new)} task(s) with this sbatch file (partition not checked, "
                f"nothing submitted):")
            log(sbatch_script(self.parameters(), self.folder, len(new)))
            for i, (title, jobs) in enumerate(new):
                log(f"  task {i}: {title}: " + "; ".join(f"{j.notebook} {dict(j.parameters)}" for j in jobs))
            return []
        if new:
            import submitit
            from jdvae.study.slurm_tasks import NotebookTask

            executor = submitit.SlurmExecutor(folder=self.folder)
            executor.update_parameters(**self.parameters())
            with executor.batch():
                submitted = [executor.submit(NotebookTask(), jobs, self.threads) for _, jobs in new]
            fresh = [Task(title, job.job_id, self.folder) for (title, _), job in zip(new, submitted)]
            add_to_record(self.folder, fresh)
            for task in fresh:
                log(f"  queued {task.job_id:<9} {task.title}  (log {task.err})")
            tasks += fresh
        return tasks

    def _wait(self, groups, log) -> None:
        tasks = self.submit(groups, log)
        try:
            failures = follow(tasks, log)
        except KeyboardInterrupt:
            log(f"  the tasks keep running: rerun the same command to follow them, `jdvae status RUNS` to see them, "
                f"`scancel {' '.join(sorted({t.job_id.split('_')[0] for t in tasks}))}` to stop them")
            raise
        if failures:
            raise JdvaeError(f"{len(failures)} SLURM task(s) failed, first: {failures[0]}; fix the cause and rerun: "
                             "finished runs are kept")

    def run(self, pending: list[Job], step, threads: int | None, folder: Path, log) -> None:
        """The trainings and judges, one task each; returns when every task has ended."""
        self._wait([(job.title, (job,)) for job in pending], log)

    def close(self, jobs: list[Job], step, log) -> None:
        """Table 1, claims and the figures: one task running the notebooks in order, on a node."""
        if self.options.dry_run:
            log("  dry run: then one task for " + ", ".join(job.title for job in jobs))
            return
        self._wait([("tables and figures", tuple(jobs))], log)

    def train(self, argv: list[str], log) -> None:
        """One `jdvae train ARGV` over `nodes` nodes: one task per node, each starting torchrun with one process
        per GPU (one on a CPU); the processes meet in torchrun's c10d rendezvous on the first node, and a requeued
        job resumes from the run's state.pt (ARGV carries --resume)."""
        from jdvae.study.slurm_tasks import torchrun_command

        procs = self.options.gpus_per_node if self.options.gpus_per_node is not None else (0 if self.device == "cpu" else 1)
        params = sbatch_parameters(replace(self.options, gpus_per_job=procs), self.profile_name, self.device,
                                   "jdvae-train", self.options.cpus_per_job or max(procs, 1))
        procs = max(procs, 1)
        if self.options.dry_run:
            log("  dry run: would submit this sbatch file (partition not checked, nothing submitted):")
            log(sbatch_script(params, self.folder))
            log("  each node runs: " + shlex.join(torchrun_command(self.options.nodes, procs, "FIRST_NODE",
                                                                   "SLURM_JOB_ID", argv)))
            return
        import submitit
        from jdvae.study.slurm_tasks import TorchrunTask

        executor = submitit.SlurmExecutor(folder=self.folder)
        executor.update_parameters(**params)
        job = executor.submit(TorchrunTask(), argv, procs)
        task = Task(f"train {argv[argv.index('--out') + 1]}", job.job_id, self.folder)
        add_to_record(self.folder, [task])
        log(f"  queued {task.job_id:<9} {task.title}  (log {task.err})")
        failures = follow([task], log)
        if failures:
            raise JdvaeError(f"the SLURM training failed: {failures[0]}; fix the cause and rerun (it resumes)")
