"""`jdvae reproduce`: train what is missing, evaluate, and draw the tables and figures through the notebooks."""
from __future__ import annotations

import argparse

from jdvae.config import PROFILES
from jdvae.commands.launch import add_launcher_options
from jdvae.commands.train import add_data_options, add_set_option


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="the whole study: train, evaluate, draw (resumable)",
                       description="Run the numbered notebooks with papermill; complete steps are skipped.")
    p.add_argument("--profile", default="quick", choices=tuple(PROFILES), help="smoke, quick (default) or paper")
    add_data_options(p, labels=None)
    p.add_argument("--seeds", type=int, default=1, help="training seeds per model (mean ± std when > 1)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--runs", default=None, help="run folders (default runs/<profile>); with --pretrained, where the "
                                                "executed notebooks go (default runs/<profile>-pretrained)")
    p.add_argument("--figures", default=None, help="where tables and figures go (default RUNS/figures, i.e. "
                                                   "runs/<profile>/figures; paper_figures/, the committed study, "
                                                   "only when named, as `make reproduce SEEDS=3` does)")
    p.add_argument("--jobs", type=int, default=None, help="jobs side by side (default: one per core up to 2 on a CPU; on CUDA what GPU memory and cores allow)")
    p.add_argument("--pretrained", nargs="?", const="", default=None, metavar="DIR",
                   help="no training: verify the shipped study (default pretrained/<profile>) and draw Table 1, "
                        "claims, Fig. 2, Fig. 3 and the explorer panel of its seed 0 into --figures (on the CPU, as the "
                        "committed numbers were, unless --device says otherwise), then compare them with "
                        "paper_figures/")
    p.add_argument("--from-shipped", action="store_true",
                   help="start from the shipped study (pretrained/<profile>): copy in its runs whose settings "
                        "equal this study's, then train the rest (e.g. seeds 1 and 2 of --seeds 3)")
    p.add_argument("--retrain-judges", action="store_true",
                   help="train the study's two judges (seeds 0 and 1) from scratch instead of using the shipped ones, "
                        "which are used, SHA-256 verified, whenever their settings equal the study's")
    add_set_option(p, "override a config field of every training and of the judge's data, e.g. "
                      "--set data.supervision=0.1 (give the new setting its own --runs; its figures go to RUNS/figures)")
    add_launcher_options(p, study=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jdvae.errors import JdvaeError
    from jdvae.study.plan import parse_sets
    from jdvae.study.reproduce import reproduce
    if args.pretrained is not None:
        from jdvae.study.reproduce import reproduce_pretrained
        if args.launcher != "local":
            raise JdvaeError("--pretrained trains nothing and draws here; drop --launcher slurm")
        if args.set or args.seeds != 1 or args.data or args.celeba_root or args.data_root or args.labels \
                or args.from_shipped or args.retrain_judges:
            raise JdvaeError("--pretrained draws the shipped seed-0 study as it is; drop --set, --seeds, --data, "
                             "--celeba-root, --data-root, --labels, --from-shipped and --retrain-judges, or train with "
                             "`jdvae reproduce` without --pretrained")
        reproduce_pretrained(args.profile, args.pretrained or None, args.figures,
                             "cpu" if args.device == "auto" else args.device, args.runs)
        return 0
    if args.seeds < 1:
        raise JdvaeError(f"--seeds {args.seeds} must be at least 1")
    from pathlib import Path
    from jdvae.commands.launch import slurm_launcher
    from jdvae.study.local import LocalLauncher
    if args.jobs is not None and args.launcher == "slurm":
        raise JdvaeError("--jobs is the local launcher's; with --launcher slurm give --max-parallel")
    launcher = slurm_launcher(args, args.profile, Path(args.runs or Path("runs") / args.profile)) \
        or LocalLauncher(args.jobs)
    reproduce(args.profile, data=args.celeba_root and "celeba" or args.data,
              celeba_root=args.celeba_root, data_root=args.data_root, labels=args.labels,
              seeds=args.seeds, device=args.device, runs=args.runs, figures=args.figures,
              launcher=launcher, overrides=parse_sets(args.set), from_shipped=args.from_shipped, retrain_judges=args.retrain_judges)
    return 0
