"""Figures of the data itself: samples with labels, label balance, supervision mask, counterfactuals."""
from __future__ import annotations

import numpy as np

from jdvae.data.splits import Split, counterfactual_images


def data_overview(split: Split, n: int = 16, seed: int = 0):
    """A figure: n samples with their labels, a counterfactual row (SynthFaces), and the label counts."""
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(split), size=min(n, len(split)), replace=False)
    has_truth = split.factors is not None
    fig = plt.figure(figsize=(2 * 8, 2 * (n // 8 + (2 if has_truth else 1))))
    grid = fig.add_gridspec(n // 8 + (2 if has_truth else 1), 8)
    for j, r in enumerate(rows):
        ax = fig.add_subplot(grid[j // 8, j % 8])
        ax.imshow(split.images[r])
        tags = [name for name, v in zip(split.label_names, split.labels[r]) if v] or ["none"]
        ax.set_title(", ".join(tags) + ("" if split.supervised[r] else " (unlabelled)"), fontsize=8)
        ax.axis("off")
    next_row = n // 8
    if has_truth:
        g = int(np.flatnonzero(split.labels[:, 0] == 1)[0])
        w = int(np.flatnonzero(split.labels[:, 0] == 0)[0])
        panels = [(split.images[g], "I_g"), (counterfactual_images(split, [g])[0], "I_g, glasses removed (truth)"),
                  (split.images[w], "I_w"), (counterfactual_images(split, [w], [g])[0], "I_w + glasses of I_g (truth)")]
        for j, (img, title) in enumerate(panels):
            ax = fig.add_subplot(grid[next_row, j])
            ax.imshow(img)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        next_row += 1
    ax = fig.add_subplot(grid[next_row, :4])
    names = list(split.label_names)
    pos = split.labels.sum(0)
    ax.bar(names, pos, label="label = 1")
    ax.bar(names, len(split) - pos, bottom=pos, label="label = 0", alpha=0.5)
    ax.set_title(f"{len(split)} images; {int(split.supervised.sum())} keep their labels "
                 f"({split.supervised.mean():.0%})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
