"""SynthFaces written as the folders users bring: a CelebA tree in either layout, or a folder of one's own
labelled images (labels.csv with the two labels under names of one's choice).

Each split draws the generator indices `data.splits` uses for SynthFaces (`SPLIT_OFFSET`). A face is
rendered at 128 px, resized to 178 px and placed in a 178x218 frame (the top and bottom 20 rows repeat
its edge rows), so the loader's centred 178 px crop is the face again. A tree is built in a hidden sibling folder and renamed into place at the end.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from jdvae.errors import JdvaeError
from jdvae.data import celeba, synthfaces
from jdvae.data.splits import SPLIT_OFFSET

WIDTH, HEIGHT = celeba.CROP, 218
_RENDER = 128


def celeba_frames(factors: dict[str, np.ndarray]) -> np.ndarray:
    """uint8 (N, 218, 178, 3): the faces of `factors` in CelebA's aligned frame."""
    faces = synthfaces.render(factors, _RENDER)
    pad = (HEIGHT - WIDTH) // 2
    out = np.empty((len(faces), HEIGHT, WIDTH, 3), np.uint8)
    for i, face in enumerate(faces):
        big = np.asarray(Image.fromarray(face).resize((WIDTH, WIDTH), Image.BICUBIC))
        out[i] = np.pad(big, ((pad, HEIGHT - WIDTH - pad), (0, 0), (0, 0)), mode="edge")
    return out


def celeba_attributes(factors: dict[str, np.ndarray]) -> np.ndarray:
    """int (N, 40) of -1/1: Eyeglasses, No_Beard, Goatee and Mustache from the factors, every other attribute -1."""
    n, names = len(factors["index"]), celeba.ATTRIBUTE_NAMES
    attr = -np.ones((n, len(names)), np.int64)
    beard, goatee = factors["beard"] == 1, factors["beard_style"] == synthfaces.BEARD_STYLES.index("goatee")
    truth = {"Eyeglasses": factors["glasses"] == 1, "No_Beard": ~beard, "Goatee": beard & goatee,
             "Mustache": beard & goatee}  # the goatee style is drawn with a moustache
    for name, value in truth.items():
        attr[:, names.index(name)] = np.where(value, 1, -1)
    return attr


@contextmanager
def new_tree(out: str | os.PathLike) -> Iterator[Path]:
    """A hidden folder beside `out` to fill; renamed to `out` when the block succeeds, removed when it fails."""
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise JdvaeError(f"{out} already exists and is not an empty folder; give a new folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as e:
        raise JdvaeError(f"cannot create {out} ({e}); give a writable folder") from None
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_celeba_tree(out, counts: dict[str, int], seed: int = 0, prevalence: float = 0.3,
                      kaggle: bool = False) -> Path:
    """Write SynthFaces as CelebA under `out` (official: out/celeba/; Kaggle: out/ itself); return the table folder."""
    layout = "Kaggle" if kaggle else "official"
    attr_name, partition_name = celeba.TABLES[layout]
    with new_tree(out) as tmp:
        folder = tmp if kaggle else tmp / "celeba"
        images = folder / celeba.IMAGES / celeba.IMAGES if kaggle else folder / celeba.IMAGES
        images.mkdir(parents=True)
        names, attrs, parts = [], [], []
        for split, n in counts.items():
            factors = synthfaces.sample_factors(seed, np.arange(SPLIT_OFFSET[split], SPLIT_OFFSET[split] + n), prevalence)
            for frame, row in zip(celeba_frames(factors), celeba_attributes(factors)):
                names.append(f"{len(names) + 1:06d}.jpg")
                Image.fromarray(frame).save(images / names[-1], quality=95)
                attrs.append(row)
                parts.append(celeba.CODES[split])
        if kaggle:
            attr_lines = [",".join(("image_id", *celeba.ATTRIBUTE_NAMES))]
            attr_lines += [",".join((name, *map(str, row))) for name, row in zip(names, attrs)]
            part_lines = ["image_id,partition"] + [f"{name},{p}" for name, p in zip(names, parts)]
        else:  # the official files: a count line, a header line with a trailing space, values two wide
            attr_lines = [str(len(names)), " ".join(celeba.ATTRIBUTE_NAMES) + " "]
            attr_lines += [name + "".join(f" {v:2d}" for v in row) for name, row in zip(names, attrs)]
            part_lines = [f"{name} {p}" for name, p in zip(names, parts)]
        (folder / attr_name).write_text("\n".join(attr_lines) + "\n")
        (folder / partition_name).write_text("\n".join(part_lines) + "\n")
    return Path(out).expanduser() if kaggle else Path(out).expanduser() / "celeba"


def write_labelled_folder(out, counts: dict[str, int], names: tuple[str, str], seed: int = 0,
                          prevalence: float = 0.3, size: int = 64) -> Path:
    """SynthFaces as PNGs in out/images/ and out/labels.csv (file, the glasses and beard columns under `names`,
    split); return `out`."""
    with new_tree(out) as tmp:
        (tmp / "images").mkdir()
        lines = [",".join(("file", *names, "split"))]
        for split, n in counts.items():
            factors = synthfaces.sample_factors(seed, np.arange(SPLIT_OFFSET[split], SPLIT_OFFSET[split] + n), prevalence)
            labels = synthfaces.labels_of(factors, synthfaces.LABELS)
            for image, row in zip(synthfaces.render(factors, size), labels):
                name = f"images/{split}-{len(lines):05d}.png"
                Image.fromarray(image).save(tmp / name)
                lines.append(",".join((name, *map(str, row), split)))
        (tmp / "labels.csv").write_text("\n".join(lines) + "\n")
    return Path(out).expanduser()
