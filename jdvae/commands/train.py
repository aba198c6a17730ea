"""`jdvae train`: train one model from a profile, with any config field overridable."""
from __future__ import annotations

import argparse
from pathlib import Path

from jdvae.config import LABELS, MODELS, PROFILES, SOURCES
from jdvae.study.plan import make_config, parse_sets


def register(sub) -> None:
    p = sub.add_parser("train", help="train one model (PA1, PA2, M2, CCVAE2, CCVAE)",
                       description="Train one model into a run folder; rerun with --resume to continue.")
    p.add_argument("--model", required=True, help=f"one of {', '.join(MODELS)}")
    p.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default quick)")
    p.add_argument("--out", required=True, help="run folder (config.json, model.safetensors, state.pt, metrics.csv)")
    p.add_argument("--seed", type=int, default=0, help="training seed (weights, order, noise)")
    add_data_options(p, labels="glasses")
    p.add_argument("--resume", action="store_true", help="continue an unfinished run in --out")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--no-adain", action="store_true", help="ablation: plain instance norm in the decoder")
    p.add_argument("--no-tokens", action="store_true", help="ablation: y only through the decoder's FC input")
    add_set_option(p, "override any config field, e.g. --set train.epochs=10 --set model.width=0.5")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    from jdvae.commands.launch import add_launcher_options
    add_launcher_options(p, study=False)
    p.set_defaults(func=run)


def add_data_options(parser, labels: str | None) -> None:
    """--data, --celeba-root, --data-root and --labels, shared by `train`, `judge` and `reproduce`."""
    parser.add_argument("--data", choices=SOURCES, default=None, help="data source (default: the profile's, "
                        "synthfaces; folder: your own images, docs/your_data.md)")
    parser.add_argument("--celeba-root", default=None, help="CelebA's folder (official layout or the Kaggle "
                        "mirror's), or the folder above it")
    parser.add_argument("--data-root", default=None, help="with --data folder: the folder holding labels.csv")
    parser.add_argument("--labels", default=labels, help=f"comma-separated, from {', '.join(LABELS)}; with --data "
                        f"folder, 0/1 columns of labels.csv (default {labels or 'the study: ' + ','.join(LABELS)})")


def add_set_option(parser, help: str) -> None:
    """The repeatable --set FIELD=VALUE option, shared by `train` and `reproduce` (parsed by `parse_sets`)."""
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help=f"{help}; each value is checked against the field's type")


def build_config(args: argparse.Namespace):
    """The RunConfig the command line describes; every --set value is checked against its field's type."""
    overrides = parse_sets(args.set)
    return make_config(args.model, args.profile, args.labels, args.seed, data=args.data,
                       celeba_root=args.celeba_root, data_root=args.data_root, adain=not args.no_adain,
                       tokens=not args.no_tokens, overrides=overrides)


def node_argv(args: argparse.Namespace) -> list[str]:
    """This training's `jdvae train` options for the nodes of a SLURM job, with --resume (a requeued job resumes)."""
    argv = ["--model", args.model, "--profile", args.profile, "--out", str(Path(args.out).absolute()),
            "--seed", str(args.seed), "--device", args.device, "--resume", "--quiet"]
    for flag in ("data", "celeba_root", "data_root", "labels"):
        if getattr(args, flag):
            argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    argv += ["--no-adain"] * args.no_adain + ["--no-tokens"] * args.no_tokens
    return argv + [x for item in args.set for x in ("--set", item)]


def run(args: argparse.Namespace) -> int:
    from jdvae.commands.launch import slurm_launcher
    from jdvae.vae.train import train
    cfg = build_config(args)
    launcher = slurm_launcher(args, args.profile, Path(args.out).absolute().parent)
    if launcher is not None:
        launcher.train(node_argv(args), log=lambda line: print(line, flush=True))
        return 0
    train(cfg, args.out, resume=args.resume, device=args.device, progress=not args.quiet)
    return 0
