"""`jdvae ship`: pack a finished study's seed-0 runs and judge into a shipped folder with a SHA-256 manifest."""
from __future__ import annotations

import argparse

from jdvae.study.shipped import LIMIT_MB


def register(sub) -> None:
    p = sub.add_parser("ship", help="pack a finished study into pretrained/<profile>/ (weights, judge, manifest)",
                       description="Copy each seed-0 run's config.json, model.safetensors, metrics.csv and done.json "
                                   "and the judge into --out, with manifest.json (SHA-256 of every file, commit, "
                                   "command, CPU, torch, wall times). Training state is never shipped.")
    p.add_argument("--runs", default="runs/quick", help="the finished study's runs folder (default runs/quick)")
    p.add_argument("--out", default=None, help="the shipped folder (default pretrained/<profile of the runs>)")
    p.add_argument("--command", default=None, help="the command that made the runs, as recorded in the manifest "
                                                   "(default: read back from the runs' configs)")
    p.add_argument("--max-mb", type=float, default=LIMIT_MB, help=f"refuse above this size (default {LIMIT_MB:g} MB)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jdvae.vae.checkpoint import read_config
    from jdvae.study.shipped import default_folder, ship

    out = args.out
    if out is None:
        first = next(Path(args.runs).glob("*-s0/config.json"), None)
        out = default_folder(read_config(first.parent).profile) if first else Path("pretrained") / "quick"
    ship(args.runs, out, command=args.command, limit_mb=args.max_mb)
    return 0
