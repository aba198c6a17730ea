"""Figures of the paper (Fig. 2 swaps, Fig. 3 multi-label swaps) and the helpers every figure shares.

Figures of training (prior samples, metric curves, snapshot swaps) live in `training_plots`.

Every figure function returns a matplotlib Figure and, given `out` (a path without
suffix), also writes it as PNG and PDF atomically. Images go in and out of the models
as float (B, 3, S, S) in [-1, 1]; the panels show them as uint8 (S, S, 3).
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure  # the object API, never pyplot: no GUI backend, safe headless

from jdvae.study import plan as study_runs
from jdvae.vae.checkpoint import is_complete, load_run
from jdvae.data.splits import Split, counterfactual_images, load_split
from jdvae.errors import JdvaeError
from jdvae.evaluate.pairs import draw_pairs
from jdvae.evaluate.swaps import add, multi_swap, remove
from jdvae.figures.common import finish_figure, model_inputs, panel_grid, show_image, to_uint8

FIG2_ORDER = ("PA1", "CCVAE2", "M2")  # the columns of the paper's Fig. 2, in its order


# ----------------------------------------------------------------- runs and files
def run_name(model: str, labels: Sequence[str] | str = "glasses", seed: int = 0,
             adain: bool = True, tokens: bool = True) -> str:
    """Run folder name under runs/<profile>/, e.g. PA1-glasses+beard-s0 (labels as a tuple or "glasses,beard")."""
    return study_runs.name_of(model, labels, seed, adain, tokens)


def load_runs(runs: str | os.PathLike, models: Iterable[str], labels: Sequence[str] | str = ("glasses",),
              seed: int = 0, device: str = "cpu") -> dict[str, tuple]:
    """Load the finished runs `{model}-{labels}-s{seed}` found under `runs`, printing a note for each one missing."""
    found = {}
    for name in models:
        folder = Path(runs) / run_name(name, labels, seed)
        if not is_complete(folder):
            print(f"note: {folder} is missing or unfinished; {name} is left out (train it with `jdvae train` or `jdvae reproduce`)")
            continue
        found[name] = load_run(folder, device)
    return found


def load_one(runs: str | os.PathLike, model: str, labels: Sequence[str] | str = ("glasses",), seed: int = 0,
             device: str = "cpu") -> tuple:
    """Load the finished run `{model}-{labels}-s{seed}` under `runs`; a missing one is a JdvaeError."""
    folder = Path(runs) / run_name(model, labels, seed)
    if not is_complete(folder):
        raise JdvaeError(f"{folder} is missing or unfinished; train it with `jdvae train --model {model} "
                         f"--labels {folder.name.split('-')[-2].replace('+', ',')} --out {folder}`")
    return load_run(folder, device)


def test_split_of(runs: Mapping[str, tuple]) -> Split:
    """The test split the runs were trained for; they must share one data config (labels aside)."""
    if not runs:
        raise JdvaeError("no trained runs were found; train them first (`jdvae reproduce` or `jdvae train`)")
    cfgs = [cfg for _, cfg in runs.values()]
    labels = tuple(dict.fromkeys(n for c in cfgs for n in c.data.labels))
    datas = {replace(c.data, labels=labels) for c in cfgs}
    if len(datas) > 1:
        raise JdvaeError(f"the runs {', '.join(runs)} were trained on different data; compare runs of one profile")
    return load_split(datas.pop(), "test", progress=False)


# ----------------------------------------------------------------- Fig. 2
def fig2(runs: Mapping[str, tuple], test_split: Split, n_pairs: int = 5, seed: int = 0, out=None,
         label: str = "glasses") -> Figure:
    """Paper Fig. 2: I_w with the glasses of I_g, then I_g without glasses, per model (PA1, CCVAE2, M2)."""
    if not runs:
        raise JdvaeError("fig2 needs at least one trained run (PA1, CCVAE2 or M2); train them first")
    if label not in test_split.label_names:
        raise JdvaeError(f"the test split has no {label!r} labels (it has {', '.join(test_split.label_names)})")
    pairing = draw_pairs(test_split.labels[:, test_split.label_names.index(label)], seed, label)
    if not pairing.defined:
        raise JdvaeError(f"cannot draw Fig. 2 pairs: {pairing.note}")
    g, w = pairing.g[:n_pairs], pairing.w[:n_pairs]
    names = [n for n in FIG2_ORDER if n in runs] + [n for n in runs if n not in FIG2_ORDER]

    added, removed = {}, {}
    for name in names:
        model, cfg = runs[name]
        if label not in cfg.data.labels:
            raise JdvaeError(f"the {name} run was trained without the {label!r} label; pass runs trained on it")
        k = cfg.data.labels.index(label)
        x_g, y_g = model_inputs(model, cfg, test_split, g)
        x_w, y_w = model_inputs(model, cfg, test_split, w)
        added[name] = to_uint8(add(model, x_w, y_w, x_g, y_g, k))  # I_w with I_g's glasses
        removed[name] = to_uint8(remove(model, x_g, y_g, x_w, y_w, k))  # I_g without glasses
    truth = test_split.factors is not None
    columns: list[tuple[str, np.ndarray]] = [("$I_g$", test_split.images[g]), ("$I_w$", test_split.images[w])]
    columns += [(f"{n}\n$I_w$ + {label}", added[n]) for n in names]
    if truth:
        columns.append((f"truth\n$I_w$ + {label}", counterfactual_images(test_split, w, g, label)))
    columns += [(f"{n}\n$I_g$ − {label}", removed[n]) for n in names]
    if truth:
        columns.append((f"truth\n$I_g$ − {label}", counterfactual_images(test_split, g, None, label)))

    profile = next(iter(runs.values()))[1].profile
    fig, axes = panel_grid(len(g), len(columns), f"Fig. 2 ({profile} profile, pairs seed {seed}): {label} swaps")
    for c, (title, images) in enumerate(columns):
        for r in range(len(g)):
            show_image(axes[r, c], images[r], title if r == 0 else None)
    return finish_figure(fig, out)


# ----------------------------------------------------------------- Fig. 3
def _pick(labels: np.ndarray, want: dict[int, int], n: int, rng: np.random.Generator,
          prefer: dict[int, int] | None = None) -> np.ndarray:
    """n rows whose label columns match `want`, preferring rows that also match `prefer`."""
    ok = np.all([labels[:, k] == v for k, v in want.items()], axis=0)
    rows = np.flatnonzero(ok)
    if prefer:
        best = rows[np.all([labels[rows, k] == v for k, v in prefer.items()], axis=0)]
        rows = best if len(best) >= n else rows
    if len(rows) < n:
        raise JdvaeError(f"the test split has only {len(rows)} images with labels {want}; Fig. 3 needs {n}")
    return np.sort(rng.choice(rows, size=n, replace=False))


def fig3_draw(labels: np.ndarray, names: Sequence[str], n: int = 3, seed: int = 0,
              pair: Sequence[str] = ("glasses", "beard")) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test images of Fig. 3, drawn (never chosen) with numpy's default_rng(seed), in this order: n faces with
    neither label of `pair`, n donors of the first (glasses; without the second where there are n), n donors of the
    second (beard; without the first where there are n); each sorted by test index."""
    kg, kb = names.index(pair[0]), names.index(pair[1])
    rng = np.random.default_rng(seed)
    faces = _pick(labels, {kg: 0, kb: 0}, n, rng)
    glasses = _pick(labels, {kg: 1}, n, rng, prefer={kb: 0})
    beards = _pick(labels, {kb: 1}, n, rng, prefer={kg: 0})
    return faces, glasses, beards


