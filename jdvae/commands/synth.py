"""`jdvae synth`: export SynthFaces images, labels and factors to an npz (optionally with a contact sheet),
or write them as a CelebA tree in the official or the Kaggle mirror's layout (--celeba-layout), or as a
folder of one's own labelled images (--labelled-folder)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from jdvae.config import DataConfig
from jdvae.data import synth_trees, synthfaces
from jdvae.errors import JdvaeError
from jdvae.io import atomic_path


def register(subparsers) -> None:
    """Add the `synth` parser."""
    p = subparsers.add_parser("synth", help="export SynthFaces images, labels and factors",
                              description=__doc__)
    p.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--size", type=int, default=64, help="image size: 32, 64 or 128 (default 64)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    p.add_argument("--start", type=int, default=0, help="first generator index (default 0)")
    p.add_argument("--prevalence", type=float, default=0.3, help="probability of each label (default 0.3)")
    p.add_argument("--out", help="output .npz file")
    p.add_argument("--sheet", help="also write a contact sheet PNG here")
    p.add_argument("--celeba-layout", metavar="DIR", help="instead of an npz, write a new CelebA tree here: "
                   "178x218 JPEGs, the 40-attribute table and the partition table (DIR/celeba/, official layout)")
    p.add_argument("--kaggle", action="store_true", help="with --celeba-layout: the Kaggle mirror's layout "
                   "(DIR/img_align_celeba/img_align_celeba/, list_attr_celeba.csv, list_eval_partition.csv)")
    p.add_argument("--labelled-folder", metavar="DIR", help="instead of an npz, write a new folder of one's own "
                   "kind: DIR/images/*.png and DIR/labels.csv (file, the two labels, split)")
    p.add_argument("--label-names", default="glasses,beard", metavar="A,B",
                   help="with --labelled-folder: the column names of the glasses and the beard (default glasses,beard)")
    p.add_argument("--splits", default="36,12,12", metavar="TRAIN,VAL,TEST",
                   help="with --celeba-layout or --labelled-folder: images per split (default 36,12,12)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render, write the npz (and the sheet); return 0."""
    if args.size not in synthfaces.SIZES:
        raise JdvaeError(f"--size {args.size} is not supported; use one of {', '.join(map(str, synthfaces.SIZES))}")
    if args.n <= 0:
        raise JdvaeError(f"--n {args.n} must be positive")
    if not 0 < args.prevalence < 1:
        raise JdvaeError(f"--prevalence {args.prevalence} is outside (0, 1); give e.g. 0.3")
    if args.seed < 0 or args.start < 0:
        raise JdvaeError("--seed and --start must be non-negative")
    if args.celeba_layout or args.labelled_folder:
        return write_tree(args)
    if args.kaggle:
        raise JdvaeError("--kaggle chooses the layout of --celeba-layout DIR; pass that too")
    if not args.out:
        raise JdvaeError("give --out FILE.npz (or --celeba-layout DIR for a CelebA tree)")
    factors = synthfaces.sample_factors(args.seed, np.arange(args.start, args.start + args.n), args.prevalence)
    images = synthfaces.render(factors, args.size)
    out = Path(args.out)
    if out.is_dir():
        raise JdvaeError(f"--out {out} is a folder; give a file name such as {out / 'synth.npz'}")
    arrays = {"images": images, "labels": synthfaces.labels_of(factors, synthfaces.LABELS),
              "label_names": np.array(synthfaces.LABELS), **factors}
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    print(f"wrote {len(images)} images ({args.size} px) with labels and factors to {out}")
    if args.sheet:
        write_sheet(args.sheet, args.seed, args.size, factors, images)
        print(f"wrote contact sheet {args.sheet}")
    return 0


