"""Pretrained ImageNet weights through torchvision's weights API, or the reason there are none.

`load_pretrained("resnet18")` reads `ResNet18_Weights.IMAGENET1K_V1` the way torchvision
does (`Weights.get_state_dict`): from $TORCH_HOME/hub/checkpoints when the file is there,
else downloaded into that cache. With JDVAE_OFFLINE=1 nothing is downloaded (a cached file
is still used). A file named by an environment variable (JDVAE_RESNET_WEIGHTS,
JDVAE_ALEXNET_WEIGHTS) comes first. Every result carries a record for the config of what is
built from it: the weights' name, file and SHA-256, or the reason they are missing. A reason names
the file and the variable, never this machine's folders, and torch's "Downloading: URL to PATH" line
is kept off the terminal: the reason says once what happened.
"""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torchvision

from jdvae.io import sha256

OFFLINE_ENV = "JDVAE_OFFLINE"


@dataclass(frozen=True)
class Pretrained:
    """A state dict and its record, or no state and the reason in the record."""

    state: dict[str, torch.Tensor] | None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.state is not None

    @property
    def reason(self) -> str | None:
        return self.record.get("reason")


def offline() -> bool:
    """True when $JDVAE_OFFLINE asks for no downloads (any value but '', 0, false, no)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def imagenet_weights(arch: str):
    """torchvision's IMAGENET1K_V1 weights enum member for `arch` (resnet18, resnet50, alexnet, ...)."""
    return torchvision.models.get_model_weights(arch).IMAGENET1K_V1


def cache_path(arch: str) -> Path:
    """Where torchvision keeps (or would download) the file: <hub dir>/checkpoints/<basename of the URL>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(imagenet_weights(arch).url)


def how_to_provide(arch: str, env: str | None = None) -> str:
    """One line telling the user how to make the weights available without network (no folder of this machine)."""
    name = cache_path(arch).name
    extra = f", or set {env} to its path" if env else ""
    return f"run once online, or copy {name} into $TORCH_HOME/hub/checkpoints (default ~/.cache/torch){extra}"


def load_pretrained(arch: str, env: str | None = None) -> Pretrained:
    """ImageNet weights of `arch`: $env's file, else torchvision's hub cache or download; else the reason."""
    weights = imagenet_weights(arch)
    name = f"{type(weights).__name__}.{weights.name}"
    cached = cache_path(arch)
    if env and os.environ.get(env):
        return from_file(Path(os.environ[env]), name, f"${env}", how_to_provide(arch, env))
    if not cached.is_file() and offline():
        return Pretrained(None, {"weights": name, "file": None,
                                 "reason": f"{OFFLINE_ENV} is set and {cached.name} is not in torch's hub cache; "
                                           + how_to_provide(arch, env)})
    source = "hub cache" if cached.is_file() else "download"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            state = weights.get_state_dict(progress=False, check_hash=True, weights_only=True)  # hub's "Downloading:"
    except Exception as e:  # no network, a failed hash check or a corrupt cached file: say which, go on without
        what = f"cannot read {cached.name} in torch's hub cache" if source == "hub cache" else \
            f"cannot download {cached.name}"
        return Pretrained(None, {"weights": name, "file": None,
                                 "reason": f"{what} ({type(e).__name__}); {how_to_provide(arch, env)}"})
    return Pretrained(state, {"weights": name, "file": cached.name, "sha256": sha256(cached), "source": source})


def from_file(path: Path, name: str, source: str, fix: str) -> Pretrained:
    """The state dict in a local file (torch.load, tensors only) and its record, or the reason it is unusable."""
    if not path.is_file():
        return Pretrained(None, {"weights": name, "file": None, "reason": f"{source} file {path} does not exist; {fix}"})
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or foreign file: the reason, never a random network in its place
        return Pretrained(None, {"weights": name, "file": None,
                                 "reason": f"cannot read {source} file {path} ({type(e).__name__}: {e}); {fix}"})
    return Pretrained(state, {"weights": name, "file": path.name, "sha256": sha256(path), "source": source})
