"""The paper profile's 128-px network on a CPU: PA1 at the profile's own settings, in resumable chunks.

    python -m benchmarks.learn128_cpu --out runs/learn128 [--steps 1000] [--chunk 50] [--until HH:MM]

Trains PA1 (128 px, full widths, lr 1e-4, batch 32, precision auto, no compile) on SynthFaces-128 with `jdvae`'s
own trainer, `--chunk` steps at a time (train(..., stop_after=...), so a killed run resumes). After every chunk it
reads Eq. 4 on a fixed validation batch and the model's balanced accuracy on validation images; at a few milestone
steps it draws reconstructions and swaps of fixed validation faces and reads R(+), R(-), SR(+) and SR(-) on
validation pairs with the quick profile's shipped judge, the images downscaled to 32 px. Everything lands in
OUT/learn128.json and OUT/learn128.png, rewritten after each chunk. Nothing reads the test split.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.gpu_check.learn_worker import QUICK_JUDGE as JUDGE, judged, learn_config
from jdvae.io import atomic_write_json

MILESTONES = (0, 50, 200, 500, 1000, 1500, 2000)


def config(n_train: int, steps: int, threads: int):
    """The GPU check's learning-run config (constant lr, as in the first 35 % of a 200-epoch run) on `n_train`
    SynthFaces-128 images, for `steps` steps on `threads` CPU threads, uncompiled."""
    from jdvae.config import override
    return override(learn_config(False), **{
        "data.n_train": n_train, "data.n_val": 2000, "train.max_steps": steps, "train.epochs": 1000,
        "train.compile": False, "train.threads": threads, "train.checkpoint_minutes": 10.0})


@torch.inference_mode()
def curve_point(model, cfg, val, rows: np.ndarray) -> dict:
    """Eq. 4 and its terms on a fixed, fully labelled validation batch; the classifier's BCA on the val rows."""
    from jdvae.data.tensors import to_model_input
    from jdvae.report.stats import balanced_accuracy
    from jdvae.vae.losses import loss_for
    x = to_model_input(torch.from_numpy(val.images[rows[:64]]), "cpu")
    y = torch.from_numpy(val.labels[rows[:64]]).long()
    labelled = torch.ones(len(x), dtype=torch.bool)
    torch.manual_seed(0)
    model.train()
    loss, terms = loss_for(model.structure.objective)(model(x, y, labelled, tau=cfg.train.tau), x, y, labelled,
                                                      cfg.train)
    model.eval()
    preds = []
    for i in range(0, len(rows), 64):
        xs = to_model_input(torch.from_numpy(val.images[rows[i:i + 64]]), "cpu")
        preds.append(model.classify(xs)[:, 0] > 0.5)
    bca = balanced_accuracy(val.labels[rows, 0] > 0.5, torch.cat(preds).numpy())
    return {"val_loss": float(loss), **{f"val_{k}": float(v) for k, v in terms.items()}, "val_bca": float(bca)}


@torch.inference_mode()
def pictures(model, val, rows_g: np.ndarray, rows_w: np.ndarray) -> np.ndarray:
    """One row: the reconstructions of the glasses faces, of the bare faces, then the bare faces given the glasses
    (y and u) of the glasses faces, as uint8 (H, W, 3) at 64 px a face."""
    from jdvae.evaluate.swaps import decode, encode_means, exchanged, to_tensor
    xg, xw = to_tensor(val.images[rows_g]), to_tensor(val.images[rows_w])
    lg = encode_means(model, xg, torch.from_numpy(val.labels[rows_g]).float())
    lw = encode_means(model, xw, torch.from_numpy(val.labels[rows_w]).float())
    made = torch.cat([decode(model, lg), decode(model, lw), decode(model, exchanged(lw, lg, 0, 1.0))])
    return tiles(made)


