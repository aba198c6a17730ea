"""The 128-px learning run's steps: `python -m benchmarks.gpu_check.learn_worker VERB`.

    data  --part step|learn [--tiny]               render the SynthFaces splits the step or learning section reads
    train MODEL RUNS --seconds S --device D [--tiny] [--set F=V]
                                                   train to the deadline, then keep what it reached as a complete run
    read  RUNS JSON --device D                     R(+), R(-), SR(+), SR(-) on validation pairs, read by the quick judge
    grid  RUNS PNG --device D                      Fig. 2's swaps (jdvae.figures.paper.fig2) on validation pairs

The quick profile's shipped judge (pretrained/quick/judge, 32 px) reads the 128-px images downscaled to 32 px: it
costs no minutes of the check, and the CPU learning run (benchmarks/learn128_cpu.py) is read the same way.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from benchmarks.gpu_check.sizes import paper_config, sizes

ROOT = Path(__file__).resolve().parents[2]
QUICK_JUDGE = ROOT / "pretrained" / "quick" / "judge"
LONG = 10**6  # the learning run's max_steps: it ends at its deadline, not at a step count


def learn_config(tiny: bool, model: str = "PA1", sets: dict | None = None):
    """The learning run's config: the paper profile's, on the learning data; its lr stays constant, as in the first
    35 % of a 200-epoch run, so a run stopped at any step is the run that `max_steps` = that step would train."""
    from jdvae.config import override
    cfg = paper_config(tiny, model, n_train=sizes(tiny)["learn_train"])
    return override(cfg, **{"train.max_steps": LONG, "train.epochs": LONG, "train.lr_drop_at": 1.0, **(sets or {})})


def data(tiny: bool, part: str) -> None:
    """Render (and cache) the splits of the step section (`part` step) or of the learning run (learn)."""
    from jdvae.data.splits import load_split
    cfg = paper_config(tiny) if part == "step" else learn_config(tiny)
    for split in ("train", "val"):
        load_split(cfg.data, split, progress=False)
    print(f"data ready: {part}", flush=True)


def train_until(model: str, runs: Path, seconds: float, device: str, tiny: bool, sets: dict) -> Path:
    """Train `model` for `seconds`, then write RUNS/MODEL-glasses-s0 as a complete run of the steps it reached."""
    from jdvae.config import override
    from jdvae.io import atomic_write_json
    from jdvae.vae import checkpoint as ckpt
    from jdvae.vae.train import train
    cfg = learn_config(tiny, model, sets)
    work = runs / "training" / f"{model}-glasses-s0"
    shutil.rmtree(work, ignore_errors=True)
    train(cfg, work, device=device, progress=False, deadline=time.monotonic() + seconds)
    state = ckpt.load_state(work / ckpt.STATE)
    steps = int(state["step"])
    done = runs / f"{model}-glasses-s0"
    shutil.rmtree(done, ignore_errors=True)
    done.mkdir(parents=True)
    ckpt.write_config(done, override(cfg, **{"train.max_steps": steps}))
    for name in (ckpt.WEIGHTS, ckpt.METRICS):
        if (work / name).exists():
            shutil.copyfile(work / name, done / name)
    atomic_write_json(done / ckpt.DONE, {"steps": steps, "stopped_by": "deadline", "history": state["history"][-1:]})
    print(f"{model}: {steps} steps in {seconds:.0f} s", flush=True)
    return done


def small(x, size: int = 32):
    """Images in [-1, 1] downscaled for the 32-px judge, (B, 3, size, size)."""
    import torch.nn.functional as F
    return F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def judged(model, split, judge, n_pairs: int, device: str = "cpu") -> dict:
    """R(+), R(-), SR(+), SR(-) in % on the first `n_pairs` pairs of `split`, read by the 32-px `judge` on
    downscaled images; `judge_on_real`: its read of the pairs' own images (its ceiling on this data)."""
    import numpy as np
    import torch

    from jdvae.evaluate.pairs import draw_pairs
    from jdvae.evaluate.swaps import decode, encode_means, exchanged, to_tensor
    pairing = draw_pairs(split.labels[:, 0], 0, "glasses")
    g, w = pairing.g[:n_pairs], pairing.w[:n_pairs]
    out = {"pairs": int(len(g))}
    reads = {"r_plus": [], "r_minus": [], "sr_plus": [], "sr_minus": [], "judge_on_real": []}
    read = lambda imgs: judge.prob(small(imgs.cpu()), "glasses").numpy() > 0.5  # noqa: E731
    with torch.inference_mode():
        for i in range(0, len(g), 64):
            xg, xw = to_tensor(split.images[g[i:i + 64]], device), to_tensor(split.images[w[i:i + 64]], device)
            lg = encode_means(model, xg, torch.from_numpy(split.labels[g[i:i + 64]]).float().to(device))
            lw = encode_means(model, xw, torch.from_numpy(split.labels[w[i:i + 64]]).float().to(device))
            reads["r_plus"].append(read(decode(model, lg)))
            reads["r_minus"].append(~read(decode(model, lw)))
            reads["sr_plus"].append(read(decode(model, exchanged(lw, lg, 0, 1.0))))
            reads["sr_minus"].append(~read(decode(model, exchanged(lg, lw, 0, 0.0))))
            reads["judge_on_real"].append(np.r_[read(xg), ~read(xw)])
    out.update({k: round(100 * float(np.concatenate(v).mean()), 2) for k, v in reads.items()})
    return out


def read_runs(runs: Path, out: Path, device: str, n_pairs: int = 500) -> None:
    from jdvae.data.splits import load_split
    from jdvae.evaluate.judge.store import load_judge
    from jdvae.vae.checkpoint import load_run
    judge, rows = load_judge(QUICK_JUDGE, device), {}
    for run in sorted(p for p in runs.glob("*-glasses-s0") if (p / "done.json").exists()):
        model, cfg = load_run(run, device)
        rows[cfg.model.name] = {"steps": cfg.train.max_steps, "images": cfg.train.max_steps * cfg.train.batch_size,
                                **judged(model, load_split(cfg.data, "val", progress=False), judge, n_pairs, device)}
    out.write_text(json.dumps(rows, indent=1))
    print(f"read {', '.join(rows)}", flush=True)


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
    d = sub.add_parser("data")
    d.add_argument("--tiny", action="store_true")
    d.add_argument("--part", choices=("step", "learn"), default="learn")
    t = sub.add_parser("train")
    t.add_argument("model")
    t.add_argument("runs", type=Path)
    t.add_argument("--seconds", type=float, required=True)
    t.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    for verb in ("read", "grid"):
        v = sub.add_parser(verb)
        v.add_argument("runs", type=Path)
        v.add_argument("out", type=Path)
    for s in sub.choices.values():
        s.add_argument("--device", default="cuda")
        if s is not sub.choices["data"]:
            s.add_argument("--tiny", action="store_true")
    args = p.parse_args(argv)
    if args.verb == "data":
        data(args.tiny, args.part)
    elif args.verb == "train":
        from jdvae.study.plan import parse_sets
        train_until(args.model, args.runs, args.seconds, args.device, args.tiny, parse_sets(args.set))
    elif args.verb == "read":
        read_runs(args.runs, args.out, args.device, 40 if args.tiny else 500)
    else:
        grid(args.runs, args.out, args.device)


if __name__ == "__main__":
    main()
