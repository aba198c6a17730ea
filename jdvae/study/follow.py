"""Following SLURM tasks without accounting: squeue says which are queued or running and where, and the result
file submitit writes at a task's end says how it ended (sacct needs slurmdbd, which many small clusters lack).

The tasks a launcher submitted are recorded in JOB_DIR/tasks.json (title -> job id), so that the same command
run again follows them instead of submitting twice, and `jdvae status RUNS` can show them.
"""
from __future__ import annotations

import getpass
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from jdvae.errors import JdvaeError
from jdvae.io import atomic_write_json
from jdvae.study.jobs import last_error

RECORD = "tasks.json"
ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",
          "SUSPENDED", "STAGE_OUT", "SIGNALING", "PREEMPTED")
GONE_AFTER = 2  # polls a task may be missing from squeue without a result file before it counts as ended
SILENT_MINUTES = 10  # squeue failing this long ends the following (the tasks go on)


@dataclass(frozen=True)
class Task:
    """A submitted task: what it runs, its SLURM id (ARRAY_INDEX for an array's task) and its folder's files."""

    title: str
    job_id: str
    folder: Path

    @property
    def log(self) -> Path:
        return self.folder / f"{self.job_id}_0_log.out"

    @property
    def err(self) -> Path:
        return self.folder / f"{self.job_id}_0_log.err"

    @property
    def result(self) -> Path:
        return self.folder / f"{self.job_id}_0_result.pkl"


def queue() -> dict[str, tuple[str, str]] | None:
    """This user's tasks in squeue, one per array index: job id -> (state, node); None when squeue failed."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-u", getpass.getuser(), "-o", "%i|%T|%N"], capture_output=True,
                             text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    rows = (line.split("|") for line in out.stdout.splitlines() if line.count("|") == 2)
    return {job_id: (state, node) for job_id, state, node in rows}


def outcome(task: Task) -> tuple[bool, object] | None:
    """How a task ended, from its result file: (True, what it returned) or (False, its error's last line); None
    while it has not ended."""
    if not task.result.exists():
        return None
    from submitit.core.utils import pickle_load

    try:
        kind, value = pickle_load(task.result)
    except (EOFError, OSError):
        return None  # being written
    if kind == "success":
        return True, value
    return False, last_error(str(value).splitlines())


def read_record(folder: Path) -> dict[str, str]:
    path = folder / RECORD
    return json.loads(path.read_text()) if path.exists() else {}


def add_to_record(folder: Path, tasks: list[Task]) -> None:
    atomic_write_json(folder / RECORD, {**read_record(folder), **{t.title: t.job_id for t in tasks}})


def state(task: Task, queued: dict[str, tuple[str, str]] | None) -> str:
    """One word: squeue's state while queued or running, else done, failed or ended (no result: killed)."""
    if queued and task.job_id in queued:
        return queued[task.job_id][0]
    ended = outcome(task)
    if ended is None:
        return "UNKNOWN" if queued is None else "ENDED-WITHOUT-RESULT"
    return "DONE" if ended[0] else "FAILED"


def follow(tasks: list[Task], log, poll: float = 2.0) -> list[str]:
    """Wait for `tasks`, one line as each starts (again after a requeue) and ends; returns the failures' lines.

    Every wait is bounded by squeue: a task that left the queue without a result file (killed hard, cancelled,
    its node lost) is reported as failed after GONE_AFTER polls, and squeue silent for SILENT_MINUTES ends the
    wait."""
    open_tasks, started, missing, failures = list(tasks), {}, {t.job_id: 0 for t in tasks}, []
    t0 = {t.job_id: time.monotonic() for t in tasks}
    answered = time.monotonic()
    while open_tasks:
        queued = queue()
        if queued is not None:
            answered = time.monotonic()
        elif time.monotonic() - answered > SILENT_MINUTES * 60:
            raise JdvaeError(f"squeue has not answered for {SILENT_MINUTES} min; the tasks go on without this "
                             "command: check the cluster, then rerun the same command to follow them")
        for task in list(open_tasks):
            ended = outcome(task)
            if ended is None and queued is not None and task.job_id in queued:
                job_state, node = queued[task.job_id]
                missing[task.job_id] = 0
                if job_state == "RUNNING" and started.get(task.job_id) != node:
                    started[task.job_id] = node
                    t0[task.job_id] = time.monotonic()
                    log(f"  start {task.job_id:<10} on {node:<12} {task.title}")
                elif job_state != "RUNNING":
                    started.pop(task.job_id, None)  # requeued: the next start is said again
                continue
            if ended is None and queued is not None:
                missing[task.job_id] += 1
                if missing[task.job_id] < GONE_AFTER:
                    continue
                ended = (False, f"ended without a result (killed, cancelled or its node lost): "
                                f"{last_error(_lines(task.err))}")
            if ended is None:
                continue  # squeue did not answer: ask again
            open_tasks.remove(task)
            ok, value = ended
            node = value.get("node", "?") if ok and isinstance(value, dict) else started.get(task.job_id, "?")
            minutes = (value["seconds"] if ok and isinstance(value, dict) else time.monotonic() - t0[task.job_id]) / 60
            if ok:
                log(f"  done  {task.job_id:<10} on {node:<12} {task.title}  {minutes:.1f} min")
            else:
                line = f"{task.job_id} {task.title}: {value}; log {task.err}"
                failures.append(line)
                log(f"  FAIL  {line}")
        if open_tasks:
            time.sleep(poll)
    return failures


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


def status_lines(folder: Path) -> list[str]:
    """Each recorded task of the job folder: its state, id, title and log file."""
    record = read_record(folder)
    if not record:
        raise JdvaeError(f"no SLURM tasks recorded in {folder}; give the --job-dir the study was submitted with")
    queued = queue()
    lines = []
    for title, job_id in record.items():
        task = Task(title, job_id, folder)
        lines.append(f"{state(task, queued):<22} {job_id:<12} {title:<36} {task.err}")
    return lines
