"""Train/val/test splits of SynthFaces, CelebA or a folder of one's own, built once and cached on disk; the
supervision mask, counterfactuals.

`Split` is torch-free; the trainer scales `images` to [-1, 1] itself. SynthFaces splits
draw disjoint generator index ranges: train from 0, val from 10**8, test from 2 * 10**8,
so val and test keep the same faces whatever n_train is.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jdvae.config import DataConfig
from jdvae.errors import JdvaeError
from jdvae.io import atomic_path
from jdvae.data import celeba, folder, synthfaces

VERSION = "splits-1"
SPLITS = ("train", "val", "test")
SPLIT_OFFSET = {"train": 0, "val": 10**8, "test": 2 * 10**8}
_CHUNK = 256


@dataclass(frozen=True)
class Split:
    """Images uint8 (N,S,S,3), labels int64 (N,K) in `label_names` order, supervised bool (N,)."""

    images: np.ndarray
    labels: np.ndarray
    supervised: np.ndarray
    factors: dict[str, np.ndarray] | None  # SynthFaces ground truth; None for CelebA and folders
    index: np.ndarray  # int64 (N,): generator indices (SynthFaces), rows of the partition (CelebA) or of labels.csv
    label_names: tuple[str, ...] = ("glasses",)

    def __len__(self) -> int:
        return len(self.images)


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: `path`, else $JDVAE_CACHE, else ~/.cache/jdvae."""
    return Path(path or os.environ.get("JDVAE_CACHE") or Path.home() / ".cache" / "jdvae")


def cache_key(**params) -> str:
    """A short stable hash of JSON-able parameters."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def load_cached(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when it is missing or unreadable (then it is rebuilt)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if any(k not in arrays for k in required):
            raise KeyError("missing arrays")
        return arrays
    except Exception as e:  # a truncated or foreign file: rebuild rather than crash
        print(f"jdvae: cache file {path} is unreadable ({type(e).__name__}); rebuilding it", file=sys.stderr)
        return None


def save_cached(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to an uncompressed npz atomically; an unwritable cache is a JdvaeError."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except (JdvaeError, OSError) as e:
        raise JdvaeError(f"cannot write the data cache {path} ({e}); set JDVAE_CACHE to a writable folder") from None


def supervision_mask(n: int, rate: float, seed: int) -> np.ndarray:
    """Bool (n,) with exactly round(rate * n) True, chosen by `seed` alone (same rows for every label)."""
    keys = np.random.default_rng([int(seed), 0x5E1F]).random(n)
    mask = np.zeros(n, bool)
    mask[np.argsort(keys, kind="stable")[: int(round(rate * n))]] = True
    return mask


def synthfaces_arrays(seed: int, start: int, n: int, size: int, prevalence: float,
                      cache: str | os.PathLike | None = None, progress: bool = True) -> dict[str, np.ndarray]:
    """Images and factors of SynthFaces indices start..start+n, cached on disk."""
    key = cache_key(version=VERSION, generator=synthfaces.VERSION, seed=seed, start=start, n=n, size=size,
                    prevalence=prevalence)
    path = cache_dir(cache) / f"synthfaces-{size}px-{start}-{n}-{key}.npz"
    arrays = load_cached(path, ("images", "f_index"))
    if arrays is not None and arrays["images"].shape == (n, size, size, 3):
        return arrays
    factors = synthfaces.sample_factors(seed, np.arange(start, start + n), prevalence)
    images = np.empty((n, size, size, 3), np.uint8)
    from tqdm import tqdm

    with tqdm(total=n, desc=f"SynthFaces {size}px", unit="img", disable=not progress) as bar:
        for lo in range(0, n, _CHUNK):
            images[lo:lo + _CHUNK] = synthfaces.render(synthfaces.subset(factors, slice(lo, lo + _CHUNK)), size)
            bar.update(min(_CHUNK, n - lo))
    arrays = {"images": images, **{f"f_{k}": v for k, v in factors.items()}}
    save_cached(path, arrays)
    return arrays


def load_split(cfg: DataConfig, split: str, cache_dir=None, progress: bool = True) -> Split:
    """The `split` ("train", "val" or "test") of the data described by `cfg`."""
    if split not in SPLITS:
        raise JdvaeError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    cfg.validate()
    if cfg.source == "celeba":
        return _celeba_split(cfg, split, cache_dir, progress)
    if cfg.source == "folder":
        return _folder_split(cfg, split, cache_dir, progress)
    n = {"train": cfg.n_train, "val": cfg.n_val, "test": cfg.n_test}[split]
    if not 0 < n <= 10**8:
        raise JdvaeError(f"n_{split} = {n} must be between 1 and 10**8")
    arrays = synthfaces_arrays(cfg.seed, SPLIT_OFFSET[split], n, cfg.image_size, cfg.prevalence, cache_dir, progress)
    factors = {k[2:]: v for k, v in arrays.items() if k.startswith("f_")}
    supervised = supervision_mask(n, cfg.supervision, cfg.seed) if split == "train" else np.ones(n, bool)
    return Split(images=arrays["images"], labels=synthfaces.labels_of(factors, cfg.labels), supervised=supervised,
                 factors=factors, index=factors["index"].astype(np.int64), label_names=tuple(cfg.labels))


def celeba_rows(cfg: DataConfig, labels: np.ndarray, split: str) -> np.ndarray:
    """The rows of a CelebA partition that a run reads: the authors' subset under `data.celeba_balance`, else all."""
    return celeba.balance(labels, cfg.seed, split) if cfg.celeba_balance else np.arange(len(labels))


