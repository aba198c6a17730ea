"""SynthFaces' truth for the measures: the glasses features of each face, and the factors and renderings of the
true counterfactual of a swap (the face wearing the donor's label, or none)."""
from __future__ import annotations

import numpy as np

# SynthFaces factor names of the glasses features (jdvae.data.synthfaces.GLASSES_FEATURES).
SHAPE_KEY, COLOUR_KEY, TINT_KEY = "glasses_shape", "glasses_color", "glasses_tint"
EXTRA_KEYS = ("glasses_size", "glasses_thickness")  # also probed
N_SHAPES = 3


def glasses_targets(factors: dict[str, np.ndarray], idx=slice(None)):
    """(shape (N,) int64, colour (N, 3) in [0, 1], tint (N,)) of the images `idx`."""
    colour = np.asarray(factors[COLOUR_KEY][idx], dtype=np.float32).reshape(-1, 3)
    return (np.asarray(factors[SHAPE_KEY][idx], dtype=np.int64).reshape(-1), colour,
            np.asarray(factors[TINT_KEY][idx], dtype=np.float32).reshape(-1))


def glasses_feature_matrix(factors: dict[str, np.ndarray], idx=slice(None)) -> np.ndarray:
    """Probe targets (N, F): one-hot frame shape, frame colour, tint, and lens size/thickness when present."""
    shape, colour, tint = glasses_targets(factors, idx)
    cols = [np.eye(N_SHAPES, dtype=np.float32)[shape], colour, tint[:, None]]
    cols += [np.asarray(factors[k][idx], dtype=np.float32).reshape(len(shape), -1) for k in EXTRA_KEYS if k in factors]
    return np.concatenate(cols, axis=1)


def counterfactual_factors(renderer, factors, g: np.ndarray, w: np.ndarray, label: str):
    """Factors of the true addition (I_w wearing I_g's label), of I_g, and of the true removal (I_g without it)."""
    f_g, f_w = renderer.subset(factors, g), renderer.subset(factors, w)
    return renderer.with_label_of(f_w, f_g, label, present=True), f_g, renderer.without_label(f_g, label)


def counterfactuals(renderer, factors, g: np.ndarray, w: np.ndarray, label: str, size: int):
    """True renderings (uint8 (P, S, S, 3)): I_w with I_g's label features, and I_g without the label."""
    f_add, _, f_remove = counterfactual_factors(renderer, factors, g, w, label)
    return renderer.render(f_add, size), renderer.render(f_remove, size)
