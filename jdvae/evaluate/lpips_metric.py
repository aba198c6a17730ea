"""LPIPS (Zhang et al. 2018; lpips package, AlexNet trunk, v0.1, inputs in [-1, 1]).

The linear calibration layers ship inside the lpips package; the AlexNet ImageNet trunk is
torchvision's `AlexNet_Weights.IMAGENET1K_V1`, read through torchvision's weights API
(jdvae.evaluate.imagenet: the hub cache, a download into it, or the file named by
JDVAE_ALEXNET_WEIGHTS). When it cannot be had (offline, JDVAE_OFFLINE=1), the LPIPS column is left
empty and one line says why and how to supply the weights: a random trunk is never reported as LPIPS.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from jdvae.evaluate.imagenet import Pretrained, from_file, how_to_provide, load_pretrained

ENV = "JDVAE_ALEXNET_WEIGHTS"
# torchvision alexnet().features index -> lpips trunk slice holding it
_SLICE_OF = {0: 1, 1: 1, 2: 2, 3: 2, 4: 2, 5: 3, 6: 3, 7: 3, 8: 4, 9: 4, 10: 5, 11: 5}


@dataclass
class Lpips:
    """A ready LPIPS network, or the reason it is unavailable (then `net` is None)."""

    net: torch.nn.Module | None
    reason: str | None = None
    trunk: str = "alexnet-imagenet"
    weights: dict[str, Any] = field(default_factory=dict)  # record of the AlexNet file (name, SHA-256)

    @property
    def available(self) -> bool:
        return self.net is not None

    @torch.inference_mode()
    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        """Per-image LPIPS distance (B,) between images in [-1, 1]."""
        if self.net is None:
            raise RuntimeError(f"LPIPS unavailable: {self.reason}")
        return self.net(a, b).reshape(-1)


def load_lpips(device: str | torch.device = "cpu", weights: str | os.PathLike | None = None) -> Lpips:
    """LPIPS(net='alex', version='0.1') on torchvision's AlexNet ImageNet trunk, or unavailable with the reason."""
    if weights is not None:
        found = from_file(Path(weights), "AlexNet_Weights.IMAGENET1K_V1", "given", how_to_provide("alexnet", ENV))
    else:
        found = load_pretrained("alexnet", env=ENV)
    return _build(found, device)


def _build(found: Pretrained, device) -> Lpips:
    if not found.available:
        return Lpips(None, f"AlexNet's ImageNet weights are missing: {found.reason}", weights=found.record)
    net = _lpips_random_trunk()
    trunk = {}
    for key, value in found.state.items():
        parts = key.split(".")
        if parts[0] == "features" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) in _SLICE_OF:
            trunk[f"slice{_SLICE_OF[int(parts[1])]}.{parts[1]}.{parts[2]}"] = value
    try:
        missing, _ = net.net.load_state_dict(trunk, strict=False)
    except RuntimeError as e:  # shapes that are not AlexNet's
        missing = [str(e).splitlines()[0]]
    if missing or not trunk:
        name = found.record.get("file")
        return Lpips(None, f"{name} is not torchvision AlexNet weights (missing {missing[:3]}); "
                           f"{how_to_provide('alexnet', ENV)}", weights=found.record)
    return Lpips(net.to(device).eval(), None, weights=found.record)


def random_lpips(device: str | torch.device = "cpu") -> Lpips:
    """LPIPS with a random AlexNet trunk: for wiring tests only, never for a reported number."""
    return Lpips(_lpips_random_trunk().to(device).eval(), None, trunk="random (test only)")


def _lpips_random_trunk():
    """lpips.LPIPS with its shipped linear layers and an untrained trunk (nothing is downloaded)."""
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecation of `pretrained=` inside lpips
        return lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False)
