"""The judge's network and config: a torchvision ResNet trunk with a label head and a glasses-feature head.

Training, saving and loading are in judge.py, which re-exports these names.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, NamedTuple

import torch
import torchvision
from torch import Tensor, nn

from jdvae.config import LABELS, DataConfig, profile
from jdvae.errors import JdvaeError
from jdvae.evaluate.truth import N_SHAPES


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
    # ... and read as present from this strength on (SynthFaces): where an unfaded quick judge reads half of the faded
    # validation faces (`jdvae judge --fade-share 0 --calibrate-fade`, docs/decisions.md)
    fade_threshold: float = 0.325
    average_share: float = 0.0  # share of labelled images shown with the label averaged over `average_donors` faces'
    average_donors: int = 4  # versions of it (SynthFaces; before fading): the "mean glasses" a model without u draws
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
    "quick": dict(maxpool=False, width=32, epochs=3, max_images=None, lr=2e-3, batch_size=64, fade_share=0.5),
    "paper": dict(arch="resnet50", epochs=10, max_images=None, lr=1e-4, batch_size=64, fade_share=0.5),
}


def judge_config(profile_name: str, data: DataConfig | None = None, **changes: Any) -> JudgeConfig:
    """The profile's judge on `data` (default: the profile's) with every label of the study, so one judge serves all
    (on one's own images: the labels of `data`, which should then hold every label of the study)."""
    data = data if data is not None else profile(profile_name).data
    labels = data.labels if data.source == "folder" else LABELS
    cfg = JudgeConfig(profile_name, **_BUDGETS.get(profile_name, _BUDGETS["quick"]), data=replace(data, labels=labels))
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