def fig3_caption(cfg, faces, glasses, beards, seed: int) -> str:
    """Which draw Fig. 3 shows: the draw's seed and rule, the test indices, and the training run."""
    a, b = cfg.data.labels[:2]
    return (f"Rows and donors: a seeded draw from the test split (numpy default_rng({seed}); faces with neither "
            f"label, {a} donors without {_NOUN.get(b, b)}, {b} donors without {_NOUN.get(a, a)} where the split has "
            f"enough), not a choice. Test images: faces {', '.join(map(str, faces))}; {a} donors "
            f"{', '.join(map(str, glasses))}; {b} donors {', '.join(map(str, beards))}. "
            f"Model: {cfg.model.name}, training seed {cfg.train.seed}.")


_NOUN = {"beard": "a beard"}  # how a caption names a label after "without"


def fig3(model, cfg, test_split: Split, n: int = 3, seed: int = 0, out=None, truth: bool = True) -> Figure:
    """Paper Fig. 3: faces (first column) get the glasses (the run's first label) of the first row's donors and the
    beard (its second) of their row's last image; `seed` draws the images (fig3_draw), the caption says which draw."""
    if len(cfg.data.labels) < 2:
        raise JdvaeError(f"Fig. 3 needs a model trained with two labels (this one has {', '.join(cfg.data.labels)}); "
                         "train one with `--labels glasses,beard` (on your own images: --labels A,B)")
    pair, names = cfg.data.labels[:2], test_split.label_names
    if not set(pair) <= set(names):
        raise JdvaeError(f"Fig. 3 needs a test split with the labels {' and '.join(pair)}; load it with the run's "
                         "data config")
    faces, glasses, beards = fig3_draw(test_split.labels, names, n, seed, pair)

    x_f, y_f = model_inputs(model, cfg, test_split, faces)
    x_g, y_g = model_inputs(model, cfg, test_split, glasses)
    x_b, y_b = model_inputs(model, cfg, test_split, beards)
    mg, mb = 0, 1  # the pair is the run's first two labels
    cells = np.stack([  # (n rows, n columns, S, S, 3)
        to_uint8(multi_swap(model, x_f[i:i + 1].expand(n, -1, -1, -1), y_f[i:i + 1].expand(n, -1),
                            glasses_from=(x_g, y_g),
                            beard_from=(x_b[i:i + 1].expand(n, -1, -1, -1), y_b[i:i + 1].expand(n, -1)),
                            k_glasses=mg, k_beard=mb))
        for i in range(n)])
    panels = [(f"{cfg.model.name}", cells)]
    if truth and test_split.factors is not None:
        panels.append(("truth (SynthFaces counterfactual)", _fig3_truth(test_split, faces, glasses, beards, pair)))

    fig, axes = panel_grid(n + 1, len(panels) * (n + 2), f"Fig. 3 ({cfg.profile} profile, draw seed {seed}): "
                                                    f"{pair[0]} from the top row, {pair[1]} from the right column")
    fig.supxlabel(fig3_caption(cfg, faces, glasses, beards, seed), fontsize=6, wrap=True)
    for p, (title, grid) in enumerate(panels):
        c0 = p * (n + 2)
        axes[0, c0].axis("off")
        axes[0, c0].text(0.5, 0.5, title, ha="center", va="center", fontsize=7, wrap=True,
                         transform=axes[0, c0].transAxes)
        axes[0, c0 + n + 1].set_visible(False)
        for j in range(n):
            show_image(axes[0, c0 + 1 + j], test_split.images[glasses[j]], f"{pair[0]} donor")
        for i in range(n):
            show_image(axes[1 + i, c0], test_split.images[faces[i]], "face" if i == 0 else None)
            for j in range(n):
                show_image(axes[1 + i, c0 + 1 + j], grid[i, j])
            show_image(axes[1 + i, c0 + n + 1], test_split.images[beards[i]], f"{pair[1]} donor" if i == 0 else None)
    return finish_figure(fig, out)


def _fig3_truth(split: Split, faces, glasses, beards, pair=("glasses", "beard")) -> np.ndarray:
    """True Fig. 3 cells from the SynthFaces renderer: (n, n, S, S, 3)."""
    from jdvae.data import synthfaces

    n, size = len(faces), split.images.shape[1]
    rows = np.repeat(faces, n)  # row i, column j -> face i
    f = synthfaces.subset(split.factors, rows)
    f = synthfaces.with_label_of(f, synthfaces.subset(split.factors, np.tile(glasses, n)), pair[0])
    f = synthfaces.with_label_of(f, synthfaces.subset(split.factors, np.repeat(beards, n)), pair[1])
    return synthfaces.render(f, size).reshape(n, n, size, size, 3)

