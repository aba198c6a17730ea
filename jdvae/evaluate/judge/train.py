"""The independent judge of Table 1: a torchvision ResNet per profile, trained on the training split only.

Paper section 3: swaps are classified "with an independent classifier based on ResNet 50".
The paper profile uses ResNet-50, the CPU profiles ResNet-18 (quick: without the stem's
max-pool at 32 px). The judge learns every label of the study (fully supervised) from real
images, a share of them blurred as VAE reconstructions are and, on SynthFaces, a share with
the label faded so that every judge learns the same boundary between faint and absent
(judge_inputs.py); never from a model output; it is selected on validation balanced accuracy. On SynthFaces a feature
head reads the glasses features (frame shape, colour, lens tint) to check swaps against I_g.
ImageNet weights come through torchvision's weights API (jdvae.evaluate.imagenet) when available.
Training is a pure function of the config: its own seeded generator and thread count.
This module trains, stores and reloads the judge; its network and config are in judge_model.py.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from jdvae.data.tensors import to_model_input
from jdvae.errors import JdvaeError
from jdvae.io import atomic_path, atomic_write_json
from jdvae.evaluate.imagenet import load_pretrained
from jdvae.study.progress import reporter
from jdvae.vae.schedules import warmup_cosine
from jdvae.evaluate.judge.inputs import augment, averaged_label_images, bare_images, fade, gaussian_blur, training_subset, use_averaged
from jdvae.evaluate.judge.model import GlassesRead, Judge, JudgeConfig, judge_config  # re-exported: callers import them from here
from jdvae.evaluate.metrics import balanced_accuracy
from jdvae.evaluate.truth import glasses_targets

CONFIG_FILE, WEIGHTS_FILE = "judge_config.json", "judge.safetensors"
WEIGHTS_ENV = "JDVAE_RESNET_WEIGHTS"
# A study reads every swap with two judges that differ only in their seed; their disagreement is part of
# every interval (stats.py). Judge seed s lives in RUNS/judge (s = 0) or RUNS/judge-s{s}.
STUDY_SEEDS = (0, 1)


def judge_folder(seed: int) -> str:
    """The folder name, inside a runs folder, of the study's judge of seed `seed`."""
    return "judge" if seed == 0 else f"judge-s{seed}"


def judges_in(runs: str | os.PathLike) -> list[Path]:
    """The judge folders a runs folder holds (judge, then judge-s1, judge-s2, ...), by seed."""
    runs = Path(runs)
    found = [p for p in runs.glob("judge*") if p.is_dir() and (p / CONFIG_FILE).is_file() and
             (p.name == "judge" or (p.name.startswith("judge-s") and p.name[7:].isdigit()))]
    return sorted(found, key=lambda p: 0 if p.name == "judge" else int(p.name[7:]))


def _predict_images(judge: Judge, images: np.ndarray, sigma: float = 0.0, batch_size: int = 256) -> np.ndarray:
    """P(y=1) (N, K) for uint8 images (N, S, S, 3), blurred by `sigma` pixels, converted batch by batch."""
    dev = next(judge.parameters()).device
    out = []
    for i in range(0, len(images), batch_size):
        x = to_model_input(images[i:i + batch_size], dev)
        if sigma > 0:
            x = gaussian_blur(x, torch.full((len(x),), sigma))
        out.append(judge.predict(x).numpy())
    return np.concatenate(out)


def _evaluate_bca(judge: Judge, images: np.ndarray, labels: np.ndarray, sigma: float = 0.0) -> dict[str, float | None]:
    pred = _predict_images(judge, images, sigma) > 0.5  # (N, K)
    return {name: balanced_accuracy(labels[:, k], pred[:, k]) for k, name in enumerate(judge.labels)}


def _mean(bca: dict[str, float | None]) -> float:
    vals = [v for v in bca.values() if v is not None]
    return float(np.mean(vals)) if vals else 0.0


def _feature_loss(read: GlassesRead, targets: list[Tensor], regression_weight: float) -> Tensor:
    """Frame shape cross-entropy + weighted frame colour and tint squared errors."""
    shape, colour, tint = targets
    return F.cross_entropy(read.shape_logits, shape) + regression_weight * (
        F.mse_loss(read.colour, colour) + F.mse_loss(read.tint, tint))


