"""What the judge trains on: the seeded training subset and its augmented batches.

Augmentation: flips, and per-image Gaussian blur and pixel noise of random strength. Blur
stands in for what a VAE reconstruction does to a face; faded labels (SynthFaces) show the
judge where "present" ends (docs/decisions.md, "The judge"); the judge never sees a model's output. Every random
number comes from the caller's `torch.Generator` (or seed), drawn on the CPU.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F


def gaussian_blur(x: Tensor, sigma: Tensor, radius: int | None = None) -> Tensor:
    """Blur each image of x (B, C, H, W) with its own Gaussian of std sigma (B,) pixels (0 = unchanged)."""
    b, c, h, w = x.shape
    radius = math.ceil(3 * float(sigma.max())) if radius is None else radius
    if radius == 0:
        return x
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)  # (k,)
    s = sigma.to(x).clamp(min=1e-3)[:, None]  # (B, 1)
    k = torch.exp(-t[None] ** 2 / (2 * s ** 2))  # (B, k)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, k)
    y = F.pad(x.reshape(1, b * c, h, w), (radius,) * 4, mode="replicate")  # (1, B*C, H+2r, W+2r)
    y = F.conv2d(y, k[:, None, :, None], groups=b * c)  # vertical pass
    y = F.conv2d(y, k[:, None, None, :], groups=b * c)  # horizontal pass
    return y.reshape(b, c, h, w)


def augment(x: Tensor, gen: torch.Generator, blur_share: float, blur_sigma: float,
            noise: float) -> tuple[Tensor, Tensor]:
    """Flip half of x (B, C, S, S), blur `blur_share` of it (sigma ~ U(0, blur_sigma * S / 32) px), add noise.

    Returns the images and which of them were blurred, bool (B,) on the CPU.
    """
    b, size = len(x), x.shape[-1]
    r = torch.rand(b, 4, generator=gen)  # (B, 4), on the CPU whatever the device
    eps = torch.randn(x.shape, generator=gen)
    x = torch.where((r[:, 0] < 0.5).to(x.device)[:, None, None, None], x.flip(-1), x)  # a flip keeps every label
    max_sigma = blur_sigma * size / 32
    blurred = (r[:, 1] < blur_share) & (max_sigma > 0)
    if max_sigma > 0:
        x = gaussian_blur(x, torch.where(blurred, r[:, 2] * max_sigma, torch.zeros(b)), radius=math.ceil(3 * max_sigma))
    return (x + (r[:, 3] * noise)[:, None, None, None].to(x) * eps.to(x)).clamp(-1, 1), blurred


def training_subset(labels: np.ndarray, names: tuple[str, ...], max_images: int | None, glasses_share: float | None,
                    seed: int) -> np.ndarray:
    """Sorted rows of the seeded subset: max_images rows (None: all), glasses_share of them with glasses."""
    rng = np.random.default_rng(seed)
    n = len(labels) if max_images is None else min(max_images, len(labels))
    if glasses_share is None or "glasses" not in names:
        return np.sort(rng.choice(len(labels), size=n, replace=False)) if n < len(labels) else np.arange(n)
    has = labels[:, names.index("glasses")] == 1
    pos, neg = np.flatnonzero(has), np.flatnonzero(~has)
    n_pos = min(len(pos), round(glasses_share * n))
    n_neg = min(len(neg), n - n_pos)
    return np.sort(np.concatenate([rng.choice(pos, n_pos, replace=False), rng.choice(neg, n_neg, replace=False)]))


def bare_images(images: np.ndarray, labels: np.ndarray, factors: dict[str, np.ndarray] | None, keep: np.ndarray,
                names: tuple[str, ...], size: int) -> dict[str, np.ndarray]:
    """Per label: uint8 (N, S, S, 3), images[i] re-rendered without that label where it has it (else itself).

    images and labels are the split's rows `keep`; factors those of the whole split (SynthFaces: the
    renderer changes only the label's pixels). {} without factors.
    """
    if factors is None:
        return {}
    from jdvae.data import synthfaces

    out = {}
    for k, name in enumerate(names):
        rows = np.flatnonzero(labels[:, k] == 1)
        bare = images.copy()
        if len(rows):
            f = synthfaces.without_label(synthfaces.subset(factors, keep[rows]), name)
            bare[rows] = synthfaces.render(f, size)
        out[name] = bare
    return out


def fade(x: Tensor, y: Tensor, bare: list[Tensor | None], gen: torch.Generator, share: float,
         threshold: float) -> tuple[Tensor, Tensor, Tensor]:
    """Fade one present label of `share` of the images: x <- a·x + (1 − a)·bare with strength a ~ U(0, 1).

    x (B, C, S, S) and bare[k] (B, C, S, S) model inputs (None: label k is not faded), y (B, K) targets.
    A faded label counts as present when a >= threshold, so every judge learns the same boundary
    between faint and absent. Returns the images, the targets and which images were faded, bool (B,)
    on the CPU; three numbers per image are drawn from `gen`.
    """
    b, n_labels = y.shape
    r = torch.rand(b, 3, generator=gen)  # (B, 3): whether, which label, strength
    k = (r[:, 1] * n_labels).long().clamp(max=n_labels - 1)  # (B,)
    ok = torch.tensor([bare[int(j)] is not None for j in k], dtype=torch.bool)
    faded = (r[:, 0] < share) & ok & (y[torch.arange(b), k] > 0.5)
    if not faded.any():
        return x, y, faded
    x, y = x.clone(), y.clone()
    for j in range(n_labels):
        rows = torch.nonzero(faded & (k == j)).flatten()
        if len(rows):
            a = r[rows, 2]
            dev = rows.to(x.device)
            a_x = a.to(x)[:, None, None, None]
            x[dev] = a_x * x[dev] + (1 - a_x) * bare[j][dev]
            y[rows, j] = (a >= threshold).to(y)
    return x, y, faded


def averaged_label_images(labels: np.ndarray, factors: dict[str, np.ndarray], keep: np.ndarray,
                          names: tuple[str, ...], size: int, n_donors: int, seed: int) -> dict[str, np.ndarray]:
    """Per label: uint8 (N, S, S, 3), each face that has the label re-rendered with the mean of `n_donors` versions of it.

    The versions take the label's features (shape, colour, tint... of glasses; colour, style of a beard) from random
    faces of the split's rows `keep` that have the label: the greyed, blurred "average glasses" a model without u
    draws. Faces without the label are left as zeros (never used). labels are the rows `keep`; factors the split's.
    """
    from jdvae.data import synthfaces

    rng = np.random.default_rng(seed)
    out = {}
    for k, name in enumerate(names):
        rows = np.flatnonzero(labels[:, k] == 1)  # positions in `keep`
        mean = np.zeros((len(keep), size, size, 3), dtype=np.float32)
        if len(rows):
            face = synthfaces.subset(factors, keep[rows])
            for _ in range(n_donors):
                donor = synthfaces.subset(factors, keep[rng.choice(rows, size=len(rows))])
                mean[rows] += synthfaces.render(synthfaces.with_label_of(face, donor, name, present=True), size)
            mean /= n_donors
        out[name] = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
    return out


def use_averaged(x: Tensor, y: Tensor, averaged: list[Tensor | None], gen: torch.Generator, share: float) -> Tensor:
    """Replace one present label of `share` of the images x (B, C, S, S) by its averaged version (label unchanged).

    averaged[k] (B, C, S, S) model inputs or None; two numbers per image are drawn from `gen`.
    """
    b, n_labels = y.shape
    r = torch.rand(b, 2, generator=gen)  # (B, 2): whether, which label
    k = (r[:, 1] * n_labels).long().clamp(max=n_labels - 1)  # (B,)
    ok = torch.tensor([averaged[int(j)] is not None for j in k], dtype=torch.bool)
    chosen = (r[:, 0] < share) & ok & (y[torch.arange(b), k] > 0.5)
    if not chosen.any():
        return x
    x = x.clone()
    for j in range(n_labels):
        rows = torch.nonzero(chosen & (k == j)).flatten().to(x.device)
        if len(rows):
            x[rows] = averaged[j][rows]
    return x
