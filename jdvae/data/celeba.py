"""CelebA from a user-given folder (never downloaded): its images, attributes and labels as arrays.

Two layouts are read. The official one (Google Drive): `img_align_celeba/` beside the space-separated
`list_attr_celeba.txt` (a count line, a header line, then one row per image) and `list_eval_partition.txt`.
The Kaggle mirror's: `img_align_celeba/` (often holding the images one folder deeper,
`img_align_celeba/img_align_celeba/`) beside comma-separated `list_attr_celeba.csv` and
`list_eval_partition.csv`, each with a header row that starts with `image_id`. The folder may have any
name and may be given itself or as its parent. Identity, bbox and landmark files are never needed.
Images are centre-cropped to 178 px and resized to the profile size. `data.splits` caches these arrays
and wraps them in a `Split`, as it does for SynthFaces; this module knows nothing of splits.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from jdvae.errors import JdvaeError
from jdvae.data.images import center_crop

VERSION = "celeba-1"
SOURCE = ("download img_align_celeba.zip, list_attr_celeba.txt and list_eval_partition.txt from the official "
          "CelebA Google Drive (mmlab.ie.cuhk.edu.hk/projects/CelebA.html) and unpack them under")
MIRROR = "or unzip the Kaggle mirror (kaggle.com/datasets/jessicali9530/celeba-dataset) whole into"
IMAGES = "img_align_celeba"
# layout -> (attribute table, partition table); the official layout is looked for first
TABLES = {"official": ("list_attr_celeba.txt", "list_eval_partition.txt"),
          "Kaggle": ("list_attr_celeba.csv", "list_eval_partition.csv")}
# The 40 attributes, in the order of both layouts' attribute tables.
ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()
# label -> (CelebA attribute, inverted?)
ATTRIBUTES = {"glasses": ("Eyeglasses", False), "beard": ("No_Beard", True)}
PARTITIONS = {"train": "train", "val": "valid", "test": "test"}
CODES = {"train": "0", "val": "1", "test": "2"}  # the partition tables' values
CROP = 178


@dataclass(frozen=True)
class Layout:
    """A recognised CelebA folder: its layout, the folder with the tables, the image folder and the two tables."""

    name: str  # "official" or "Kaggle"
    folder: Path
    images: Path
    attr: Path
    partition: Path

    @property
    def cache_id(self) -> str:
        """What names this CelebA in the array cache's key (for an official celeba/ folder: the key it always had)."""
        if self.name == "official" and self.folder.name == "celeba":
            return str(self.folder.parent.resolve())
        return f"{self.name}:{self.folder.resolve()}"

    def fix(self) -> str:
        """How to get a complete copy of this layout."""
        return f"{SOURCE} {self.folder}" if self.name == "official" else f"{MIRROR} {self.folder}"


def _recognise(folder: Path) -> Layout | None:
    """The layout whose tables `folder` holds (either table is enough), or None."""
    for name, (attr, partition) in TABLES.items():
        if (folder / attr).is_file() or (folder / partition).is_file():
            deeper = folder / IMAGES / IMAGES
            images = deeper if deeper.is_dir() else folder / IMAGES
            return Layout(name, folder, images, folder / attr, folder / partition)
    return None


def find_layout(root: str | os.PathLike) -> Layout:
    """The CelebA in `root` or in one folder below it; JdvaeError naming the paths looked at and what is missing."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise JdvaeError(f"CelebA folder {root} does not exist; {SOURCE} {root}/celeba/ ({MIRROR} {root}/)")
    layout = _recognise(root)
    if layout is None:
        found = [x for x in (_recognise(d) for d in sorted(root.iterdir()) if d.is_dir()) if x is not None]
        if len(found) > 1:
            raise JdvaeError(f"{root} holds several CelebA folders ({', '.join(str(x.folder) for x in found)}); "
                             "pass one of them as --celeba-root")
        if not found:
            raise JdvaeError(f"no CelebA tables in {root}: looked for {root}/{TABLES['official'][0]} (official "
                             f"layout), {root}/{TABLES['Kaggle'][0]} (Kaggle mirror) and the same one folder down; "
                             f"{SOURCE} {root}/celeba/ ({MIRROR} {root}/)")
        layout = found[0]
    for path in (layout.attr, layout.partition, layout.images):
        if not path.exists():
            raise JdvaeError(f"CelebA ({layout.name} layout, in {layout.folder}) is incomplete: {path} is missing; "
                             f"{layout.fix()}")
    return layout


def _malformed(path: Path, line: int, problem: str, layout: Layout) -> JdvaeError:
    return JdvaeError(f"{path} line {line}: {problem}; {layout.fix()}")


def _text(path: Path, layout: Layout) -> list[tuple[int, str]]:
    """(line number, text) of every non-empty line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise JdvaeError(f"cannot read {path} ({e}); {layout.fix()}") from None
    return [(no, line) for no, line in enumerate(text.splitlines(), 1) if line.strip()]


def _fields(line: str, layout: Layout, maxsplit: int = -1) -> list[str]:
    """A line's fields: comma-separated in the Kaggle layout, else separated by spaces."""
    if layout.name == "Kaggle":
        return [f.strip() for f in line.split(",", maxsplit)]
    return line.split(None, maxsplit)


