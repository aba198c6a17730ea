"""`jdvae curve`: learning curves of one or more models, snapshots every N steps, scored by the judge."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from jdvae.config import MODELS, PROFILES
from jdvae.commands.train import add_set_option

KEYS = ("recon_mse/glasses", "r_plus/glasses", "r_minus/glasses", "sr_minus/glasses", "sr_plus/glasses",
        "cf_add_mse/glasses", "cf_remove_mse/glasses", "region_add_closed/glasses", "donor_match/glasses", "region_remove_closed/glasses",
        "bca/glasses")


def register(sub) -> None:
    p = sub.add_parser("curve", help="learning curves: train with snapshots, score each with the judge",
                       description="Train each --model with weight snapshots every --every steps into "
                                   "OUT/<model>, then score every snapshot on fixed validation pairs (OUT/curve.json, .md).")
    p.add_argument("--model", default="PA1", help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)}")
    p.add_argument("--every", type=int, default=500, help="steps between snapshots")
    add_set_option(p, "config override of every curve run, as in train, e.g. --set train.max_steps=6000")
    p.add_argument("--out", required=True, help="folder of the curve runs")
    p.add_argument("--judge", default=None, help="judge folder to score with (skip: train only)")
    p.add_argument("--n-images", type=int, default=1000, help="images of the split scored (their glasses pairs)")
    p.add_argument("--split", choices=("val", "test"), default="val",
                   help="split scored (default val: curves choose budgets; test is for the final evaluation only)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jdvae.study.curve import rows_to_markdown, score_snapshots, train_with_snapshots
    from jdvae.errors import JdvaeError
    from jdvae.evaluate.judge.store import load_judge
    from jdvae.study.plan import make_config
    from jdvae.study.plan import parse_sets
    from jdvae.io import atomic_write_json, atomic_write_text
    from jdvae.figures.training import learning_curves, snapshot_swaps
    from jdvae.machine import resolve_device

    if args.every < 1:
        raise JdvaeError(f"--every {args.every} must be at least 1 step")
    out = Path(args.out)
    overrides = parse_sets(args.set)
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    for name in models:
        cfg = make_config(name, args.profile, overrides=overrides)
        train_with_snapshots(cfg, out / name, args.every, device=args.device, progress=not args.quiet)
    if args.judge is None:
        return 0
    judge = load_judge(args.judge)
    device = str(resolve_device(args.device))
    if args.split == "test":
        print("jdvae curve: scoring the TEST split; a budget chosen from these rows has read the test data")
    rows = [r for name in models for r in score_snapshots(out / name, judge, args.n_images, device, args.split)]
    if (out / "curve.json").exists():  # keep the rows of models scored by an earlier call
        rows = [r for r in json.loads((out / "curve.json").read_text()) if r["run"] not in models] + rows
    atomic_write_json(out / "curve.json", rows)
    text = f"Scored on the {args.split} split.\n\n" + rows_to_markdown(rows, KEYS)
    atomic_write_text(out / "curve.md", text)
    written = [out / "curve.json", out / "curve.md"]
    learning_curves(rows, out=out / "curve")
    written.append(out / "curve.png")
    for name in models:
        snapshot_swaps(out / name, out=out / f"{name}_swaps")
        written.append(out / f"{name}_swaps.png")
    print(text)
    print(json.dumps({"written": [str(p) for p in written]}))
    return 0