def write_tree(args: argparse.Namespace) -> int:
    """Write the CelebA tree of --celeba-layout or the folder of --labelled-folder; return 0."""
    try:
        counts = [int(n) for n in args.splits.split(",")]
    except ValueError:
        counts = []
    if len(counts) != 3 or min(counts) < 1:
        raise JdvaeError(f"--splits {args.splits!r} must be three positive counts TRAIN,VAL,TEST; give e.g. 36,12,12")
    counts = dict(zip(("train", "val", "test"), counts))
    if args.labelled_folder:
        names = tuple(n.strip() for n in args.label_names.split(","))
        DataConfig(source="folder", data_root=args.labelled_folder, labels=names).validate()  # names become columns
        if len(names) != 2:
            raise JdvaeError(f"--label-names {args.label_names!r} must name two columns (glasses, beard); e.g. smile,hat")
        synth_trees.write_labelled_folder(args.labelled_folder, counts, names, args.seed, args.prevalence, args.size)
        print(f"wrote {sum(counts.values())} SynthFaces images ({args.size} px) and labels.csv to "
              f"{args.labelled_folder}; use --data folder --data-root {args.labelled_folder} --labels {','.join(names)}")
        return 0
    folder = synth_trees.write_celeba_tree(args.celeba_layout, counts, args.seed, args.prevalence, args.kaggle)
    print(f"wrote {sum(counts.values())} SynthFaces images as CelebA ({'Kaggle' if args.kaggle else 'official'} "
          f"layout) in {folder}; use --celeba-root {args.celeba_layout}")
    return 0


def caption(f: dict[str, np.ndarray], i: int) -> str:
    """A short description of image i's labels and glasses features."""
    lines = []
    if f["glasses"][i]:
        rgb = "".join(f"{int(round(v * 9))}" for v in f["glasses_color"][i])
        lines.append(f"G {synthfaces.GLASSES_SHAPES[f['glasses_shape'][i]][:4]} t{f['glasses_tint'][i]:.1f}")
        lines.append(f"c{rgb} s{f['glasses_size'][i]:.1f} w{f['glasses_thickness'][i]:.1f}")
    else:
        lines.append("no glasses")
    lines.append(f"B {synthfaces.BEARD_STYLES[f['beard_style'][i]]}" if f["beard"][i] else "no beard")
    return "\n".join(lines)


def counterfactual_row(seed: int, size: int) -> tuple[np.ndarray, list[str]]:
    """Eight images: face, without glasses, with a donor's glasses, the donor; the same for the beard."""
    pool = synthfaces.sample_factors(seed, np.arange(10**6, 10**6 + 200), 0.5)
    g = np.flatnonzero(pool["glasses"] & (1 - pool["beard"]))
    b = np.flatnonzero(pool["beard"] & (1 - pool["glasses"]))
    face_g, donor_g, face_b, donor_b = (synthfaces.subset(pool, [r]) for r in (g[0], g[1], b[0], b[1]))
    row = [face_g, synthfaces.without_glasses(face_g), synthfaces.with_glasses_of(face_g, donor_g), donor_g,
           face_b, synthfaces.without_beard(face_b), synthfaces.with_beard_of(face_b, donor_b), donor_b]
    images = np.concatenate([synthfaces.render(f, size) for f in row])
    names = ["face", "no glasses", "donor's glasses", "glasses donor", "face", "no beard", "donor's beard", "beard donor"]
    return images, names


def write_sheet(path, seed: int, size: int, factors: dict[str, np.ndarray], images: np.ndarray) -> None:
    """Contact sheet PNG: up to 64 samples with captions and a row of true counterfactuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(64, len(images))
    cols, rows = 8, (n + 7) // 8
    fig, axes = plt.subplots(rows + 1, cols, figsize=(cols * 1.6, (rows + 1) * 2.05), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        ax = axes[i // cols, i % cols]
        ax.imshow(images[i], interpolation="nearest")
        ax.text(0.5, -0.04, caption(factors, i), fontsize=6, ha="center", va="top", transform=ax.transAxes)
    cf, names = counterfactual_row(seed, size)
    for j, (img, name) in enumerate(zip(cf, names)):
        ax = axes[rows, j]
        ax.imshow(img, interpolation="nearest")
        ax.text(0.5, -0.04, name, fontsize=7, color="darkred", ha="center", va="top", transform=ax.transAxes)
    fig.suptitle(f"SynthFaces {size} px, seed {seed}  (G shape tint / colour(0-9 RGB) size width; "
                 "last row: true counterfactuals)", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
