"""The independent judge of Table 1: a torchvision ResNet per profile, trained on the training split only.

Paper section 3: swaps are classified "with an independent classifier based on ResNet 50".
The paper profile uses ResNet-50, the CPU profiles ResNet-18 (quick: without the stem's
max-pool at 32 px). The judge learns every label of the study (fully supervised) from real
images, a share of them blurred as VAE reconstructions are and, on SynthFaces, a share with
the label faded so that every judge learns the same boundary between faint and absent
(inputs.py); never from a model output; it is selected on validation balanced accuracy. On SynthFaces a feature
head reads the glasses features (frame shape, colour, lens tint) to check swaps against I_g.
ImageNet weights come through torchvision's weights API (jdvae.evaluate.imagenet) when available.
Training is a pure function of the config: its own seeded generator and thread count.
This module trains the judge; its network and config are in model.py, its folders, saving and loading in store.py.
"""
from __future__ import annotations

import copy
import os
import sys
import time
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from jdvae.data.tensors import to_model_input
from jdvae.errors import JdvaeError
from jdvae.evaluate.imagenet import load_pretrained
from jdvae.vae.schedules import warmup_cosine
from jdvae.evaluate.judge.inputs import augment, averaged_label_images, bare_images, fade, gaussian_blur, training_subset, use_averaged
from jdvae.evaluate.judge.model import GlassesRead, Judge, JudgeConfig
from jdvae.evaluate.judge.store import load_judge, save_judge, stale_fields
from jdvae.evaluate.metrics import balanced_accuracy
from jdvae.evaluate.truth import glasses_targets

WEIGHTS_ENV = "JDVAE_RESNET_WEIGHTS"


def predict_images(judge: Judge, images: np.ndarray, sigma: float = 0.0, batch_size: int = 256) -> np.ndarray:
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
    pred = predict_images(judge, images, sigma) > 0.5  # (N, K)
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
                progress: bool = True, callbacks: Iterable[Callable[[int, int], None]] = ()) -> Judge:
    """Train the judge on the training split with cfg.threads threads and its own RNG; save to `out`.

    Each of `callbacks` is called as `callback(steps_done, total_steps)` after every step."""
    for name in ("fade_share", "fade_threshold", "average_share"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise JdvaeError(f"judge {name} = {getattr(cfg, name)} is outside [0, 1]; use e.g. {getattr(JudgeConfig(), name) or 0.5}")
    before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG is neither read nor changed
            torch.manual_seed(cfg.seed)
            judge = _train(cfg, device, progress, tuple(callbacks))
    finally:
        torch.set_num_threads(before)
    if out is not None:
        save_judge(judge, out)
    return judge


def _train(cfg: JudgeConfig, device: str, progress: bool, callbacks: tuple = ()) -> Judge:
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
            for callback in callbacks:
                callback(epoch * steps + i + 1, cfg.epochs * steps)
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


def ensure_judge(cfg: JudgeConfig, out: str | os.PathLike, device: str = "cpu", progress: bool = True,
                 callbacks: Iterable[Callable[[int, int], None]] = ()) -> Judge:
    """The judge in `out` when it was trained with exactly `cfg`; otherwise train it there (saying why)."""
    stale = stale_fields(out, cfg)
    if stale == []:
        return load_judge(out, device)
    if stale:
        print(f"jdvae: the judge in {out} was trained with another config ({'; '.join(stale[:4])}"
              f"{'; ...' if len(stale) > 4 else ''}): retraining it", file=sys.stderr)
    return train_judge(cfg, out, device=device, progress=progress, callbacks=callbacks)
