"""The --launcher option and the SLURM options shared by `reproduce` and `train` (docs/cluster.md)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_launcher_options(parser, study: bool) -> None:
    """--launcher local|slurm and what a SLURM task asks for; `study`: the array's options, else one training's."""
    parser.add_argument("--launcher", choices=("local", "slurm"), default="local",
                        help="local (default): here; slurm: as SLURM tasks through submitit (docs/cluster.md)")
    g = parser.add_argument_group("SLURM (with --launcher slurm)")
    g.add_argument("--partition", default=None, help="partition (default: the cluster's)")
    g.add_argument("--account", default=None, help="account to charge")
    g.add_argument("--qos", default=None, help="quality of service")
    if study:
        g.add_argument("--gpus-per-job", type=int, default=None,
                       help="GPUs per training or judge (default 1, none with --device cpu)")
        g.add_argument("--max-parallel", type=int, default=None, help="tasks of the array running at once")
    else:
        g.add_argument("--nodes", type=int, default=1, help="nodes of the one training (torchrun on each)")
        g.add_argument("--gpus-per-node", type=int, default=None,
                       help="GPUs per node, one training process each (default 1, none with --device cpu)")
    g.add_argument("--cpus-per-job", type=int, default=None,
                   help="CPUs per task, the notebooks' threads (default: the profile's threads, else 1)")
    g.add_argument("--mem-per-job", default=None, help="memory per task in sbatch's --mem syntax, e.g. 16G")
    g.add_argument("--time", type=int, default=None, metavar="MINUTES",
                   help="a task's time limit; a task that reaches it is requeued and resumes (default by profile)")
    g.add_argument("--job-dir", default=None, help="submitit's folder of tasks and logs, private to you, on a shared "
                                                   "file system (default RUNS/slurm)")
    g.add_argument("--slurm-set", action="append", default=[], metavar="KEY=VALUE",
                   help="any further sbatch option your site needs, e.g. --slurm-set constraint=a100")
    g.add_argument("--dry-run", action="store_true", help="print what would be submitted; submit nothing")


SLURM_ONLY = ("partition", "account", "qos", "gpus_per_job", "max_parallel", "gpus_per_node", "cpus_per_job",
              "mem_per_job", "time", "job_dir", "dry_run")


def slurm_launcher(args: argparse.Namespace, profile_name: str, runs: Path):
    """The SLURM launcher the options describe, checked (bad input: one line, nothing submitted); None with
    --launcher local, where any SLURM option is refused."""
    from jdvae.errors import JdvaeError

    if args.launcher != "slurm":
        given = [f"--{k.replace('_', '-')}" for k in SLURM_ONLY if getattr(args, k, None) not in (None, False)]
        given += ["--slurm-set"] * bool(args.slurm_set) + ["--nodes"] * (getattr(args, "nodes", 1) != 1)
        if given:
            raise JdvaeError(f"{', '.join(given)} only apply with --launcher slurm; add it or drop them")
        return None
    from jdvae.study.slurm import SlurmLauncher, SlurmOptions, parse_slurm_sets

    options = SlurmOptions(partition=args.partition, account=args.account, qos=args.qos,
                           gpus_per_job=getattr(args, "gpus_per_job", None), cpus_per_job=args.cpus_per_job,
                           mem_per_job=args.mem_per_job, time=args.time,
                           max_parallel=getattr(args, "max_parallel", None),
                           job_dir=Path(args.job_dir) if args.job_dir else None, sets=parse_slurm_sets(args.slurm_set),
                           dry_run=args.dry_run, nodes=getattr(args, "nodes", 1),
                           gpus_per_node=getattr(args, "gpus_per_node", None))
    return SlurmLauncher(options, profile_name, args.device, options.job_dir or runs / "slurm").check()
