"""What every figure shares: panels in a grid of image cells, images as uint8, a model's inputs for chosen rows
of a split, and figures saved atomically as PNG and PDF (matplotlib's object API, never pyplot: safe headless)."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from jdvae.data.splits import Split
from jdvae.errors import JdvaeError
from jdvae.evaluate.swaps import to_tensor
from jdvae.io import atomic_path


CELL_INCHES = 1.25


def save_figure(fig: Figure, path: str | os.PathLike, formats: Sequence[str] = ("png", "pdf"),
                dpi: int = 150) -> list[Path]:
    """Write `fig` as path.png, path.pdf, ... each atomically; return the written paths.

    PDFs carry no creation date, so the same figure gives the same bytes (a redraw shows no change in git).
    """
    written = []
    for fmt in formats:
        target = Path(f"{path}.{fmt}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight",
                        metadata={"CreationDate": None} if fmt == "pdf" else None)
        written.append(target)
    return written


# ----------------------------------------------------------------- image helpers
def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, S, S) in [-1, 1] -> uint8 (B, S, S, 3)."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def labels_for(cfg, split: Split, rows) -> torch.Tensor:
    """The model's labels (in cfg.data.labels order) of split rows, as float (N, K)."""
    missing = [n for n in cfg.data.labels if n not in split.label_names]
    if missing:
        raise JdvaeError(f"the split has no {', '.join(missing)} labels (it has {', '.join(split.label_names)}); "
                         f"load the split with the run's data config")
    cols = [split.label_names.index(n) for n in cfg.data.labels]
    return torch.from_numpy(split.labels[np.asarray(rows)][:, cols]).float()


def check_size(cfg, split: Split) -> None:
    """Refuse a split whose image size differs from the model's."""
    if cfg.data.image_size != split.images.shape[1]:
        raise JdvaeError(f"the model was trained on {cfg.data.image_size} px images but the split has "
                         f"{split.images.shape[1]} px; load the split with the run's data config")


def model_inputs(model, cfg, split: Split, rows) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) tensors of split rows on the model's device."""
    check_size(cfg, split)
    dev = model.device
    return to_tensor(split.images[np.asarray(rows)], dev), labels_for(cfg, split, rows).to(dev)


class PanelFigure(Figure):
    """A matplotlib Figure that Jupyter shows as PNG without pyplot."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


def panel_grid(nrows: int, ncols: int, title: str | None = None) -> tuple[Figure, np.ndarray]:
    """A figure of nrows x ncols image axes without ticks."""
    fig = PanelFigure(figsize=(ncols * CELL_INCHES, nrows * CELL_INCHES + (0.5 if title else 0.2)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig, axes


def show_image(ax, image: np.ndarray | None, title: str | None = None, ylabel: str | None = None) -> None:
    if image is not None:
        ax.imshow(image, interpolation="nearest")
    if title:
        ax.set_title(title, fontsize=7)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=7)


def finish_figure(fig: Figure, out) -> Figure:
    if out is not None:
        save_figure(fig, out)
    return fig
