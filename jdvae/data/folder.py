"""Your own labelled images: DIR/labels.csv names the images and their 0/1 labels (docs/your_data.md).

Columns: `file` (a path relative to DIR, any image Pillow reads), one 0/1 column per label, named
freely, and optionally `split` (train, val or test); without it a seeded 80/10/10 split is drawn.
The separator is the header's comma, semicolon or tab (spreadsheets write semicolons in many
locales). A label column of -1 and 1 only (CelebA's convention) reads as 0/1; one that mixes 0
and -1 is refused, as is an image listed twice. Images are centre-cropped to a square and resized
to the profile's size. Every problem is one JdvaeError line naming the file, the row and the fix.
`data.splits` caches the decoded images.
"""
from __future__ import annotations

import csv
import posixpath
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from jdvae.errors import JdvaeError
from jdvae.data.images import center_crop

VERSION = "folder-1"
TABLE = "labels.csv"
SPLITS = ("train", "val", "test")
SHARES = (0.8, 0.1, 0.1)  # the seeded split when labels.csv has no split column
HOW = "(docs/your_data.md)"
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}  # in order of preference on a tie


@dataclass(frozen=True)
class Table:
    """labels.csv read: image paths, their table lines, the label columns asked for, the split of each row."""

    path: Path
    files: list[str]
    lines: np.ndarray  # int (N,): line of each row in labels.csv
    labels: np.ndarray  # int64 (N, K)
    split: np.ndarray  # str (N,): train, val or test
    given: bool  # the split came from a split column (else seeded)


def _where(root) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise JdvaeError(f"image folder {root} does not exist; pass --data-root DIR, the folder holding {TABLE} {HOW}")
    if not (root / TABLE).is_file():
        raise JdvaeError(f"{root / TABLE} is missing; write it with a `file` column and one 0/1 column per label, "
                         f"e.g. file,smile,hat {HOW}")
    return root


