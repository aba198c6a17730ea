"""How far judges of different seeds read the same swaps apart: every SR of some runs under each judge, and
under the averages of two judges.

    python benchmarks/judge_seed_spread.py --runs runs/quick --models M2 CCVAE2 PA2 \
        --judges runs/quick/judge runs/judge-s1 runs/judge-s2 runs/judge-s3

Validation pairs only (pair seed 0, the one-label glasses runs `<MODEL>-glasses-s0`); judges made by
`jdvae judge --profile quick --seed N`. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch


def swaps(run: Path, label: str = "glasses"):
    """(additions, removals) of the run on all validation pairs, and the validation split."""
    from jdvae.vae.checkpoint import load_run
    from jdvae.data.splits import load_split
    from jdvae.evaluate.metrics import _decode_all, _encode_all
    from jdvae.evaluate.pairs import draw_pairs
    from jdvae.evaluate.swaps import exchanged

    model, cfg = load_run(run, "cpu")
    val = load_split(cfg.data, "val", progress=False)
    k = cfg.data.labels.index(label)
    lat = _encode_all(model, val.images, torch.from_numpy(val.labels).float(), "cpu", 128)
    p = draw_pairs(val.labels[:, k], 0, label)
    added = _decode_all(model, exchanged(lat.take(p.w), lat.take(p.g), k, 1.0), "cpu", 128)
    removed = _decode_all(model, exchanged(lat.take(p.g), lat.take(p.w), k, 0.0), "cpu", 128)
    return added, removed, val


def main() -> None:
    from jdvae.evaluate.judge.train import predict_images
    from jdvae.evaluate.judge.store import load_judge
    from jdvae.evaluate.metrics import balanced_accuracy

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, required=True, help="a study's runs folder")
    ap.add_argument("--models", nargs="+", default=["M2", "CCVAE2", "PA2"])
    ap.add_argument("--judges", nargs="+", required=True, help="judge folders, in seed order")
    a = ap.parse_args()
    torch.set_num_threads(1)
    judges = [load_judge(j) for j in a.judges]
    names = [str(i) for i in range(len(judges))]
    splits = list(itertools.combinations(range(len(judges)), 2)) if len(judges) >= 2 else []
    print("| rate | " + " | ".join(f"judge {n}" for n in names) + " | spread | averages of two |")
    print("|---|" + "---|" * (len(names) + 2))
    val = None
    for model in a.models:
        added, removed, val = swaps(a.runs / f"{model}-glasses-s0")
        probs = [(j.prob(added, "glasses").numpy(), j.prob(removed, "glasses").numpy()) for j in judges]
        for rate, col, hit in (("SR(+)", 0, lambda p: p > 0.5), ("SR(−)", 1, lambda p: p <= 0.5)):
            singles = [100 * hit(p[col]).mean() for p in probs]
            pairs = [100 * hit(np.mean([probs[i][col], probs[j][col]], 0)).mean() for i, j in splits]
            print(f"| {model} {rate} | " + " | ".join(f"{v:.1f}" for v in singles)
                  + f" | {max(singles) - min(singles):.1f} | "
                  + ", ".join(f"{{{i},{j}}} {v:.1f}" for (i, j), v in zip(splits, pairs)) + " |", flush=True)
    bca = [100 * balanced_accuracy(val.labels[:, 0], predict_images(j, val.images)[:, 0] > 0.5) for j in judges]
    print("\nValidation BCA on glasses: " + ", ".join(f"judge {n} {b:.2f} %" for n, b in zip(names, bca)))


if __name__ == "__main__":
    main()
