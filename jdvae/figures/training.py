"""Figures of training: samples from the prior, metric curves per epoch, and the learning curves and
snapshot swaps of `jdvae curve`. Same conventions as `plots`: a Figure back, PNG and PDF written given `out`."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from jdvae.vae.checkpoint import METRICS
from jdvae.data.splits import load_split
from jdvae.errors import JdvaeError
from jdvae.evaluate.swaps import add, remove
from jdvae.figures.common import PanelFigure, finish_figure, panel_grid, model_inputs, show_image, to_uint8


@torch.inference_mode()
def sample_grid(model, n: int = 16, y: torch.Tensor | None = None, seed: int = 0, out=None) -> Figure:
    """n images from the prior p(y) p(z) p(u|y) (y given (n, K) or uniform), on a square-ish grid."""
    gen = torch.Generator().manual_seed(seed)
    images = to_uint8(model.sample(n, y, generator=gen))  # a CPU generator works for any device
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = panel_grid(rows, cols, f"samples from the prior ({model.cfg.name})")
    for i, ax in enumerate(axes.flat):
        if i < n:
            show_image(ax, images[i])
        else:
            ax.set_visible(False)
    return finish_figure(fig, out)


def read_metrics(run_dir: str | os.PathLike) -> dict[str, np.ndarray]:
    """The columns of a run's metrics.csv as float arrays (one row per epoch)."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        raise JdvaeError(f"{path} is missing; the run has not finished an epoch yet")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    keys = list(rows[0]) if rows else []
    return {k: np.array([float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rows]) for k in keys}


def training_curves(run_dirs: Iterable[str | os.PathLike] | Mapping[str, str | os.PathLike],
                    keys: Sequence[str] = ("loss", "recon", "val_bca"), out=None) -> Figure:
    """Loss, reconstruction and validation BCA against the epoch, one line per run."""
    items = run_dirs.items() if isinstance(run_dirs, Mapping) else [(Path(d).name, d) for d in run_dirs]
    fig = PanelFigure(figsize=(3.2 * len(keys), 2.8), layout="constrained")
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    plotted = 0
    for name, folder in items:
        try:
            m = read_metrics(folder)
        except JdvaeError as e:
            print(f"note: {e}")
            continue
        plotted += 1
        for ax, key in zip(axes, keys):
            if key in m:
                ax.plot(m["epoch"], m[key], marker="o", ms=3, label=name)
    if not plotted:
        raise JdvaeError("none of the runs has a metrics.csv yet; train them first")
    for ax, key in zip(axes, keys):
        ax.set_xlabel("epoch")
        ax.set_title(key, fontsize=9)
    axes[-1].legend(fontsize=6)
    return finish_figure(fig, out)


# ----------------------------------------------------------------- learning curves (jdvae curve)
CURVE_PANELS = (("recon_mse/glasses", "reconstruction MSE", None), ("r_plus/glasses", "R(+) %", 90.0),
                ("r_minus/glasses", "R(−) %", 90.0), ("sr_minus/glasses", "SR(−) %", 90.0),
                ("sr_plus/glasses", "SR(+) %", None), ("region_add_closed/glasses", "addition: share closed", None))


def learning_curves(rows: Sequence[Mapping], out=None) -> Figure:
    """One panel per metric of `jdvae curve` rows against the step, one line per run; gates dashed."""
    fig = PanelFigure(figsize=(3.0 * 3, 2.5 * 2), layout="constrained")
    axes = fig.subplots(2, 3, squeeze=False).ravel()
    names = list(dict.fromkeys(r["run"] for r in rows))
    if not names:
        raise JdvaeError("no scored snapshots; run `jdvae curve` with --judge first")
    for ax, (key, title, gate) in zip(axes, CURVE_PANELS):
        for name in names:
            pts = sorted((r["step"], r.get(key)) for r in rows if r["run"] == name and r.get(key) is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=name)
        if gate is not None:
            ax.axhline(gate, color="grey", ls="--", lw=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    return finish_figure(fig, out)


@torch.inference_mode()
def snapshot_swaps(run: str | os.PathLike, n_pairs: int = 4, n_test: int = 200, out=None) -> Figure:
    """Glasses added to n_pairs fixed faces by every snapshot of a curve run: one row per step.

    Columns per pair: I_w, the donor I_g, the addition, and the removal of I_g's glasses."""
    from jdvae.vae.checkpoint import load_weights, read_config
    from jdvae.study.curve import SNAPSHOTS, pair_subset
    from jdvae.vae.model import build_model

    run = Path(run)
    cfg = read_config(run)
    snaps = sorted((run / SNAPSHOTS).glob("step_*.safetensors"))
    if not snaps:
        raise JdvaeError(f"{run} has no snapshots; train it with `jdvae curve` first")
    test = pair_subset(load_split(cfg.data, "val", progress=False), n_test)
    k = cfg.data.labels.index("glasses")
    has = test.labels[:, test.label_names.index("glasses")] == 1
    g_rows, w_rows = np.flatnonzero(has)[:n_pairs], np.flatnonzero(~has)[:n_pairs]
    model = build_model(cfg.model).eval()
    fig, axes = panel_grid(len(snaps), 4 * len(g_rows), title=f"{run.name}: additions and removals during training")
    for i, snap in enumerate(snaps):
        load_weights(model, snap)
        x_g, y_g = model_inputs(model, cfg, test, g_rows)
        x_w, y_w = model_inputs(model, cfg, test, w_rows)
        added, removed = to_uint8(add(model, x_w, y_w, x_g, y_g, k)), to_uint8(remove(model, x_g, y_g, x_w, y_w, k))
        for j in range(len(g_rows)):
            step = int(snap.stem.split("_")[1])
            cells = ((test.images[w_rows[j]], "I_w"), (test.images[g_rows[j]], "I_g"), (added[j], "+ glasses"),
                     (removed[j], "− glasses"))
            for c, (image, title) in enumerate(cells):
                show_image(axes[i, 4 * j + c], image, title if i == 0 else None,
                      f"step {step}" if j == 0 and c == 0 else None)
    return finish_figure(fig, out)
