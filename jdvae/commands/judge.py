"""`jdvae judge`: train the independent judge of Table 1 for a profile (same command, same weights)."""
from __future__ import annotations

from pathlib import Path

from jdvae.config import PROFILES
from jdvae.errors import JdvaeError
from jdvae.io import check_writable
from jdvae.commands.train import add_data_options


def register(subparsers) -> None:
    """Add the `judge` subcommand."""
    p = subparsers.add_parser("judge", help="train the judge (ResNet) that classifies swapped images",
                              description=__doc__)
    p.add_argument("--profile", default="quick", choices=list(PROFILES), help="data and budget (default: quick)")
    p.add_argument("--out", required=True, type=Path, help="folder for judge_config.json and judge.safetensors")
    add_data_options(p, labels=None)
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    p.add_argument("--max-images", type=int, default=None, help="override the profile's training subset size")
    p.add_argument("--seed", type=int, default=None, help="override the judge's seed (default 0)")
    p.add_argument("--fade-share", type=float, default=None,
                   help="share of labelled images shown with the label faded, target = its strength (SynthFaces)")
    p.add_argument("--average-share", type=float, default=None,
                   help="share of labelled images shown with the label averaged over several faces' versions of it, "
                        "before fading (SynthFaces)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for training, part of the config (default 1: the same weights everywhere)")
    p.add_argument("--width", type=int, default=None, help="override the ResNet's base width (torchvision's is 64)")
    p.add_argument("--calibrate-fade", action="store_true",
                   help="after training, read validation faces with the glasses faded to strengths 0..1 and write "
                        "OUT/fade_calibration.json (train with --fade-share 0 to calibrate the fade threshold)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """Train, save and print the judge's balanced accuracies."""
    from jdvae.evaluate.judge.model import judge_config
    from jdvae.evaluate.judge.train import train_judge
    from jdvae.study.plan import make_config, study_labels

    changes = {k: v for k, v in (("epochs", args.epochs), ("max_images", args.max_images), ("seed", args.seed),
                                 ("threads", args.threads), ("fade_share", args.fade_share),
                                 ("average_share", args.average_share), ("width", args.width)) if v is not None}
    data = make_config("PA1", args.profile, study_labels(args.labels, args.data, args.data_root), data=args.data,
                       celeba_root=args.celeba_root, data_root=args.data_root).data
    cfg = judge_config(args.profile, data=data, **changes)
    if args.calibrate_fade and data.source != "synthfaces":
        raise JdvaeError(f"--calibrate-fade fades SynthFaces' true glasses; {data.source} data has none: drop it")
    check_writable(args.out)
    judge = train_judge(cfg, args.out, device=args.device, progress=not args.no_progress)
    r = judge.report
    bca = ", ".join(f"{k} {100 * v:.2f} %" for k, v in r["test_bca"].items() if v is not None)
    print(f"judge {cfg.arch} ({r['init']}) trained in {r['train_seconds']} s on {r['train_images']} images "
          f"with {cfg.threads} thread(s); test balanced accuracy: {bca}; saved to {args.out}")
    if args.calibrate_fade:
        _calibrate(judge, cfg, args.out)
    return 0


def _calibrate(judge, cfg, out) -> None:
    """Print and save the share of faded validation faces read as glasses at each strength, and its half point."""
    from jdvae.data.splits import load_split
    from jdvae.evaluate.judge.calibrate import STRENGTHS, half_point, read_share_by_strength
    from jdvae.io import atomic_write_json

    shares = read_share_by_strength(judge, load_split(cfg.data, "val", progress=False), "glasses")
    half = half_point(STRENGTHS, shares)
    atomic_write_json(out / "fade_calibration.json", {"split": "val", "label": "glasses", "strengths": list(STRENGTHS),
                                                      "read_share": shares, "half_point": half})
    print("faded validation faces read as glasses: " + ", ".join(f"a={a:.1f} {100 * s:.0f} %" for a, s in
                                                                  zip(STRENGTHS, shares))
          + f"; half point a = {half if half is None else round(half, 3)}")
