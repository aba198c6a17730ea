"""What a SLURM task runs on its node (pickled by submitit into the job folder): the study's notebooks, or one
training over several nodes through torchrun. Both are checkpointable: a task that reaches its time limit or is
preempted is requeued and runs again, and the training resumes from its run folder's state.pt."""
from __future__ import annotations

import os
import signal
import socket
import threading
import subprocess
import sys
import time

import submitit

from jdvae.errors import JdvaeError
from jdvae.study.jobs import Job, execute

RDZV_PORT = 29500  # torchrun's c10d rendezvous on the job's first node
STOPPED_WAIT = 300  # seconds a stopped task waits for SLURM's SIGKILL (KillWait, 30 s by default) before it fails


def stopped_by_slurm() -> threading.Event:
    """Set when SLURM sends this task SIGTERM (a preemption, a requeue, a cancel), which stops its notebook too;
    submitit's own handler still runs."""
    stopping, previous = threading.Event(), signal.getsignal(signal.SIGTERM)

    def on_term(signum, frame):
        stopping.set()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)
    return stopping


class NotebookTask(submitit.helpers.Checkpointable):
    """Run `jobs` one after the other on this node, each notebook on the CPU threads SLURM gave the task."""

    def __call__(self, jobs: tuple[Job, ...], threads: int | None) -> dict:
        threads = int(os.environ.get("SLURM_CPUS_PER_TASK") or threads or 0) or None  # the node's, not the login's
        stopping, t0 = stopped_by_slurm(), time.perf_counter()
        for job in jobs:
            try:
                execute(job, threads)
            except JdvaeError:
                # a notebook stopped by SLURM has not failed: wait to be killed, so that no result says so, and
                # the requeued task resumes from the run's state.pt
                if stopping.wait(timeout=5):
                    time.sleep(STOPPED_WAIT)
                raise
        return {"node": socket.gethostname(), "seconds": time.perf_counter() - t0}


def torchrun_command(nodes: int, procs_per_node: int, first_host: str, job_id: str, argv: list[str]) -> list[str]:
    """One node's torchrun for `jdvae train ARGV`: every node joins the c10d rendezvous on the first node."""
    return [sys.executable, "-m", "torch.distributed.run", f"--nnodes={nodes}", f"--nproc-per-node={procs_per_node}",
            "--rdzv-backend=c10d", f"--rdzv-endpoint={first_host}:{RDZV_PORT}", f"--rdzv-id={job_id}",
            "-m", "jdvae", "train", *argv]


class TorchrunTask(submitit.helpers.Checkpointable):
    """One training over the job's nodes: SLURM starts this once per node (one task per node), and each starts
    torchrun with `procs_per_node` processes; the run resumes from its state.pt when requeued."""

    def __call__(self, argv: list[str], procs_per_node: int) -> dict:
        env = submitit.JobEnvironment()
        cmd = torchrun_command(env.num_nodes, procs_per_node, env.hostnames[0], str(env.job_id), argv)
        t0 = time.perf_counter()
        result = subprocess.run(cmd)
        if result.returncode != 0:
            raise JdvaeError(f"torchrun on {socket.gethostname()} exited with {result.returncode}; see the task's log")
        return {"node": socket.gethostname(), "seconds": time.perf_counter() - t0}