def tiles(x: torch.Tensor) -> np.ndarray:
    x = F.interpolate(x.float(), size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
    x = ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()  # (B, 64, 64, 3)
    return np.concatenate(list(x), axis=1)


def draw(state: dict, strips: dict[int, np.ndarray], originals: np.ndarray, png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curve = state["curve"]
    fig = plt.figure(figsize=(12, 3 + 1.1 * (len(strips) + 1)))
    grid = fig.add_gridspec(2 + len(strips), 3, height_ratios=[2.4] + [1] * (len(strips) + 1))
    steps = [c["step"] for c in curve]
    for j, (key, title) in enumerate((("val_loss", "Eq. 4 on a validation batch"),
                                      ("val_recon", "reconstruction error (val)"), ("val_bca", "classifier BCA (val)"))):
        ax = fig.add_subplot(grid[0, j])
        ax.plot(steps, [c.get(key) for c in curve], marker=".")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step (batch 32)", fontsize=8)
    rows = [("validation faces", originals)] + [(f"step {s}", strips[s]) for s in sorted(strips)]
    for i, (name, img) in enumerate(rows):
        ax = fig.add_subplot(grid[1 + i, :])
        ax.imshow(img)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(name, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("PA1, paper profile (128 px, full widths, lr 1e-4, batch 32) on a CPU: in each row the glasses "
                 "faces' reconstructions, the bare faces', then the bare faces with the glasses faces' (y, u)", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def current(cfg, run: Path) -> tuple[torch.nn.Module, int]:
    """The run's model and step: its last checkpoint, or before any, the initial weights seeded as the trainer
    seeds them."""
    from jdvae.vae.checkpoint import STATE, load_run, load_state
    if not (run / STATE).exists():
        from jdvae.vae.model import build_model
        torch.manual_seed(cfg.train.seed)
        return build_model(cfg.model).eval(), 0
    return load_run(run, "cpu")[0], int(load_state(run / STATE)["step"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n-train", type=int, default=20000)
    p.add_argument("--pairs", type=int, default=300, help="validation pairs read by the judge at each milestone")
    p.add_argument("--until", default=None, help="HH:MM (UTC): stop training then, and evaluate what there is")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from jdvae.data.splits import load_split
    from jdvae.evaluate.judge.store import load_judge
    from jdvae.machine import cpu_model
    from jdvae.vae.train import train

    cfg = config(args.n_train, args.steps, args.threads)
    run, out = args.out / "PA1-glasses-s0", args.out
    out.mkdir(parents=True, exist_ok=True)
    val = load_split(cfg.data, "val", progress=False)
    judge = load_judge(JUDGE, "cpu")
    rng = np.random.default_rng(0)
    rows = rng.choice(len(val.images), 512, replace=False)
    pos, neg = np.flatnonzero(val.labels[:, 0] > 0.5)[:5], np.flatnonzero(val.labels[:, 0] < 0.5)[:5]
    from jdvae.evaluate.swaps import to_tensor
    originals = tiles(torch.cat([to_tensor(val.images[pos]), to_tensor(val.images[neg]), to_tensor(val.images[neg])]))
    path = out / "learn128.json"
    state = json.loads(path.read_text()) if path.exists() else {
        "config": cfg.to_dict(), "cpu": cpu_model(), "threads": args.threads, "curve": [], "judged": {}, "chunks": []}
    strips: dict[int, np.ndarray] = {}
    for f in out.glob("strip_*.npy"):
        strips[int(f.stem.split("_")[1])] = np.load(f)
    deadline = None
    if args.until:
        hh, mm = map(int, args.until.split(":"))
        now = dt.datetime.now(dt.timezone.utc)
        deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0)

    def milestone(model, step: int) -> None:
        state["judged"][str(step)] = judged(model, val, judge, args.pairs)
        strips[step] = pictures(model, val, pos, neg)
        np.save(out / f"strip_{step}.npy", strips[step])

    done = state["curve"][-1]["step"] if state["curve"] else -1
    while True:
        model, step = current(cfg, run)
        if step > done:
            point = {"step": step, **curve_point(model, cfg, val, rows)}
            state["curve"].append(point)
            if step in MILESTONES or step >= args.steps:
                milestone(model, step)
            print(f"{time.strftime('%H:%M:%S')} step {step}: {json.dumps(point)}", flush=True)
            done = step
        late = deadline is not None and dt.datetime.now(dt.timezone.utc) >= deadline
        if late and str(step) not in state["judged"]:
            milestone(model, step)
        draw(state, strips, originals, out / "learn128.png")
        atomic_write_json(path, state)
        if step >= args.steps or late:
            break
        t0 = time.perf_counter()
        chunk = min(args.chunk, args.steps - step)
        train(cfg, run, resume=True, device="cpu", progress=False, stop_after=chunk)
        seconds = time.perf_counter() - t0
        state["chunks"].append({"from": step, "steps": chunk, "seconds": round(seconds, 1),
                                "images_per_s": round(chunk * cfg.train.batch_size / seconds, 2)})
    print(f"done at step {step}; {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