def _init_from_imagenet(judge: Judge) -> tuple[str, dict[str, Any]]:
    """Copy torchvision's ImageNet weights into the trunk when available; (init line, weights record)."""
    if not judge.cfg.pretrained:
        return "none: trained from scratch (pretrained=False)", {"file": None, "reason": "pretrained=False"}
    if judge.cfg.width != 64:
        reason = f"width {judge.cfg.width}: ImageNet weights exist for width 64 only"
        return f"none: trained from scratch ({reason})", {"file": None, "reason": reason}
    found = load_pretrained(judge.cfg.arch, env=WEIGHTS_ENV)
    if not found.available:
        return f"none: trained from scratch ({found.reason})", found.record
    own = judge.trunk.state_dict()
    keep = {k: v for k, v in found.state.items() if k in own and own[k].shape == v.shape}
    judge.trunk.load_state_dict(keep, strict=False)
    r = found.record
    return f"imagenet: {r['weights']} {r['file']} sha256 {r['sha256'][:12]} ({len(keep)}/{len(own)} tensors)", r


def train_judge(cfg: JudgeConfig, out: str | os.PathLike | None = None, device: str = "cpu",
                progress: bool = True) -> Judge:
    """Train the judge on the training split with cfg.threads threads and its own RNG; save to `out`."""
    for name in ("fade_share", "fade_threshold", "average_share"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise JdvaeError(f"judge {name} = {getattr(cfg, name)} is outside [0, 1]; use e.g. {getattr(JudgeConfig(), name) or 0.5}")
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG is neither read nor changed
            torch.manual_seed(cfg.seed)
            judge = _train(cfg, device, progress)
    finally:
        torch.set_num_threads(before)
    if out is not None:
        save_judge(judge, out)
    return judge


def _train(cfg: JudgeConfig, device: str, progress: bool) -> Judge:
    """The training loop: keep the best validation BCA, report test BCA (sharp and blurred) and the feature head."""
    from tqdm.auto import tqdm

    from jdvae.data.splits import load_split

    train = load_split(cfg.data, "train", progress=progress)
    keep = training_subset(train.labels, cfg.data.labels, cfg.max_images, cfg.glasses_share, cfg.seed)
    images = train.images[keep]  # uint8 (N, S, S, 3); batches are converted on the fly
    y = torch.from_numpy(train.labels[keep]).float()  # (N, K)
    use_features = train.factors is not None and "glasses" in cfg.data.labels
    if use_features:
        targets = [torch.from_numpy(t) for t in glasses_targets(train.factors, keep)]  # shape, colour, tint
        has_g = y[:, cfg.data.labels.index("glasses")] > 0.5
    bare = bare_images(images, train.labels[keep], train.factors if cfg.fade_share > 0 else None, keep,
                       cfg.data.labels, cfg.data.image_size)  # {label: the images without it}
    averaged = {} if cfg.average_share == 0 or train.factors is None else averaged_label_images(
        train.labels[keep], train.factors, keep, cfg.data.labels, cfg.data.image_size, cfg.average_donors, cfg.seed)
    judge = Judge(cfg, use_features)
    init, weights = _init_from_imagenet(judge)
    judge = judge.to(device)
    pos = y.sum(0).clamp(min=1)
    pos_weight = ((len(y) - pos) / pos).to(device)  # balances each label as BCA does
    opt = torch.optim.Adam(judge.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)  # data order and augmentation
    val = load_split(cfg.data, "val", progress=progress)
    best, best_state, history = -1.0, None, []
    t0 = time.time()
    steps = (len(images) + cfg.batch_size - 1) // cfg.batch_size
    bar = tqdm(total=cfg.epochs * steps, desc=f"judge {cfg.arch}", disable=not progress)
    report = reporter(cfg.epochs * steps, "step", images_per_unit=cfg.batch_size)  # read by `jdvae reproduce` (jdvae/study/progress.py)
    for epoch in range(cfg.epochs):
        judge.train()
        order = torch.randperm(len(images), generator=gen)
        for i in range(steps):
            for group in opt.param_groups:
                group["lr"] = warmup_cosine(epoch * steps + i, cfg.epochs * steps, cfg.lr, cfg.warmup)
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            xb, yb, faded = to_model_input(images[idx.numpy()], device), y[idx], torch.zeros(len(idx), dtype=torch.bool)
            if averaged:  # drawn only when averaging, so judges trained without it stay bit-identical
                xb = use_averaged(xb, yb, [to_model_input(averaged[n][idx.numpy()], device) if n in averaged else None
                                           for n in cfg.data.labels], gen, cfg.average_share)
            if bare:  # drawn only when fading, so judges trained without it stay bit-identical
                xb, yb, faded = fade(xb, yb, [to_model_input(bare[n][idx.numpy()], device) if n in bare else None
                                              for n in cfg.data.labels], gen, cfg.fade_share,
                                            cfg.fade_threshold)
            xb, blurred = augment(xb, gen, cfg.blur_share, cfg.blur_sigma, cfg.noise)  # (B, 3, S, S), (B,)
            logits, raw = judge(xb)
            loss = F.binary_cross_entropy_with_logits(logits, yb.to(device), pos_weight=pos_weight)
            feat = has_g[idx] & (~blurred | cfg.blurred_features) & ~faded if use_features else None  # (B,)
            if feat is not None and feat.any():  # feature head: images with glasses only
                read = Judge._read(raw[feat.to(device)])
                loss = loss + _feature_loss(read, [t[idx[feat]].to(device) for t in targets], cfg.regression_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update()
            report(epoch * steps + i + 1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        val_bca = _evaluate_bca(judge, val.images, val.labels)
        history.append({"epoch": epoch + 1, "val_bca": val_bca})
        if _mean(val_bca) > best:
            best, best_state = _mean(val_bca), copy.deepcopy(judge.state_dict())
    bar.close()
    seconds = round(time.time() - t0, 1)
    judge.load_state_dict(best_state)
    test = load_split(cfg.data, "test", progress=progress)
    size = cfg.data.image_size
    judge.report = {
        "arch": cfg.arch, "init": init, "weights": weights, "device": str(device), "threads": cfg.threads,
        "train_images": int(len(images)), "train_seconds": seconds, "history": history,
        "val_bca": max(history, key=lambda h: _mean(h["val_bca"]))["val_bca"],
        "test_bca": _evaluate_bca(judge, test.images, test.labels),
        "test_bca_blurred": {f"{s:g}px": _evaluate_bca(judge, test.images, test.labels, s * size / 32)
                             for s in (0.6, 1.2)},  # sigma at 32 px, scaled as in training
        "feature_head": use_features,
    }
    if use_features:
        judge.report["test_features"] = _feature_accuracy(judge, test)
    return judge


def _feature_accuracy(judge: Judge, split) -> dict[str, float] | None:
    """The feature head's own accuracy on real test images with glasses (its ceiling for swaps)."""
    has_g = np.flatnonzero(split.labels[:, judge.labels.index("glasses")] == 1)
    if len(has_g) == 0:
        return None
    read = judge.features(to_model_input(split.images[has_g], next(judge.parameters()).device))
    shape, colour, tint = glasses_targets(split.factors, has_g)
    return {"shape_acc": 100.0 * float((read.shape_logits.argmax(1).numpy() == shape).mean()),
            "colour_mae": float(np.abs(read.colour.numpy() - colour).mean()),
            "tint_mae": float(np.abs(read.tint.numpy() - tint).mean())}


def save_judge(judge: Judge, out: str | os.PathLike) -> Path:
    """Write judge_config.json (config, weights record, report) and judge.safetensors into `out`, atomically."""
    from safetensors.torch import save_file

    out = Path(out)
    state = {k: v.detach().cpu().contiguous() for k, v in judge.state_dict().items()}
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    atomic_write_json(out / CONFIG_FILE, {"config": judge.cfg.to_dict(), "feature_head": judge.has_features,
                                          "pretrained": judge.report.get("weights"), "report": judge.report})
    return out


def load_judge(path: str | os.PathLike, device: str = "cpu") -> Judge:
    """Rebuild a judge from its folder (config JSON + safetensors; nothing is unpickled)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise JdvaeError(f"no judge in {path} (needs {CONFIG_FILE} and {WEIGHTS_FILE}); train one with `jdvae judge`")
    meta = json.loads((path / CONFIG_FILE).read_text())
    with torch.random.fork_rng(devices=[]):  # building the trunk draws random numbers: keep the caller's RNG
        judge = Judge(JudgeConfig.from_dict(meta["config"]), meta["feature_head"])
    judge.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
    judge.report = meta.get("report", {})
    return judge.to(device).eval()


def stale_fields(path: str | os.PathLike, cfg: JudgeConfig) -> list[str] | None:
    """None when `path` holds no judge; else the config fields where its judge differs from `cfg` ([] = current)."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        return None
    saved = json.loads((path / CONFIG_FILE).read_text()).get("config", {})
    # a field added since the judge was saved counts at its default, which keeps the former behaviour
    a = _flat({**{k: v for k, v in JudgeConfig().to_dict().items() if k != "data"}, **saved})
    b = _flat(json.loads(json.dumps(cfg.to_dict())))  # tuples as JSON lists, as saved
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def ensure_judge(cfg: JudgeConfig, out: str | os.PathLike, device: str = "cpu", progress: bool = True) -> Judge:
    """The judge in `out` when it was trained with exactly `cfg`; otherwise train it there (saying why)."""
    stale = stale_fields(out, cfg)
    if stale == []:
        return load_judge(out, device)
    if stale:
        print(f"jdvae: the judge in {out} was trained with another config ({'; '.join(stale[:4])}"
              f"{'; ...' if len(stale) > 4 else ''}): retraining it", file=sys.stderr)
    return train_judge(cfg, out, device=device, progress=progress)
