"""The independent judge of Table 1: a torchvision ResNet per profile, trained on the training split only.

Paper section 3: swaps are classified "with an independent classifier based on ResNet 50".
The paper profile uses ResNet-50; the CPU profiles use ResNet-18 (same family, fits the
2-core budget), torchvision's architecture unchanged: its last stage is 2x2 at 64 px and
1x1 at 32 px (`maxpool=False` drops the stem's max-pool: 2x finer maps at 4x the cost).
The judge sees every training label (fully supervised), never a model output, and is
selected on validation balanced accuracy. On SynthFaces a feature head on the same trunk reads the glasses
features (frame shape, frame colour, lens tint) so that swaps can be checked against I_g.
ImageNet weights are used only when present locally; otherwise it trains from scratch.
"""
from __future__ import annotations

import copy
import json
import os
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
from ..errors import JdvaeError
from ..io import atomic_path, atomic_write_json
from .metrics import N_SHAPES, balanced_accuracy, glasses_targets
from .swaps import to_tensor

CONFIG_FILE, WEIGHTS_FILE = "judge_config.json", "judge.safetensors"
WEIGHTS_ENV = "JDVAE_RESNET_WEIGHTS"


@dataclass(frozen=True)
class JudgeConfig:
    """Architecture, budget and data of the judge."""

    profile: str = "quick"
    arch: str = "resnet18"  # torchvision name: resnet18 | resnet50
    maxpool: bool = True  # False drops the stem's max-pool (small images)
    epochs: int = 2
    max_images: int | None = 4000  # training images used (seeded subset); None = all
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JudgeConfig":
        d = dict(d)
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("data").items()}
        return cls(**d, data=DataConfig(**data))


_BUDGETS = {  # profile -> (arch, maxpool, epochs, max_images, lr, batch)
    "smoke": ("resnet18", True, 1, 256, 1e-3, 32),
    "quick": ("resnet18", True, 2, 4000, 1e-3, 64),
    "paper": ("resnet50", True, 10, None, 1e-4, 64),
}


def judge_config(profile_name: str, data: DataConfig | None = None, **changes: Any) -> JudgeConfig:
    """The profile's judge budget on `data` (default: the profile's), with every label so one judge serves all."""
    arch, maxpool, epochs, max_images, lr, batch = _BUDGETS.get(profile_name, _BUDGETS["quick"])
    data = data if data is not None else profile(profile_name).data
    labels = LABELS if data.source == "synthfaces" else data.labels
    cfg = JudgeConfig(profile_name, arch, maxpool, epochs, max_images, lr, batch_size=batch,
                      data=replace(data, labels=labels))
    return replace(cfg, **changes)


class GlassesRead(NamedTuple):
    """The feature head's reading of the glasses in an image."""

    shape_logits: Tensor  # (B, 3) frame shape
    colour: Tensor  # (B, 3) frame colour, RGB in [0, 1]
    tint: Tensor  # (B,) lens tint in [0, 1]


class Judge(nn.Module):
    """ResNet trunk with a label head (one logit per label) and an optional glasses-feature head."""

    def __init__(self, cfg: JudgeConfig, feature_head: bool):
        super().__init__()
        self.cfg = cfg
        self.report: dict[str, Any] = {}
        trunk = getattr(torchvision.models, cfg.arch)(weights=None)
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


def imagenet_weights(arch: str) -> Path | None:
    """Local ImageNet weights for `arch`: $JDVAE_RESNET_WEIGHTS, else the torch hub cache, else None."""
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV])
    found = sorted((Path(torch.hub.get_dir()) / "checkpoints").glob(f"{arch}-*.pth"))
    return found[0] if found else None


def _init_from_imagenet(judge: Judge) -> str:
    path = imagenet_weights(judge.cfg.arch)
    if path is None:
        return (f"none: trained from scratch (no {judge.cfg.arch} ImageNet weights in "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'} and {WEIGHTS_ENV} unset)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise JdvaeError(f"cannot read ImageNet weights {path} ({type(e).__name__}); "
                         f"fix or unset {WEIGHTS_ENV}") from None
    own = judge.trunk.state_dict()
    keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    judge.trunk.load_state_dict(keep, strict=False)
    return f"imagenet: {path} ({len(keep)}/{len(own)} tensors)"


