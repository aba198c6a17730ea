"""`jdvae reproduce`: train what is missing, evaluate, and regenerate paper_figures/ through the notebooks."""
from __future__ import annotations

import argparse

from ..config import PROFILES
from .train import add_set_option


def register(sub) -> None:
    p = sub.add_parser("reproduce", help="the whole study: train, evaluate, draw (resumable)",
                       description="Run the numbered notebooks with papermill; complete steps are skipped.")
    p.add_argument("--profile", default="quick", choices=tuple(PROFILES), help="smoke, quick (default) or paper")
    p.add_argument("--data", choices=("synthfaces", "celeba"), default=None, help="default: synthfaces")
    p.add_argument("--celeba-root", default=None, help="folder holding celeba/ (official layout)")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per model (mean ± std when > 1)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--runs", default=None, help="run folders (default runs/<profile>)")
    p.add_argument("--figures", default="paper_figures", help="where tables and figures go")
    p.add_argument("--jobs", type=int, default=None, help="trainings side by side (default: 2 on CPU, 1 on GPU)")
    add_set_option(p, "override a config field of every training and of the judge's data, e.g. "
                      "--set data.supervision=0.1 (give the new setting its own --runs and --figures)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import JdvaeError
    from ..runs import parse_sets
    from ..reproduce import reproduce
    if args.seeds < 1:
        raise JdvaeError(f"--seeds {args.seeds} must be at least 1")
    reproduce(args.profile, data=args.celeba_root and "celeba" or args.data, celeba_root=args.celeba_root,
              seeds=args.seeds, device=args.device, runs=args.runs, figures=args.figures, jobs=args.jobs,
              overrides=parse_sets(args.set))
    return 0
