"""Where a faint label ends: the fade strength at which an unfaded judge reads half of the faded faces.

A judge trained with faded labels (judge_inputs.fade) learns "present" from `fade_threshold` on.
That threshold is chosen on validation faces: train a judge without fading (fade_share = 0), fade
each validation face's label to strength a (a·x + (1 − a)·x_without, x_without rendered by SynthFaces),
and take the a at which half of them are read as having it. The test split is never read.
"""
from __future__ import annotations

import numpy as np

from jdvae.errors import JdvaeError
from jdvae.evaluate.judge.train import predict_images
from jdvae.evaluate.judge.inputs import bare_images

STRENGTHS = tuple(round(0.1 * i, 1) for i in range(11))


def read_share_by_strength(judge, split, label: str, strengths=STRENGTHS, n: int = 300) -> list[float]:
    """Share of the first `n` faces of `split` with `label`, faded to each strength, that `judge` reads with it."""
    if split.factors is None:
        raise JdvaeError("fading needs SynthFaces factors (the face re-rendered without the label); use SynthFaces data")
    k = split.label_names.index(label)
    rows = np.flatnonzero(split.labels[:, k] == 1)[:n]
    if not len(rows):
        raise JdvaeError(f"the split has no face with {label}; use a larger split or a higher prevalence")
    images = split.images[rows]
    bare = bare_images(images, split.labels[rows], split.factors, rows, split.label_names, images.shape[1])[label]
    j = judge.labels.index(label)
    shares = []
    for a in strengths:
        faded = np.clip(np.rint(a * images.astype(np.float32) + (1 - a) * bare.astype(np.float32)), 0, 255)
        shares.append(float((predict_images(judge, faded.astype(np.uint8))[:, j] > 0.5).mean()))
    return shares


def half_point(strengths, shares) -> float | None:
    """The strength where the read share first reaches 0.5, linearly interpolated; None if it never does."""
    for i, (a, s) in enumerate(zip(strengths, shares)):
        if s >= 0.5:
            if i == 0:
                return float(a)
            a0, s0 = strengths[i - 1], shares[i - 1]
            return float(a0 + (0.5 - s0) * (a - a0) / (s - s0))
    return None