def read_table(root, names, seed: int) -> Table:
    """labels.csv of the folder `root` with the label columns `names`; rows of the seeded split when it has none."""
    path = _where(root) / TABLE
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
        sep = separator(text)
        rows = [(no, row) for no, row in enumerate(csv.reader(text.splitlines(), delimiter=sep), 1)
                if any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise JdvaeError(f"{path} cannot be read as CSV ({e}); save it as UTF-8 comma-separated text {HOW}") from None
    if not rows:
        raise JdvaeError(f"{path} is empty; write a header line file,LABEL,... and one row per image {HOW}")
    (head_line, header), body = rows[0], rows[1:]
    header = [c.strip() for c in header]
    missing = [c for c in ("file", *names) if c not in header]
    if missing:
        found = f"separated by {SEPARATORS[sep]}s" if len(header) > 1 else "no comma, semicolon or tab found"
        raise JdvaeError(f"{path} line {head_line}: no column {missing[0]!r} (columns {found}: {', '.join(header)}); "
                         f"add it, separate columns by commas, semicolons or tabs, or pass --labels with names of "
                         f"its 0/1 columns {HOW}")
    if not body:
        raise JdvaeError(f"{path} has a header but no image rows; add one row per image {HOW}")
    files, labels, split, lines, seen = [], [], [], [], {}
    for no, row in body:
        if len(row) != len(header):
            raise JdvaeError(f"{path} line {no}: {len(row)} fields for {len(header)} columns; give every row a value "
                             f"for each of {', '.join(header)}")
        cell = dict(zip(header, (c.strip() for c in row)))
        for name in names:
            if cell[name] not in ("0", "1", "-1"):
                raise JdvaeError(f"{path} line {no}: {name} is {cell[name]!r}, not 0 or 1; write 1 where the image "
                                 f"shows {name}, else 0 (or -1, as CelebA does)")
        if "split" in cell and cell["split"] not in SPLITS:
            raise JdvaeError(f"{path} line {no}: split is {cell['split']!r}; write train, val or test, or drop the "
                             "split column for a seeded 80/10/10 split")
        key = posixpath.normpath(cell["file"].replace("\\", "/"))
        if key in seen:
            raise JdvaeError(f"{path} lines {seen[key]} and {no}: image {cell['file']!r} is listed twice, so it could "
                             "land in two splits; keep one row per image")
        seen[key] = no
        files.append(cell["file"])
        labels.append([int(cell[name]) for name in names])
        split.append(cell.get("split", ""))
        lines.append(no)
    labels = zero_one(np.array(labels, np.int64).reshape(len(files), len(names)), names, np.array(lines), path)
    split = np.array(split) if "split" in header else seeded_split(len(files), seed)
    return Table(path, files, np.array(lines), labels, split, "split" in header)


def separator(text: str) -> str:
    """The header's separator: the most frequent of comma, semicolon and tab in its first non-empty line."""
    head = next((line for line in text.splitlines() if line.strip()), "")
    return max(SEPARATORS, key=lambda c: (head.count(c), -list(SEPARATORS).index(c)))


def zero_one(labels: np.ndarray, names, lines: np.ndarray, path: Path) -> np.ndarray:
    """Labels (N, K) as 0/1: a column of -1 and 1 only (CelebA's convention) maps -1 to 0; one mixing 0 and -1 fails."""
    out = labels.copy()
    for k, name in enumerate(names):
        column = labels[:, k]
        if not (column == -1).any():
            continue
        if (column == 0).any():
            zero, minus = lines[np.argmax(column == 0)], lines[np.argmax(column == -1)]
            raise JdvaeError(f"{path}: label {name} mixes 0 (line {zero}) and -1 (line {minus}); write 0/1, or -1/1 "
                             f"as CelebA does, in the whole column {HOW}")
        out[:, k] = column == 1
    return out


def seeded_split(n: int, seed: int) -> np.ndarray:
    """train / val / test for n rows, 80/10/10 in a random order drawn from `seed` (at least one of each when n >= 3)."""
    n_val = n_test = max(1, round(SHARES[1] * n)) if n >= 3 else 0
    order = np.random.default_rng([int(seed), 0xF01D]).permutation(n)
    split = np.full(n, "train", dtype="<U5")
    split[order[:n_val]] = "val"
    split[order[n_val:n_val + n_test]] = "test"
    return split


def check_split(table: Table, split: str, names) -> np.ndarray:
    """The rows of `split`; JdvaeError when it is empty or a label has no positive or no negative in it."""
    rows = np.flatnonzero(table.split == split)
    fix = "add images to it" + ("" if table.given else " (or give labels.csv a split column)")
    if not len(rows):
        raise JdvaeError(f"{table.path}: the {split} split has no image; {fix}")
    for k, name in enumerate(names):
        for value, word in ((1, "positive"), (0, "negative")):
            if not (table.labels[rows, k] == value).any():
                raise JdvaeError(f"{table.path}: label {name} has no {word} ({name}={value}) in the {split} split "
                                 f"({len(rows)} rows, e.g. line {table.lines[rows[0]]}); {fix} with {name}={value}")
    return rows


def fingerprint(root, table: Table) -> list:
    """What the decoded images depend on: each file's path, size and modification time (for the cache key)."""
    out = []
    for name, no in zip(table.files, table.lines):
        path = image_path(root, table, name, no)
        stat = path.stat()
        out.append((name, stat.st_size, stat.st_mtime_ns))
    return out


def image_path(root, table: Table, name: str, line: int) -> Path:
    """DIR/name; JdvaeError naming labels.csv's line when it is not a file."""
    path = Path(root).expanduser() / name
    if not name or not path.is_file():
        raise JdvaeError(f"{table.path} line {line}: image {path} does not exist; fix the path (relative to "
                         f"{Path(root).expanduser()}) or remove the row")
    return path


def read_images(root, table: Table, size: int, progress: bool = True) -> np.ndarray:
    """Every image of the table, centre-cropped to a square and resized: uint8 (N, size, size, 3)."""
    from tqdm import tqdm

    images = np.empty((len(table.files), size, size, 3), np.uint8)
    for i, (name, no) in enumerate(tqdm(list(zip(table.files, table.lines)), desc=f"images {size}px", unit="img",
                                        disable=not progress)):
        path = image_path(root, table, name, no)
        try:
            with Image.open(path) as im:
                images[i] = center_crop(im, size)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise JdvaeError(f"{table.path} line {no}: image {path} does not decode ({e}); replace it with an image "
                             "Pillow reads (JPEG, PNG, ...) or remove the row") from None
    return images
