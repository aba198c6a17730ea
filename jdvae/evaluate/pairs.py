"""Test pairs (I_g, I_w) for the swap experiment of Table 1 (paper section 3)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Pairing:
    """Indices into the test split: g[i] (label 1) is paired with w[i] (label 0)."""

    g: np.ndarray  # (P,) int64
    w: np.ndarray  # (P,) int64
    seed: int
    note: str | None = None  # why fewer pairs than images with the label, or why none

    def __len__(self) -> int:
        return len(self.g)

    @property
    def defined(self) -> bool:
        """False when one class is absent from the test split (the metric is undefined)."""
        return len(self.g) > 0


def draw_pairs(labels_k: np.ndarray, seed: int, name: str = "glasses") -> Pairing:
    """Pair every image with label 1 with a distinct image with label 0, drawn without replacement."""
    labels_k = np.asarray(labels_k).reshape(-1)
    pos, neg = np.flatnonzero(labels_k == 1), np.flatnonzero(labels_k == 0)
    empty = np.zeros(0, dtype=np.int64)
    if len(pos) == 0 or len(neg) == 0:
        missing = "with" if len(pos) == 0 else "without"
        return Pairing(empty, empty, seed, f"undefined: no test image {missing} {name}")
    rng = np.random.default_rng(seed)
    n = min(len(pos), len(neg))
    g = np.sort(rng.choice(pos, size=n, replace=False)) if n < len(pos) else pos
    w = rng.choice(neg, size=n, replace=False)
    note = None
    if n < len(pos):
        note = (f"{len(pos)} test images with {name} but only {len(neg)} without: "
                f"{n} pairs, {len(pos) - n} images with {name} unused")
    return Pairing(g.astype(np.int64), w.astype(np.int64), seed, note)
