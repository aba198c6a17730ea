"""CelebA from a user-given folder (never downloaded): its images, attributes and labels as arrays.

Read through `torchvision.datasets.CelebA(root, split, target_type="attr", download=False)`
with its MD5 check relaxed to a presence check; identity, bbox and landmark files are
optional. Images are centre-cropped to 178 px and resized to the profile size.
`data.splits` caches these arrays and wraps them in a `Split`, as it does for SynthFaces;
this module knows nothing of splits.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import JdvaeError

VERSION = "celeba-1"
SOURCE = ("download img_align_celeba.zip, list_attr_celeba.txt and list_eval_partition.txt from the official "
          "CelebA Google Drive (mmlab.ie.cuhk.edu.hk/projects/CelebA.html) and unpack them under")
REQUIRED = ("list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba")
OPTIONAL = ("identity_CelebA.txt", "list_bbox_celeba.txt", "list_landmarks_align_celeba.txt")
# label -> (CelebA attribute, inverted?)
ATTRIBUTES = {"glasses": ("Eyeglasses", False), "beard": ("No_Beard", True)}
PARTITIONS = {"train": "train", "val": "valid", "test": "test"}
CROP = 178


def find_root(root: str | os.PathLike) -> Path:
    """The folder that holds celeba/ (accepts the celeba/ folder itself); JdvaeError naming what is missing."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise JdvaeError(f"CelebA folder {root} does not exist; {SOURCE} {root}/celeba/")
    if not (root / "celeba").is_dir() and (root / REQUIRED[0]).exists():
        root = root.parent
    for name in REQUIRED:
        if not (root / "celeba" / name).exists():
            raise JdvaeError(f"CelebA is incomplete: {root / 'celeba' / name} is missing; {SOURCE} {root}/celeba/")
    return root


def _dataset(root: Path, split: str):
    """torchvision's CelebA over `root`, with presence instead of MD5 checks and optional extras."""
    from torchvision.datasets import CelebA

    class _CelebA(CelebA):
        def _check_integrity(self) -> bool:
            return True  # find_root checked the files; re-saved copies have other checksums

        def _load_csv(self, filename, header=None):
            path = Path(self.root) / self.base_folder / filename
            if filename in OPTIONAL and not path.exists():  # unused with target_type="attr"
                return super()._load_csv("list_eval_partition.txt")
            return super()._load_csv(filename, header)

    try:
        return _CelebA(str(root), split=PARTITIONS[split], target_type="attr", download=False)
    except (ValueError, IndexError, RuntimeError) as e:
        raise JdvaeError(f"CelebA annotation files under {root}/celeba are malformed ({e}); {SOURCE} {root}/celeba/") from None


def labels_of(attr_matrix: np.ndarray, attr_names: list[str], names) -> np.ndarray:
    """Int64 (N, K) labels for `names` from the 0/1 attribute matrix (beard = not No_Beard)."""
    cols = []
    for name in names:
        if name not in ATTRIBUTES:
            raise JdvaeError(f"label {name!r} has no CelebA attribute; use one of {', '.join(ATTRIBUTES)}")
        attr, invert = ATTRIBUTES[name]
        if attr not in attr_names:
            raise JdvaeError(f"attribute {attr!r} is not in list_attr_celeba.txt; use the official annotation file")
        col = attr_matrix[:, attr_names.index(attr)].astype(np.int64)
        cols.append(1 - col if invert else col)
    return np.stack(cols, axis=1).reshape(len(attr_matrix), len(names))


def _image(path: Path, size: int) -> np.ndarray:
    """One image: centre crop to 178 px, resize to `size`, uint8 (size, size, 3)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            c = min(CROP, w, h)
            left, top = (w - c) // 2, (h - c) // 2
            im = im.crop((left, top, left + c, top + c)).resize((size, size), Image.BICUBIC)
            return np.asarray(im, np.uint8)
    except (OSError, ValueError) as e:
        raise JdvaeError(f"CelebA image {path} is missing or corrupt ({e}); re-extract img_align_celeba.zip") from None


def read_partition(root: Path, split: str, size: int, progress: bool = True) -> dict[str, np.ndarray]:
    """The official partition `split` of the CelebA under `root`: images uint8 (N, size, size, 3), attr, attr_names."""
    ds = _dataset(root, split)
    from tqdm import tqdm

    folder = root / "celeba" / "img_align_celeba"
    images = np.empty((len(ds.filename), size, size, 3), np.uint8)
    for i, name in enumerate(tqdm(ds.filename, desc=f"CelebA {split} {size}px", unit="img", disable=not progress)):
        images[i] = _image(folder / name, size)
    return {"images": images, "attr": ds.attr.numpy().astype(np.int8), "attr_names": np.array(ds.attr_names)}


def balance(labels: np.ndarray, seed: int, split: str) -> np.ndarray:
    """Rows to keep: every image with a positive label and a seeded 20 % of the others."""
    positive = labels.any(axis=1)
    keep = np.random.default_rng([int(seed), list(PARTITIONS).index(split), 0xCE1E]).random(len(labels)) < 0.2
    return np.flatnonzero(positive | keep)
