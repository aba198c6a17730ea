"""`jdvae train`: train one model from a profile, with any config field overridable."""
from __future__ import annotations

import argparse
import ast

from ..config import LABELS, MODELS, PROFILES
from ..errors import JdvaeError
from ..experiment import make_config


def register(sub) -> None:
    p = sub.add_parser("train", help="train one model (PA1, PA2, M2, CCVAE2, CCVAE)",
                       description="Train one model into a run folder; rerun with --resume to continue.")
    p.add_argument("--model", required=True, help=f"one of {', '.join(MODELS)}")
    p.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default quick)")
    p.add_argument("--out", required=True, help="run folder (config.json, model.safetensors, state.pt, metrics.csv)")
    p.add_argument("--labels", default="glasses", help=f"comma-separated, from {', '.join(LABELS)}")
    p.add_argument("--seed", type=int, default=0, help="training seed (weights, order, noise)")
    p.add_argument("--data", choices=("synthfaces", "celeba"), default=None, help="data source (default: profile's)")
    p.add_argument("--celeba-root", default=None, help="folder holding celeba/ (official layout)")
    p.add_argument("--resume", action="store_true", help="continue an unfinished run in --out")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--no-adain", action="store_true", help="ablation: plain instance norm in the decoder")
    p.add_argument("--no-tokens", action="store_true", help="ablation: y only through the decoder's FC input")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any config field, e.g. --set train.epochs=10 --set model.width=0.5")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_value(text: str):
    """A Python literal when it is one (10, 0.5, True, None), else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def build_config(args: argparse.Namespace):
    """The RunConfig the command line describes."""
    overrides = {}
    for item in args.set:
        if "=" not in item:
            raise JdvaeError(f"--set {item!r} is not FIELD=VALUE; write e.g. --set train.epochs=10")
        key, value = item.split("=", 1)
        overrides[key.strip()] = parse_value(value.strip())
    return make_config(args.model, args.profile, args.labels, args.seed, data=args.data,
                       celeba_root=args.celeba_root, adain=not args.no_adain, tokens=not args.no_tokens,
                       overrides=overrides)


def run(args: argparse.Namespace) -> int:
    from ..train import train
    cfg = build_config(args)
    train(cfg, args.out, resume=args.resume, device=args.device, progress=not args.quiet)
    return 0