def _lines(path: Path, layout: Layout) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-empty line."""
    return [(no, _fields(line, layout)) for no, line in _text(path, layout)]


def read_attributes(layout: Layout) -> tuple[list[str], dict[str, int], np.ndarray]:
    """Attribute names, row of each image and the int8 (N, 40) 0/1 matrix (-1 and 0 read as 0) of the table."""
    lines = _text(layout.attr, layout)
    head = [(no, _fields(line, layout)) for no, line in lines[:2]]
    if layout.name == "official":
        if not head or len(head[0][1]) != 1 or not head[0][1][0].isdigit():
            raise _malformed(layout.attr, head[0][0] if head else 1, "expected the number of images", layout)
        if len(head) < 2:
            raise _malformed(layout.attr, 2, "expected the line of attribute names", layout)
        count, names, rows = int(head[0][1][0]), head[1][1], lines[2:]
        if count != len(rows):
            raise _malformed(layout.attr, head[0][0], f"says {count} images but {len(rows)} rows follow", layout)
    else:
        if not head or head[0][1][0] != "image_id":
            raise _malformed(layout.attr, head[0][0] if head else 1, "expected a header row image_id,...", layout)
        names, rows = head[0][1][1:], lines[1:]
    split = [_fields(line, layout, 1) + [""] for _, line in rows]  # [image, the values as text, ...]
    try:  # one parse in C; a token that is no integer stops it, and the row is then found line by line
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            flat = np.fromstring(" ".join(f[1] for f in split).replace(",", " "), dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        flat = np.empty(0, np.int64)
    if flat.size != len(rows) * len(names) or not np.isin(flat, (-1, 0, 1)).all():
        _first_bad_row(layout, names, rows)
    attr = ((flat.reshape(len(rows), len(names)) + 1) // 2).astype(np.int8)
    return list(names), {f[0]: i for i, f in enumerate(split)}, attr


def _first_bad_row(layout: Layout, names: list[str], rows: list[tuple[int, str]]) -> None:
    """Raise the error of the first row with a wrong number of values or a value that is not -1, 0 or 1."""
    for no, line in rows:
        fields = _fields(line, layout)
        if len(fields) != len(names) + 1:
            raise _malformed(layout.attr, no, f"{len(fields) - 1} values for {len(names)} attributes", layout)
        for name, value in zip(names, fields[1:]):
            if value not in ("-1", "0", "1"):
                raise _malformed(layout.attr, no, f"{name} is '{value}', not -1 or 1", layout)
    raise _malformed(layout.attr, rows[0][0] if rows else 1, "unreadable values", layout)


def read_split_files(layout: Layout, split: str, row_of: dict[str, int]) -> tuple[list[str], np.ndarray]:
    """The image names of the partition `split`, in the table's order, and their rows in the attribute table."""
    lines = _lines(layout.partition, layout)
    if layout.name == "Kaggle":
        if not lines or lines[0][1][:1] != ["image_id"]:
            raise _malformed(layout.partition, lines[0][0] if lines else 1, "expected a header row "
                             "image_id,partition", layout)
        lines = lines[1:]
    names, rows = [], []
    for no, fields in lines:
        if len(fields) != 2 or fields[1] not in CODES.values():
            raise _malformed(layout.partition, no, "expected an image name and a partition 0, 1 or 2", layout)
        if fields[1] == CODES[split]:
            if fields[0] not in row_of:
                raise _malformed(layout.partition, no, f"{fields[0]} has no row in {layout.attr}", layout)
            names.append(fields[0])
            rows.append(row_of[fields[0]])
    return names, np.array(rows, dtype=np.int64)


def labels_of(attr_matrix: np.ndarray, attr_names: list[str], names) -> np.ndarray:
    """Int64 (N, K) labels for `names` from the 0/1 attribute matrix (beard = not No_Beard)."""
    cols = []
    for name in names:
        if name not in ATTRIBUTES:
            raise JdvaeError(f"label {name!r} has no CelebA attribute; use one of {', '.join(ATTRIBUTES)}")
        attr, invert = ATTRIBUTES[name]
        if attr not in attr_names:
            raise JdvaeError(f"attribute {attr!r} is not in the CelebA attribute table; use the official one")
        col = attr_matrix[:, attr_names.index(attr)].astype(np.int64)
        cols.append(1 - col if invert else col)
    return np.stack(cols, axis=1).reshape(len(attr_matrix), len(names))


def _image(path: Path, size: int) -> np.ndarray:
    """One image: centre crop to 178 px, resize to `size`, uint8 (size, size, 3)."""
    try:
        with Image.open(path) as im:
            return center_crop(im, size, CROP)
    except (OSError, ValueError) as e:
        raise JdvaeError(f"CelebA image {path} is missing or corrupt ({e}); re-extract img_align_celeba.zip") from None


def read_partition(layout: Layout, split: str, size: int, progress: bool = True) -> dict[str, np.ndarray]:
    """The official partition `split` of the CelebA in `layout`: images uint8 (N, size, size, 3), attr, attr_names."""
    attr_names, row_of, attr = read_attributes(layout)
    names, rows = read_split_files(layout, split, row_of)
    from tqdm import tqdm

    images = np.empty((len(names), size, size, 3), np.uint8)
    for i, name in enumerate(tqdm(names, desc=f"CelebA {split} {size}px", unit="img", disable=not progress)):
        images[i] = _image(layout.images / name, size)
    return {"images": images, "attr": attr[rows], "attr_names": np.array(attr_names)}


def balance(labels: np.ndarray, seed: int, split: str) -> np.ndarray:
    """Rows to keep: every image with a positive label and a seeded 20 % of the others."""
    positive = labels.any(axis=1)
    keep = np.random.default_rng([int(seed), list(PARTITIONS).index(split), 0xCE1E]).random(len(labels)) < 0.2
    return np.flatnonzero(positive | keep)
