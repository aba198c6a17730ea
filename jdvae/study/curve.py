"""Learning curves: train one model with weight snapshots every N steps, then score every snapshot.

Training and scoring are separate so that the same snapshots can be read by any judge: a run
folder gains `snapshots/step_XXXXXX.safetensors`; `score_snapshots` evaluates each on a fixed
set of validation pairs (test pairs only when asked for by name) with
`jdvae.evaluate.metrics.evaluate_model` (reconstruction error, R(+), R(-), SR(-), SR(+) and the
counterfactual errors) and returns one row per snapshot. Curves choose budgets, so they read the
validation split; the test split belongs to the final evaluation.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np

from jdvae.vae import checkpoint as ckpt
from jdvae.config import RunConfig
from jdvae.data.splits import Split, load_split
from jdvae.vae.train import total_steps, train

SNAPSHOTS = "snapshots"


def snapshot_path(run: Path, step: int) -> Path:
    return Path(run) / SNAPSHOTS / f"step_{step:06d}.safetensors"


def train_with_snapshots(cfg: RunConfig, out: str | Path, every: int, device: str = "auto",
                         progress: bool = True, log=print) -> list[Path]:
    """Train `cfg` into `out` (resumable), copying the weights every `every` steps; returns the snapshots."""
    out = Path(out)
    total = total_steps(cfg, len(load_split(cfg.data, "train", progress=False)))  # as the trainer counts
    marks = list(range(every, total, every)) + [total]
    t0 = time.perf_counter()
    for mark in marks:
        snap = snapshot_path(out, mark)
        if snap.exists():
            continue
        done = int(ckpt.load_state(out / ckpt.STATE)["step"]) if (out / ckpt.STATE).exists() else 0
        if done < mark:
            train(cfg, out, resume=True, device=device, progress=progress, stop_after=mark - done)
        snap.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / ckpt.WEIGHTS, snap)
        log(f"{out.name}: snapshot at step {mark}/{total} ({time.perf_counter() - t0:.0f} s)")
    return [snapshot_path(out, m) for m in marks]


def pair_subset(split: Split, n: int) -> Split:
    """The first n images of a split: a fixed evaluation set shared by every snapshot and model."""
    cut = slice(0, min(n, len(split)))
    factors = None if split.factors is None else {k: v[cut] for k, v in split.factors.items()}
    return dataclasses.replace(split, images=split.images[cut], labels=split.labels[cut],
                               supervised=split.supervised[cut], factors=factors, index=split.index[cut])


def score_snapshots(run: str | Path, judge, n_images: int = 1000, device: str = "cpu", split: str = "val") -> list[dict]:
    """Every snapshot of a run scored on the first `n_images` images of `split`: one dict of metrics per step."""
    from jdvae.data import synthfaces
    from jdvae.evaluate.metrics import evaluate_model
    from jdvae.vae.model import build_model

    run = Path(run)
    cfg = ckpt.read_config(run)
    test = pair_subset(load_split(cfg.data, split, progress=False), n_images)
    renderer = synthfaces if test.factors is not None else None
    model = build_model(cfg.model).to(device)
    rows = []
    for snap in sorted((run / SNAPSHOTS).glob("step_*.safetensors")):
        ckpt.load_weights(model, snap)
        metrics, _ = evaluate_model(model, test, cfg.data.labels, judge, renderer=renderer, device=device)
        rows.append({"run": run.name, "step": int(snap.stem.split("_")[1]), "split": split, **metrics})
    return rows


def rows_to_markdown(rows: list[dict], keys: tuple[str, ...]) -> str:
    """A markdown table: run, step, then the chosen metric keys (percent or 4-decimal floats)."""
    lines = ["| run | step | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for r in rows:
        cells = []
        for k in keys:
            v = r.get(k)
            cells.append("n/a" if v is None or (isinstance(v, float) and np.isnan(v))
                         else (f"{v:.1f}" if abs(v) > 1.5 else f"{v:.4f}"))
        lines.append(f"| {r['run']} | {r['step']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
