"""The independent judge of Table 1: a torchvision ResNet per profile, trained on the training split only.

Paper section 3: swaps are classified "with an independent classifier based on ResNet 50".
The paper profile uses ResNet-50, the CPU profiles ResNet-18 (quick: without the stem's
max-pool at 32 px). The judge learns every label of the study (fully supervised) from real
images, a share of them blurred as VAE reconstructions are and, on SynthFaces, a share with
the label faded so that every judge learns the same boundary between faint and absent
(judge_inputs.py); never from a model output; it is selected on validation balanced accuracy. On SynthFaces a feature
head reads the glasses features (frame shape, colour, lens tint) to check swaps against I_g.
ImageNet weights come through torchvision's weights API (jdvae.weights) when available.
Training is a pure function of the config: its own seeded generator and thread count.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torchvision
from torch import Tensor, nn
from torch.nn import functional as F

from ..config import LABELS, DataConfig, profile
from ..data.tensors import to_model_input
from ..errors import JdvaeError
from ..io import atomic_path, atomic_write_json
from ..weights import load_pretrained
from ..schedules import warmup_cosine
from .judge_inputs import augment, bare_images, fade, gaussian_blur, training_subset
from .metrics import N_SHAPES, balanced_accuracy, glasses_targets

CONFIG_FILE, WEIGHTS_FILE = "judge_config.json", "judge.safetensors"
WEIGHTS_ENV = "JDVAE_RESNET_WEIGHTS"


@dataclass(frozen=True)
class JudgeConfig:
    """Architecture, budget, augmentation and data of the judge."""

    profile: str = "quick"
    arch: str = "resnet18"  # torchvision name: resnet18 | resnet50
    maxpool: bool = True  # False drops the stem's max-pool (small images)
    width: int = 64  # channels of the stem and first stage (doubled at each stage); 64 = torchvision's layout
    epochs: int = 2
    max_images: int | None = 4000  # training images used (seeded subset); None = all
    glasses_share: float | None = None  # share of that subset with glasses (None: as drawn)
    lr: float = 1e-3  # peak of the warm-up + cosine schedule (`schedules.warmup_cosine`)
    weight_decay: float = 1e-4
    batch_size: int = 64
    seed: int = 0
    threads: int = 1  # torch CPU threads while training: fixed, so the weights do not depend on the caller
    pretrained: bool = True  # start from ImageNet weights when torchvision can provide them
    blur_share: float = 0.5  # share of training images blurred ...
    blur_sigma: float = 1.2  # ... with sigma ~ U(0, blur_sigma) pixels at 32 px, scaled with the image size
    noise: float = 0.03  # pixel noise std ~ U(0, noise), images in [-1, 1]
    warmup: float = 0.05  # share of the steps with a linear warm-up
    regression_weight: float = 1.0  # weight of the frame colour and tint squared errors beside the shape loss
    blurred_features: bool = True  # the feature head also learns from the blurred images (False: sharp ones only)
    fade_share: float = 0.0  # share of labelled images shown with the label faded to a strength ~ U(0, 1) ...
    fade_threshold: float = 0.3  # ... and read as present from this strength on (SynthFaces; docs/decisions.md)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JudgeConfig":
        d = dict(d)
        try:
            data = {k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("data").items()}
            return cls(**d, data=DataConfig(**data))
        except (TypeError, KeyError) as e:
            raise JdvaeError(f"judge config does not match this version of jdvae ({e}); retrain it with `jdvae judge`") \
                from None


_BUDGETS: dict[str, dict[str, Any]] = {  # profile -> JudgeConfig fields
    "smoke": dict(epochs=1, max_images=256, lr=1e-3, batch_size=32, fade_share=0.5),
    "quick": dict(maxpool=False, epochs=3, max_images=None, lr=2e-3, batch_size=64, fade_share=0.5),
    "paper": dict(arch="resnet50", epochs=10, max_images=None, lr=1e-4, batch_size=64, fade_share=0.5),
}


def judge_config(profile_name: str, data: DataConfig | None = None, **changes: Any) -> JudgeConfig:
    """The profile's judge on `data` (default: the profile's) with every label of the study, so one judge serves all."""
    data = data if data is not None else profile(profile_name).data
    cfg = JudgeConfig(profile_name, **_BUDGETS.get(profile_name, _BUDGETS["quick"]), data=replace(data, labels=LABELS))
    return replace(cfg, **changes)


class GlassesRead(NamedTuple):
    """The feature head's reading of the glasses in an image."""

    shape_logits: Tensor  # (B, 3) frame shape
    colour: Tensor  # (B, 3) frame colour, RGB in [0, 1]
    tint: Tensor  # (B,) lens tint in [0, 1]


