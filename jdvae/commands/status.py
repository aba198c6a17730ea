"""`jdvae status`: the SLURM tasks of a study (or training) and their logs."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("status", help="the SLURM tasks of a study: state and log of each",
                       description="Each recorded SLURM task of RUNS/slurm (or --job-dir): its state (squeue's "
                                   "while queued or running, else DONE, FAILED or ENDED-WITHOUT-RESULT), job id and log.")
    p.add_argument("runs", help="the study's run folder (runs/<profile> by default in `jdvae reproduce`)")
    p.add_argument("--job-dir", default=None, help="the job folder given to `jdvae reproduce` (default RUNS/slurm)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jdvae.study.follow import status_lines
    from jdvae.study.slurm import need_submitit, private_folder

    need_submitit()
    folder = private_folder(Path(args.job_dir) if args.job_dir else Path(args.runs) / "slurm", create=False)
    for line in status_lines(folder):
        print(line)
    return 0
