"""Which additions two judges read differently: a sheet of one model's swaps on validation pairs.

    python benchmarks/judge_seed_sheet.py --run runs/quick/M2-glasses-s0 \
        --judges runs/quick/judge runs/judge-s1 --out docs/judge_seeds_M2.png

Rows: additions both judges read as glasses, additions they split on, additions neither reads; each tile
is the face, then the model's addition with P(glasses) from each judge. Validation pairs only (pair seed 0).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def _additions(run: Path, label: str, n: int):
    """(faces without the label, the model's additions to them) for the first `n` validation pairs."""
    from jdvae.vae.checkpoint import load_run
    from jdvae.data.splits import load_split
    from jdvae.evaluate.metrics import _decode_all, _encode_all
    from jdvae.evaluate.pairs import draw_pairs
    from jdvae.evaluate.swaps import exchanged

    model, cfg = load_run(run, "cpu")
    val = load_split(cfg.data, "val", progress=False)
    k = cfg.data.labels.index(label)
    pairs = draw_pairs(val.labels[:, k], 0, label)
    g, w = pairs.g[:n], pairs.w[:n]
    idx = np.concatenate([g, w])
    lat = _encode_all(model, val.images[idx], torch.from_numpy(val.labels[idx]).float(), "cpu", 128)
    added = _decode_all(model, exchanged(lat.take(np.arange(len(g), 2 * len(g))), lat.take(np.arange(len(g))), k, 1.0),
                        "cpu", 128)
    return val.images[w], added


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True, help="a finished run folder")
    p.add_argument("--judges", type=Path, nargs=2, required=True, help="two judge folders (e.g. seeds 0 and 1)")
    p.add_argument("--label", default="glasses")
    p.add_argument("--pairs", type=int, default=1200, help="validation pairs read (default 1 200)")
    p.add_argument("--per-row", type=int, default=6)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jdvae.evaluate.judge.store import load_judge

    torch.set_num_threads(1)
    faces, added = _additions(args.run, args.label, args.pairs)
    probs = [load_judge(j).prob(added, args.label).numpy() for j in args.judges]  # 2 x (P,)
    yes = [q > 0.5 for q in probs]
    rows = {"both read glasses": np.flatnonzero(yes[0] & yes[1]),
            "the judges split": np.flatnonzero(yes[0] != yes[1]),
            "neither reads glasses": np.flatnonzero(~yes[0] & ~yes[1])}
    m = args.per_row
    fig, axes = plt.subplots(len(rows), 2 * m, figsize=(2 * m * 1.1, len(rows) * 1.45))
    for r, (title, idx) in enumerate(rows.items()):
        share = 100 * len(idx) / len(faces)
        axes[r, 0].set_ylabel(f"{title}\n({share:.1f} % of pairs)", fontsize=7)
        for c in range(m):
            a, b = axes[r, 2 * c], axes[r, 2 * c + 1]
            if c < len(idx):
                i = idx[c]
                a.imshow(faces[i])
                b.imshow(((added[i].permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8))
                b.set_title(f"{probs[0][i]:.2f} / {probs[1][i]:.2f}", fontsize=7)
            for ax in (a, b):
                ax.set_xticks([]), ax.set_yticks([])
    sr = " against ".join(f"{100 * y.mean():.1f} %" for y in yes)
    fig.suptitle(f"{args.run.name}: face, then its addition with P({args.label}) by judge A / judge B "
                 f"(validation pairs; SR(+) {sr})", fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}: SR(+) {sr}; the judges split on {100 * (yes[0] != yes[1]).mean():.1f} % of "
          f"{len(faces)} pairs")


if __name__ == "__main__":
    main()
