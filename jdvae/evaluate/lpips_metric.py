"""LPIPS (Zhang et al. 2018; lpips package, AlexNet trunk, v0.1, inputs in [-1, 1]) without any download.

The linear calibration layers ship inside the lpips package; the AlexNet ImageNet
trunk comes from the torch hub cache (alexnet-owt-7be5be79.pth) or the file named by
JDVAE_ALEXNET_WEIGHTS. When it is absent, LPIPS is reported unavailable with the
reason: a random trunk is never reported as LPIPS.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ENV = "JDVAE_ALEXNET_WEIGHTS"
# torchvision alexnet().features index -> lpips trunk slice holding it
_SLICE_OF = {0: 1, 1: 1, 2: 2, 3: 2, 4: 2, 5: 3, 6: 3, 7: 3, 8: 4, 9: 4, 10: 5, 11: 5}


def alexnet_weights_path() -> Path | None:
    """The AlexNet ImageNet weights: $JDVAE_ALEXNET_WEIGHTS, else the torch hub cache, else None."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    cached = Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE
    return cached if cached.exists() else None


def how_to_provide() -> str:
    """One line telling the user where to put the AlexNet weights."""
    return (f"copy torchvision's {ALEXNET_FILE} into {Path(torch.hub.get_dir()) / 'checkpoints'} "
            f"or set {ENV}=/path/to/{ALEXNET_FILE}")


@dataclass
class Lpips:
    """A ready LPIPS network, or the reason it is unavailable (then `net` is None)."""

    net: torch.nn.Module | None
    reason: str | None = None
    trunk: str = "alexnet-imagenet"

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
    """LPIPS(net='alex', version='0.1') with the local AlexNet trunk, or an unavailable result with the reason."""
    path = Path(weights) if weights is not None else alexnet_weights_path()
    if path is None:
        return Lpips(None, f"AlexNet ImageNet weights not found; {how_to_provide()}")
    if not path.is_file():
        return Lpips(None, f"AlexNet weights file {path} does not exist; {how_to_provide()}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or foreign file: say so, never fall back to a random trunk
        return Lpips(None, f"cannot read AlexNet weights {path} ({type(e).__name__}: {e}); {how_to_provide()}")
    net = _lpips_random_trunk()
    trunk = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "features" and int(parts[1]) in _SLICE_OF:
            trunk[f"slice{_SLICE_OF[int(parts[1])]}.{parts[1]}.{parts[2]}"] = value
    missing, unexpected = net.net.load_state_dict(trunk, strict=False)
    if missing or not trunk:
        return Lpips(None, f"{path} is not torchvision AlexNet weights (missing {missing[:3]}); {how_to_provide()}")
    return Lpips(net.to(device).eval(), None)


def random_lpips(device: str | torch.device = "cpu") -> Lpips:
    """LPIPS with a random AlexNet trunk: for wiring tests only, never for a reported number."""
    return Lpips(_lpips_random_trunk().to(device).eval(), None, trunk="random (test only)")


def _lpips_random_trunk():
    """lpips.LPIPS with its shipped linear layers and an untrained trunk (nothing is downloaded)."""
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecation of `pretrained=` inside lpips
        return lpips.LPIPS(pretrained=True, net="alex", version="0.1", pnet_rand=True, verbose=False)