def _celeba_split(cfg: DataConfig, split: str, cache=None, progress: bool = True) -> Split:
    """The official CelebA partition `split` at cfg.image_size, decoded once and cached."""
    layout = celeba.find_layout(cfg.celeba_root)
    size = cfg.image_size
    key = cache_key(version=celeba.VERSION, root=layout.cache_id, size=size, split=split)
    path = cache_dir(cache) / f"celeba-{split}-{size}px-{key}.npz"
    arrays = load_cached(path, ("images", "attr", "attr_names"))
    if arrays is None:
        arrays = celeba.read_partition(layout, split, size, progress)
        save_cached(path, arrays)
    labels = celeba.labels_of(arrays["attr"], [str(n) for n in arrays["attr_names"]], cfg.labels)
    rows = celeba_rows(cfg, labels, split)
    n = len(rows)
    supervised = supervision_mask(n, cfg.supervision, cfg.seed) if split == "train" else np.ones(n, bool)
    return Split(images=arrays["images"][rows], labels=labels[rows], supervised=supervised, factors=None,
                 index=rows.astype(np.int64), label_names=tuple(cfg.labels))


def _folder_split(cfg: DataConfig, split: str, cache=None, progress: bool = True) -> Split:
    """The `split` rows of labels.csv in cfg.data_root at cfg.image_size; every split is checked first."""
    table = folder.read_table(cfg.data_root, cfg.labels, cfg.seed)
    rows = {name: folder.check_split(table, name, cfg.labels) for name in SPLITS}[split]
    key = cache_key(version=folder.VERSION, root=str(Path(cfg.data_root).expanduser().resolve()), size=cfg.image_size,
                    files=folder.fingerprint(cfg.data_root, table))
    path = cache_dir(cache) / f"folder-{cfg.image_size}px-{key}.npz"
    arrays = load_cached(path, ("images",))
    if arrays is None or len(arrays["images"]) != len(table.files):
        arrays = {"images": folder.read_images(cfg.data_root, table, cfg.image_size, progress)}
        save_cached(path, arrays)
    n = len(rows)
    supervised = supervision_mask(n, cfg.supervision, cfg.seed) if split == "train" else np.ones(n, bool)
    return Split(images=arrays["images"][rows], labels=table.labels[rows], supervised=supervised, factors=None,
                 index=rows.astype(np.int64), label_names=tuple(cfg.labels))


def counterfactual_images(split: Split, rows, donor_rows=None, label: str = "glasses",
                          size: int | None = None) -> np.ndarray:
    """The true counterfactuals: faces `rows` with the `label` of `donor_rows` (or none), uint8 (N,S,S,3)."""
    if split.factors is None:
        raise JdvaeError("true counterfactuals need SynthFaces ground truth; CelebA and your own images have none")
    size = size or split.images.shape[1]
    faces = synthfaces.subset(split.factors, np.atleast_1d(rows))
    if donor_rows is None:
        changed = synthfaces.without_label(faces, label)
    else:
        changed = synthfaces.with_label_of(faces, synthfaces.subset(split.factors, np.atleast_1d(donor_rows)), label)
    return synthfaces.render(changed, size)
