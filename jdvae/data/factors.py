"""SynthFaces factors: what each image is made of, drawn from (seed, index), and counterfactual edits.

The table FACTORS documents every array (shape per image, range, meaning); `jdvae.data.synthfaces`
renders them. Counterfactuals are edits of the factors: the same face with another face's glasses
or beard, or without them.
"""
from __future__ import annotations

import numpy as np

VERSION = "synthfaces-1"
SIZES = (32, 64, 128)
LABELS = ("glasses", "beard")
GLASSES_SHAPES = ("round", "rectangular", "cat-eye")
BEARD_STYLES = ("full", "goatee", "chin strap")
HAIR_STYLES = ("short", "long", "fringe", "bald")

# name: (shape per image, range, meaning). Every factor array has the image axis first.
FACTORS: dict[str, tuple[tuple[int, ...], str, str]] = {
    "seed": ((), "int >= 0", "data seed (with index, seeds the pixel noise)"),
    "index": ((), "int >= 0", "generator index of the image"),
    "skin": ((3,), "[0, 1]", "skin colour, RGB"),
    "face_width": ((), "[0.40, 0.52]", "face half-width, image half-widths"),
    "face_height": ((), "[0.52, 0.66]", "face half-height, image half-heights"),
    "position": ((2,), "[-0.07, 0.07]", "face centre offset (x, y)"),
    "hair_color": ((3,), "[0, 1]", "hair and eyebrow colour, RGB"),
    "hair_style": ((), "{0, 1, 2, 3}", "short, long, fringe, bald"),
    "hair_part": ((), "[-1, 1]", "tilt of the hairline (side parting)"),
    "background": ((3,), "[0.1, 0.95]", "background colour at the centre, RGB"),
    "bg_gradient": ((2,), "[-1, 1]", "background brightness gradient (x, y)"),
    "shirt_color": ((3,), "[0.05, 0.95]", "shirt colour, RGB"),
    "eye_color": ((3,), "[0, 1]", "iris colour, RGB"),
    "mouth_width": ((), "[0, 1]", "mouth half-width, 0.22 to 0.42 face half-widths"),
    "mouth_smile": ((), "[-1, 1]", "mouth curvature: -1 frown, 1 smile"),
    "light": ((2,), "[-1, 1]", "lighting direction on the face (x, y); light comes from +x, +y"),
    "noise": ((), "[0, 0.03]", "std of the uniform pixel noise, in [0, 1] intensity units"),
    "glasses": ((), "{0, 1}", "label: glasses present"),
    "glasses_shape": ((), "{0, 1, 2}", "frame shape: round, rectangular, cat-eye"),
    "glasses_color": ((3,), "[0, 1]", "frame colour, RGB"),
    "glasses_tint": ((), "[0, 1]", "lens tint: 0 clear, 1 sunglasses"),
    "glasses_size": ((), "[0, 1]", "lens size, 0.26 to 0.38 face half-widths"),
    "glasses_thickness": ((), "[0, 1]", "frame thickness, 0.03 to 0.09 (at least one pixel)"),
    "beard": ((), "{0, 1}", "label: beard present"),
    "beard_color": ((3,), "[0, 1]", "beard colour, RGB"),
    "beard_style": ((), "{0, 1, 2}", "full, goatee, chin strap"),
    "beard_length": ((), "[0, 1]", "beard length below the chin"),
}
GLASSES_FEATURES = ("glasses_shape", "glasses_color", "glasses_tint", "glasses_size", "glasses_thickness")
BEARD_FEATURES = ("beard_color", "beard_style", "beard_length")
FEATURES = {"glasses": GLASSES_FEATURES, "beard": BEARD_FEATURES}

_INT_FACTORS = {"seed", "index", "hair_style", "glasses", "glasses_shape", "beard", "beard_style"}
_SKIN = np.array([[0.98, 0.85, 0.74], [0.90, 0.70, 0.55], [0.70, 0.48, 0.33], [0.40, 0.25, 0.16]])
_HAIR = np.array([[0.08, 0.06, 0.05], [0.30, 0.18, 0.09], [0.55, 0.35, 0.16], [0.90, 0.76, 0.45],
                  [0.70, 0.28, 0.10], [0.72, 0.72, 0.72]])
_EYES = np.array([[0.35, 0.20, 0.08], [0.20, 0.45, 0.80], [0.25, 0.55, 0.30], [0.45, 0.50, 0.55]])
_N_UNIFORMS = 48


# ---------------------------------------------------------------- factors