def _narrow(trunk: torchvision.models.ResNet, width: int) -> None:
    """Rebuild a torchvision ResNet's stem and four stages with `width` channels in the first stage."""
    block = type(trunk.layer1[0])
    trunk.inplanes = width
    trunk.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    trunk.bn1 = nn.BatchNorm2d(width)
    for i, name in enumerate(("layer1", "layer2", "layer3", "layer4")):
        setattr(trunk, name, trunk._make_layer(block, width * 2 ** i, len(getattr(trunk, name)), stride=1 if i == 0 else 2))
    trunk.fc = nn.Linear(width * 8 * block.expansion, trunk.fc.out_features)


class Judge(nn.Module):
    """ResNet trunk with a label head (one logit per label) and an optional glasses-feature head."""

    def __init__(self, cfg: JudgeConfig, feature_head: bool):
        super().__init__()
        self.cfg = cfg
        self.report: dict[str, Any] = {}
        trunk = getattr(torchvision.models, cfg.arch)(weights=None)
        if cfg.width != 64:
            _narrow(trunk, cfg.width)
        if not cfg.maxpool:
            trunk.maxpool = nn.Identity()
        dim = trunk.fc.in_features
        trunk.fc = nn.Identity()
        self.trunk = trunk
        self.head = nn.Linear(dim, len(cfg.data.labels))
        self.feature_head = nn.Linear(dim, N_SHAPES + 3 + 1) if feature_head else None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.cfg.data.labels

    @property
    def has_features(self) -> bool:
        return self.feature_head is not None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Label logits (B, K) and raw feature outputs (B, 7) or None; x in [-1, 1]."""
        h = self.trunk(x)  # (B, D)
        return self.head(h), (self.feature_head(h) if self.feature_head is not None else None)

    @staticmethod
    def _read(raw: Tensor) -> GlassesRead:
        return GlassesRead(raw[:, :N_SHAPES], raw[:, N_SHAPES:N_SHAPES + 3], raw[:, -1])

    @torch.inference_mode()
    def predict(self, x: Tensor, batch_size: int = 256) -> Tensor:
        """P(y_k = 1 | x) for every judge label, (B, K)."""
        self.eval()
        dev = next(self.parameters()).device
        return torch.cat([torch.sigmoid(self(x[i:i + batch_size].to(dev))[0]).cpu()
                          for i in range(0, len(x), batch_size)])

    def prob(self, x: Tensor, label: str) -> Tensor:
        """P(label = 1 | x), (B,)."""
        if label not in self.labels:
            raise JdvaeError(f"the judge does not know label {label!r} (it knows {', '.join(self.labels)}); retrain it")
        return self.predict(x)[:, self.labels.index(label)]

    @torch.inference_mode()
    def features(self, x: Tensor, batch_size: int = 256) -> GlassesRead:
        """The feature head's reading of the glasses in x."""
        if self.feature_head is None:
            raise JdvaeError("this judge has no glasses-feature head (it was trained without SynthFaces factors)")
        self.eval()
        dev = next(self.parameters()).device
        raw = torch.cat([self(x[i:i + batch_size].to(dev))[1].cpu() for i in range(0, len(x), batch_size)])
        return self._read(raw)


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
    for name in ("fade_share", "fade_threshold"):
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

    from ..data.splits import load_split

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
