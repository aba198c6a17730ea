"""The learning run's steps that the command line has no verb for: `python -m benchmarks.gpu_check.learn_worker`.

    data  [--tiny]                     render the SynthFaces splits the step and learning sections read (cached)
    judge OUT --device D [--tiny]      the paper profile's judge on the learning run's data
    grid  RUNS PNG --device D          Fig. 2's swaps (jdvae.figures.paper.fig2) of the runs in RUNS on validation pairs
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from benchmarks.gpu_check.sizes import paper_config, sizes


def learn_config(tiny: bool, model: str = "PA1"):
    """The learning run's config: the paper profile's, on the learning data."""
    return paper_config(tiny, model, n_train=sizes(tiny)["learn_train"])


def data(tiny: bool) -> None:
    from jdvae.data.splits import load_split
    for cfg in (paper_config(tiny), learn_config(tiny)):
        for split in ("train", "val"):
            load_split(cfg.data, split, progress=False)
    print("data ready", flush=True)


def judge(out: Path, device: str, tiny: bool) -> None:
    from jdvae.evaluate.judge.model import judge_config
    from jdvae.evaluate.judge.train import train_judge
    size = sizes(tiny)
    changes = {"epochs": 1, "max_images": size["judge_images"]} if tiny else {"max_images": size["judge_images"]}
    cfg = judge_config("smoke" if tiny else "paper", data=learn_config(tiny).data, **changes)
    made = train_judge(cfg, out, device=device, progress=False)
    print(f"judge ready; init {made.report.get('init')}", flush=True)


def grid(runs: Path, png: Path, device: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from jdvae.data.splits import load_split
    from jdvae.figures.paper import fig2, load_runs

    found = load_runs(runs, ["PA1", "M2"], device=device)
    cfg = next(iter(found.values()))[1]
    stem = png.with_suffix("")
    fig2(found, load_split(cfg.data, "val", progress=False), n_pairs=6, out=stem)
    made = stem.with_suffix(".png")
    if made != png:
        shutil.move(made, png)
    print(f"grid {png}", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    sub.add_parser("data").add_argument("--tiny", action="store_true")
    j = sub.add_parser("judge")
    j.add_argument("out", type=Path)
    j.add_argument("--device", default="cuda")
    j.add_argument("--tiny", action="store_true")
    g = sub.add_parser("grid")
    g.add_argument("runs", type=Path)
    g.add_argument("png", type=Path)
    g.add_argument("--device", default="cuda")
    args = p.parse_args(argv)
    if args.verb == "data":
        data(args.tiny)
    elif args.verb == "judge":
        judge(args.out, args.device, args.tiny)
    else:
        grid(args.runs, args.png, args.device)


if __name__ == "__main__":
    main()