def sample_factors(seed: int, indices, prevalence: float = 0.3) -> dict[str, np.ndarray]:
    """Ground-truth factors of the images `indices`, each drawn from default_rng([seed, index])."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    u = np.empty((len(indices), _N_UNIFORMS))
    for row, index in enumerate(indices):
        u[row] = np.random.default_rng([int(seed), int(index)]).random(_N_UNIFORMS)
    cols = iter(range(_N_UNIFORMS))

    def take(k: int = 1) -> np.ndarray:
        c = [next(cols) for _ in range(k)]
        return u[:, c[0]] if k == 1 else u[:, c]

    def lerp(lo, hi, t):
        return (lo + (hi - lo) * t).astype(np.float32)

    def palette(table, jitter):
        pick = np.minimum((take() * len(table)).astype(int), len(table) - 1)
        return np.clip(table[pick] + jitter * (take(3) - 0.5), 0, 1).astype(np.float32)

    n = len(indices)
    f: dict[str, np.ndarray] = {"seed": np.full(n, int(seed), np.int64), "index": indices.copy()}
    t = take() * (len(_SKIN) - 1)
    lo = np.minimum(t.astype(int), len(_SKIN) - 2)
    f["skin"] = np.clip(_SKIN[lo] + (t - lo)[:, None] * (_SKIN[lo + 1] - _SKIN[lo]) + 0.06 * (take(3) - 0.5), 0, 1).astype(np.float32)
    f["face_width"] = lerp(0.40, 0.52, take())
    f["face_height"] = lerp(0.52, 0.66, take())
    f["position"] = lerp(-0.07, 0.07, take(2))
    f["hair_color"] = palette(_HAIR, 0.12)
    f["hair_style"] = np.minimum((take() * 4).astype(np.int64), 3)
    f["hair_part"] = lerp(-1, 1, take())
    f["background"] = lerp(0.1, 0.95, take(3))
    f["bg_gradient"] = lerp(-1, 1, take(2))
    f["shirt_color"] = lerp(0.05, 0.95, take(3))
    f["eye_color"] = palette(_EYES, 0.15)
    f["mouth_width"] = lerp(0, 1, take())
    f["mouth_smile"] = lerp(-1, 1, take())
    f["light"] = lerp(-1, 1, take(2))
    f["noise"] = lerp(0, 0.03, take())
    f["glasses"] = (take() < prevalence).astype(np.int64)
    f["glasses_shape"] = np.minimum((take() * 3).astype(np.int64), 2)
    f["glasses_color"] = lerp(0, 1, take(3))
    f["glasses_tint"] = lerp(0, 1, take())
    f["glasses_size"] = lerp(0, 1, take())
    f["glasses_thickness"] = lerp(0, 1, take())
    f["beard"] = (take() < prevalence).astype(np.int64)
    f["beard_color"] = palette(_HAIR[:5], 0.12)
    f["beard_style"] = np.minimum((take() * 3).astype(np.int64), 2)
    f["beard_length"] = lerp(0, 1, take())
    return f


def labels_of(factors: dict[str, np.ndarray], names=("glasses",)) -> np.ndarray:
    """The presence labels `names` as an int64 array (N, K)."""
    return np.stack([np.asarray(factors[name], np.int64) for name in names], axis=1)


def subset(factors: dict[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    """The factors of the images `rows` (an index array or slice)."""
    return {k: v[rows] for k, v in factors.items()}


def with_label_of(factors, donor, label: str = "glasses", present: bool | None = None) -> dict[str, np.ndarray]:
    """Factors with `label`'s features taken from `donor`; presence from donor (None) or forced."""
    out = dict(factors)
    for name in FEATURES[label]:
        out[name] = np.array(donor[name], copy=True)
    flag = donor[label] if present is None else np.full(len(factors[label]), int(present))
    out[label] = np.array(flag, dtype=np.int64)
    return out


def without_label(factors, label: str = "glasses") -> dict[str, np.ndarray]:
    """Factors with `label` removed (its features kept, presence 0)."""
    out = dict(factors)
    out[label] = np.zeros_like(factors[label])
    return out


def with_glasses_of(factors, donor, present: bool | None = None) -> dict[str, np.ndarray]:
    """The faces of `factors` wearing the glasses of `donor` (row by row)."""
    return with_label_of(factors, donor, "glasses", present)


def without_glasses(factors) -> dict[str, np.ndarray]:
    """The faces of `factors` with no glasses."""
    return without_label(factors, "glasses")


def with_beard_of(factors, donor, present: bool | None = None) -> dict[str, np.ndarray]:
    """The faces of `factors` with the beard of `donor` (row by row)."""
    return with_label_of(factors, donor, "beard", present)


def without_beard(factors) -> dict[str, np.ndarray]:
    """The faces of `factors` with no beard."""
    return without_label(factors, "beard")