def _predict_images(judge: Judge, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """P(y=1) (N, K) for uint8 images (N, S, S, 3), converted batch by batch."""
    return np.concatenate([judge.predict(to_tensor(images[i:i + batch_size])).numpy()
                           for i in range(0, len(images), batch_size)])


def _evaluate_bca(judge: Judge, images: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    pred = _predict_images(judge, images) > 0.5  # (N, K)
    return {name: balanced_accuracy(labels[:, k], pred[:, k]) for k, name in enumerate(judge.labels)}


def _mean(bca: dict[str, float | None]) -> float:
    vals = [v for v in bca.values() if v is not None]
    return float(np.mean(vals)) if vals else 0.0


def _feature_loss(read: GlassesRead, targets: list[Tensor]) -> Tensor:
    """Frame shape cross-entropy + frame colour and tint squared errors."""
    shape, colour, tint = targets
    return F.cross_entropy(read.shape_logits, shape) + F.mse_loss(read.colour, colour) + F.mse_loss(read.tint, tint)


def train_judge(cfg: JudgeConfig, out: str | os.PathLike | None = None, device: str = "cpu",
                progress: bool = True) -> Judge:
    """Train the judge on the training split, keep the best validation BCA, report test BCA, save to `out`."""
    from tqdm.auto import tqdm

    from ..data.splits import load_split

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    train = load_split(cfg.data, "train", progress=progress)
    keep = np.arange(len(train.labels))
    if cfg.max_images is not None and cfg.max_images < len(keep):
        keep = np.sort(rng.choice(keep, size=cfg.max_images, replace=False))
    images = train.images[keep]  # uint8 (N, S, S, 3); batches are converted on the fly
    y = torch.from_numpy(train.labels[keep]).float()  # (N, K)
    use_features = train.factors is not None and "glasses" in cfg.data.labels
    if use_features:
        targets = [torch.from_numpy(t) for t in glasses_targets(train.factors, keep)]  # shape, colour, tint
        has_g = y[:, cfg.data.labels.index("glasses")] > 0.5
    judge = Judge(cfg, use_features).to(device)
    init = _init_from_imagenet(judge)
    pos = y.sum(0).clamp(min=1)
    pos_weight = ((len(y) - pos) / pos).to(device)  # balances each label as BCA does
    opt = torch.optim.Adam(judge.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    val = load_split(cfg.data, "val", progress=progress)
    best, best_state, history = -1.0, None, []
    t0 = time.time()
    steps = (len(images) + cfg.batch_size - 1) // cfg.batch_size
    bar = tqdm(total=cfg.epochs * steps, desc=f"judge {cfg.arch}", disable=not progress)
    for epoch in range(cfg.epochs):
        judge.train()
        order = torch.randperm(len(images))
        for i in range(steps):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            xb = to_tensor(images[idx.numpy()], device)  # (B, 3, S, S)
            flip = torch.rand(len(idx), device=device) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)  # horizontal flip keeps every label
            logits, raw = judge(xb)
            loss = F.binary_cross_entropy_with_logits(logits, y[idx].to(device), pos_weight=pos_weight)
            if use_features and has_g[idx].any():  # feature head: real images with glasses only
                rows = idx[has_g[idx]]
                read = Judge._read(raw[has_g[idx].to(device)])
                loss = loss + _feature_loss(read, [t[rows].to(device) for t in targets])
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
    judge.load_state_dict(best_state)
    test = load_split(cfg.data, "test", progress=progress)
    judge.report = {
        "arch": cfg.arch, "init": init, "train_images": int(len(images)), "train_seconds": round(time.time() - t0, 1),
        "history": history, "val_bca": max(history, key=lambda h: _mean(h["val_bca"]))["val_bca"],
        "test_bca": _evaluate_bca(judge, test.images, test.labels),
        "feature_head": use_features,
    }
    if use_features:
        judge.report["test_features"] = _feature_accuracy(judge, test)
    if out is not None:
        save_judge(judge, out)
    return judge


def _feature_accuracy(judge: Judge, split) -> dict[str, float] | None:
    """The feature head's own accuracy on real test images with glasses (its ceiling for swaps)."""
    has_g = np.flatnonzero(split.labels[:, judge.labels.index("glasses")] == 1)
    if len(has_g) == 0:
        return None
    read = judge.features(to_tensor(split.images[has_g]))
    shape, colour, tint = glasses_targets(split.factors, has_g)
    return {"shape_acc": 100.0 * float((read.shape_logits.argmax(1).numpy() == shape).mean()),
            "colour_mae": float(np.abs(read.colour.numpy() - colour).mean()),
            "tint_mae": float(np.abs(read.tint.numpy() - tint).mean())}


def save_judge(judge: Judge, out: str | os.PathLike) -> Path:
    """Write judge_config.json and judge.safetensors into `out`, atomically."""
    from safetensors.torch import save_file

    out = Path(out)
    state = {k: v.detach().cpu().contiguous() for k, v in judge.state_dict().items()}
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    atomic_write_json(out / CONFIG_FILE, {"config": judge.cfg.to_dict(), "feature_head": judge.has_features,
                                          "report": judge.report})
    return out


def load_judge(path: str | os.PathLike, device: str = "cpu") -> Judge:
    """Rebuild a judge from its folder (config JSON + safetensors; nothing is unpickled)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise JdvaeError(f"no judge in {path} (needs {CONFIG_FILE} and {WEIGHTS_FILE}); train one with `jdvae judge`")
    meta = json.loads((path / CONFIG_FILE).read_text())
    judge = Judge(JudgeConfig.from_dict(meta["config"]), meta["feature_head"])
    judge.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
    judge.report = meta.get("report", {})
    return judge.to(device).eval()
