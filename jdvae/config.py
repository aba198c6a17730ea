"""Frozen run configurations and the named profiles (smoke, quick, paper).

Overrides always go through `dataclasses.replace` (see `override`); nothing mutates a config after it is built.
A run folder stores `config.json`, and `RunConfig.from_dict` rebuilds the same object from it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any

from jdvae.errors import JdvaeError

MODELS = ("PA1", "PA2", "M2", "CCVAE2", "CCVAE")
LABELS = ("glasses", "beard")
SOURCES = ("synthfaces", "celeba", "folder")  # folder: your own images, DIR/labels.csv (docs/your_data.md)
IMAGE_SIZES = (32, 64, 128)
ADAIN_STYLES = ("sample", "mean")
PRECISIONS = ("auto", "fp32", "bf16")  # train.precision; what each means on a device: jdvae/vae/precision.py
LR_SCHEDULES = ("step", "cosine")  # train.lr_schedule: jdvae/vae/schedules.py
LEVERS = ("device_data", "lazy_sync", "fused_adam", "graphs")  # train.levers: auto, none or a '+'-joined subset


def check_image_size(size: int) -> None:
    """The backbone halves the image down to 4x4 in residual blocks: only 32, 64 and 128 px fit."""
    if size not in IMAGE_SIZES:
        raise JdvaeError(f"image size {size} is not supported by the backbone; "
                         f"use one of {', '.join(map(str, IMAGE_SIZES))}")


@dataclass(frozen=True)
class DataConfig:
    """Which images, at which size, with which labels and supervision."""

    source: str = "synthfaces"
    image_size: int = 64
    labels: tuple[str, ...] = ("glasses",)  # of LABELS; on a folder, columns of its labels.csv
    n_train: int = 20000  # SynthFaces only; CelebA uses the official partitions
    n_val: int = 2000
    n_test: int = 2000
    prevalence: float = 0.3  # SynthFaces: probability of each label, independently
    supervision: float = 0.2  # share of training images that keep their labels
    seed: int = 0  # data seed: SynthFaces identities and the supervision mask
    celeba_root: str | None = None
    celeba_balance: bool = False  # CelebA: keep every positive and a seeded 20 % of negatives (the authors' subset)
    data_root: str | None = None  # source "folder": the folder holding labels.csv

    def validate(self) -> None:
        """Raise JdvaeError naming the first invalid field and how to fix it."""
        if self.source not in SOURCES:
            raise JdvaeError(f"unknown data source {self.source!r}; use one of {', '.join(SOURCES)}")
        check_image_size(self.image_size)
        if self.source == "folder":  # label names become parts of run folder names
            if not self.data_root or not self.labels or len(set(self.labels)) != len(self.labels) or \
                    not all(re.fullmatch(r"\w[\w.-]*", str(n)) for n in self.labels):
                raise JdvaeError(f"your own images need --data-root DIR (now {self.data_root}) and --labels NAME[,NAME] "
                                 f"(now {','.join(map(str, self.labels))}): distinct words, 0/1 columns of labels.csv")
        elif not self.labels or any(name not in LABELS for name in self.labels):
            unknown = [name for name in self.labels if name not in LABELS]
            raise JdvaeError(f"unknown label {', '.join(unknown) or '(none)'}; use one or more of {', '.join(LABELS)}")
        if not 0.0 < self.supervision <= 1.0:
            raise JdvaeError(f"supervision rate {self.supervision} is outside (0, 1]; give e.g. 0.2")
        if not 0.0 < self.prevalence < 1.0:
            raise JdvaeError(f"prevalence {self.prevalence} is outside (0, 1); give e.g. 0.3")
        if self.source == "celeba" and not self.celeba_root:
            raise JdvaeError("CelebA needs its folder; pass --celeba-root PATH (the folder that holds celeba/)")


@dataclass(frozen=True)
class ModelConfig:
    """The structure (PA1, PA2, M2, CCVAE2, CCVAE) and the backbone's sizes and switches."""

    name: str = "PA1"
    image_size: int = 64
    n_labels: int = 1
    z_dim: int = 100
    u_dim: int = 16
    width: float = 1.0  # multiplies every channel width (64, 128, 256, 512, 512)
    adain: bool = True
    tokens: bool = True
    # What styles the AdaIN blocks in training: "sample" = the sampled z of Eq. 2, d_theta(y, z, u);
    # "mean" = mu_z, as in the authors' code, a noiseless path around the KL term (docs/decisions.md).
    adain_style: str = "sample"

    def validate(self) -> None:
        """Raise JdvaeError for an unknown model or impossible size."""
        if self.name not in MODELS:
            raise JdvaeError(f"unknown model {self.name!r}; use one of {', '.join(MODELS)}")
        check_image_size(self.image_size)
        if self.width <= 0:
            raise JdvaeError(f"width multiplier {self.width} must be positive")
        if self.adain_style not in ADAIN_STYLES:
            raise JdvaeError(f"model.adain_style = {self.adain_style!r} is unknown; use one of {', '.join(ADAIN_STYLES)}")
        for name in ("z_dim", "u_dim"):
            if getattr(self, name) < 1:
                raise JdvaeError(f"model.{name} = {getattr(self, name)} must be at least 1")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (paper section 3) and the loss weights of Eq. 4."""

    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-4
    lr_drop_at: float = 0.35  # "step" schedule: lr divided by 10 after this share of the steps
    lr_schedule: str = "step"  # "step" (the authors' script) or "cosine" (linear warm-up, then cosine to 0)
    warmup: float = 0.05  # "cosine" schedule: share of the steps with a linear warm-up
    ema: float = 0.0  # decay of an exponential moving average of the weights, saved as the model (0 = off)
    alpha: float = 1.0
    beta: float = 1e-4
    u_kl_scale_y1: float = 0.01  # the y=1 u-KL weight divided by 100
    tau: float = 0.05  # Gumbel-softmax temperature (the authors' code)
    seed: int = 0
    max_steps: int | None = None  # stop early (smoke runs); None = all epochs
    checkpoint_minutes: float = 5.0
    threads: int | None = None  # torch CPU threads; None = torch's default
    compile: bool = False  # torch.compile the training step on CUDA: pays back only on long runs (paper profile)
    compile_cpu: bool = False  # also on a CPU, where inductor compiles C++ for minutes: only when asked
    # bf16 autocast of the forward pass (losses in fp32): "bf16", "fp32", or "auto" = bf16 where the device has
    # native bf16 (CUDA, CPUs with AMX / AVX512-BF16; jdvae/vae/precision.py). fp32 is the default because every run
    # saved before this field existed trained in fp32 on a CPU, and a missing key takes the default.
    precision: str = "fp32"
    levers: str = "auto"  # GPU-only settings of the step (jdvae/vae/levers.py): a CPU run takes none of them

    def validate(self) -> None:
        """Raise JdvaeError naming the first out-of-range setting and its allowed range."""
        checks = [
            ("epochs", self.epochs >= 1, "at least 1"), ("batch_size", self.batch_size >= 1, "at least 1"),
            ("lr", self.lr > 0, "positive"), ("lr_drop_at", 0 <= self.lr_drop_at <= 1, "between 0 and 1"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)}"),
            ("warmup", 0 <= self.warmup < 1, "in [0, 1)"), ("ema", 0 <= self.ema < 1, "in [0, 1) (0 = off)"),
            ("alpha", self.alpha >= 0, "0 or more"), ("beta", self.beta >= 0, "0 or more"),
            ("u_kl_scale_y1", self.u_kl_scale_y1 >= 0, "0 or more"), ("tau", self.tau > 0, "positive"),
            ("max_steps", self.max_steps is None or self.max_steps >= 1, "at least 1 (or None)"),
            ("checkpoint_minutes", self.checkpoint_minutes >= 0, "0 (every step) or more"),
            ("threads", self.threads is None or self.threads >= 1, "at least 1 (or None)"),
            ("precision", self.precision in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
            ("levers", self.levers in ("auto", "none") or set(self.levers.split("+")) <= set(LEVERS),
             f"auto, none or a '+'-joined subset of {', '.join(LEVERS)}"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise JdvaeError(f"train.{name} = {getattr(self, name)!r} must be {allowed}; "
                                 f"pass e.g. --set train.{name}={getattr(TrainConfig(), name)}")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one training run."""

    profile: str = "quick"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        """Validate every part and their agreement."""
        self.data.validate()
        self.model.validate()
        self.train.validate()
        if self.model.image_size != self.data.image_size:
            raise JdvaeError(f"model image size {self.model.image_size} differs from data image size {self.data.image_size}")
        if self.model.n_labels != len(self.data.labels):
            raise JdvaeError(f"model has {self.model.n_labels} labels but data gives {len(self.data.labels)}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The config as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        """Rebuild a RunConfig from `to_dict` output; unknown keys are an error."""
        try:
            data = _build(DataConfig, d.get("data", {}))
            model = _build(ModelConfig, d.get("model", {}))
            train = _build(TrainConfig, d.get("train", {}))
            return cls(profile=d.get("profile", "custom"), data=data, model=model, train=train)
        except TypeError as e:
            raise JdvaeError(f"config does not match this version of jdvae ({e}); retrain or use the matching version") from None


def _build(cls, d: dict[str, Any]):
    kwargs = {}
    names = {f.name for f in fields(cls)}
    for key, value in d.items():
        if key not in names:
            raise TypeError(f"unknown field {cls.__name__}.{key}")
        kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def diff(a: RunConfig, b: RunConfig) -> list[str]:
    """Dotted names of the fields that differ between two configs."""
    out = []
    da, db = a.to_dict(), b.to_dict()
    for part in ("data", "model", "train"):
        for key in sorted(set(da[part]) | set(db[part])):
            if da[part].get(key) != db[part].get(key):
                out.append(f"{part}.{key}: {da[part].get(key)!r} != {db[part].get(key)!r}")
    return out


PROFILES: dict[str, RunConfig] = {
    # Seconds per model on a CPU: proves the plumbing, not the science.
    "smoke": RunConfig(profile="smoke",
        data=DataConfig(image_size=32, n_train=256, n_val=64, n_test=96),
        model=ModelConfig(image_size=32, width=0.125, z_dim=16, u_dim=4),
        train=TrainConfig(epochs=1, batch_size=32, checkpoint_minutes=1.0, precision="fp32"),
    ),
    # The CPU default: SynthFaces 32 px, widths x 0.1875, batch 64, warm-up and cosine, an EMA of the weights; 4 000
    # validation and test faces (about 1 200 pairs each). Budget (compute, the same for every model) and lr chosen on
    # validation pairs (docs/learning_curves.md). fp32: a bf16 study failed a gate fp32 passed (docs/benchmarks.md).
    "quick": RunConfig(profile="quick",
        data=DataConfig(image_size=32, n_train=20000, n_val=4000, n_test=4000),
        model=ModelConfig(image_size=32, width=0.1875),
        train=TrainConfig(epochs=20, max_steps=4500, batch_size=64, lr=4e-3, lr_schedule="cosine", warmup=0.05,
                          ema=0.995, precision="fp32"),
    ),
    # The paper's setting, for a GPU: 128 px, full widths, 200 epochs of the authors' CelebA subset (docs/profiles.md).
    "paper": RunConfig(profile="paper",
        data=DataConfig(image_size=128, n_train=160000, n_val=20000, n_test=20000, celeba_balance=True),
        model=ModelConfig(image_size=128, width=1.0),
        train=TrainConfig(epochs=200, batch_size=32, compile=True, precision="auto"),
    ),
}


# Settings one model takes in a profile, by a rule that is the same for every model: a model whose training diverges
# at the profile's lr on validation (its classifier's balanced accuracy collapsing, or its reconstruction error not
# falling) trains at the largest of 2e-3 and 1e-3 that does not (docs/learning_curves.md).
MODEL_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {"quick": {"CCVAE": {"train.lr": 1e-3}}}


def profile(name: str) -> RunConfig:
    """The named profile's config; an unknown name is a JdvaeError."""
    if name not in PROFILES:
        raise JdvaeError(f"unknown profile {name!r}; use one of {', '.join(PROFILES)}")
    return PROFILES[name]


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
_EXAMPLES = {int: 1000, float: 0.5, str: "NAME", bool: True}  # when the field has no value to show


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # the annotations are strings (`from __future__ import annotations`)


def field_type(key: str) -> Any:
    """The declared type of a dotted config field ('train.lr' -> float); an unknown name is a JdvaeError."""
    if "." not in key:
        if key != "profile":
            raise JdvaeError(f"unknown config field {key!r}; write SECTION.FIELD, e.g. train.epochs=10 "
                             f"(sections: data, model, train)")
        return str
    part, name = key.split(".", 1)
    if part not in _SECTIONS:
        raise JdvaeError(f"unknown config section {part!r} in {key!r}; use data., model. or train.")
    valid = {f.name for f in fields(_SECTIONS[part])}
    if name not in valid:
        raise JdvaeError(f"unknown config field {key!r}; valid {part} fields: {', '.join(sorted(valid))}")
    return _hints(_SECTIONS[part])[name]


def split_optional(hint: Any) -> tuple[Any, bool]:
    """(T, True) for `T | None`, (hint, False) otherwise."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True
    return hint, False


def _convert(value: Any, hint: Any) -> tuple[bool, Any]:
    """(True, value as `hint`) when it is one, else (False, None); bools are never numbers."""
    if hint is bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return True, value.lower() == "true"
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return number, float(value) if number else None
    if hint is str:
        return isinstance(value, str), value
    if typing.get_origin(hint) is tuple and typing.get_args(hint)[:1] == (str,):
        if isinstance(value, str):
            return True, tuple(s.strip() for s in value.split(",") if s.strip())
        if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
            return True, tuple(value)
    return False, None


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return "names separated by commas (tuple of str)"
    return {bool: "True or False (bool)", int: "an integer (int)", float: "a finite number (float)",
            str: "text (str)"}.get(hint, str(hint))


def _example(key: str, hint: Any, current: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"{key}={','.join(current) if current else 'glasses,beard'}"
    shown = current if _convert(current, hint)[0] and current != "" else _EXAMPLES.get(hint, "VALUE")
    return f"{key}={shown}"


def check_value(key: str, value: Any, current: Any = None) -> Any:
    """`value` as the declared type of config field `key` (int -> float, "a,b" -> tuple), else a one-line
    JdvaeError naming the field, the value, the expected type and an example (built from `current`)."""
    hint, optional = split_optional(field_type(key))
    if value is None and optional:
        return None
    ok, converted = _convert(value, hint)
    if ok:
        return converted
    want = _describe(hint) + (" or None" if optional else "")
    raise JdvaeError(f"config field {key} expects {want}, not {value!r} ({type(value).__name__}); "
                     f"e.g. {_example(key, hint, current)}")


def override(cfg: RunConfig, **changes: Any) -> RunConfig:
    """Return a copy with dotted-name overrides, e.g. override(cfg, **{'model.name': 'PA2'}).

    Every value is checked against the field's declared type first (`check_value`), so a wrong type is
    one JdvaeError line on every path (CLI, notebooks, reproduce), never a TypeError later on."""
    parts: dict[str, dict[str, Any]] = {"data": {}, "model": {}, "train": {}}
    top: dict[str, Any] = {}
    for key, value in changes.items():
        if "." in key:
            part, name = key.split(".", 1)
            current = getattr(getattr(cfg, part), name, None) if part in parts else None
            parts[part][name] = check_value(key, value, current)
        else:
            top[key] = check_value(key, value, getattr(cfg, key, None))
    sections = {part: replace(getattr(cfg, part), **parts[part]) for part in parts}
    return replace(cfg, **sections, **top)
