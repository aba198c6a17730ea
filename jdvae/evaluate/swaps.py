"""Label and feature exchange between images (paper section 3, Fig. 2 and 3), shared by metrics and notebooks.

One rule covers every model: image a receives the label y_k and the features u_k of
image b, everything else (z, the other labels and features) stays a's. Encoding uses
the ground-truth labels and the posterior means (z = mu_z, u = mu_u).
- PA1/PA2: removal = d(y_k=0, z_g, u_g with u_k := u_w,k); addition = d(y_k=1, z_w, u_k := u_g,k).
- M2 has U = 0, so only y changes. CCVAE2 and CCVAE ignore y in the decoder, so only u
  (CCVAE: its z_c, exposed as u with U = 1) is exchanged.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np
import torch
from torch import Tensor

from jdvae.data.tensors import to_model_input


class Latents(NamedTuple):
    """What the decoder needs: labels, face latent and per-label features."""

    y: Tensor  # (B, K) float
    z: Tensor  # (B, Z)
    u: Tensor  # (B, K, U)

    def take(self, idx) -> "Latents":
        """The rows `idx` of every tensor."""
        return Latents(self.y[idx], self.z[idx], self.u[idx])


def to_tensor(images: np.ndarray, device: str | torch.device = "cpu") -> Tensor:
    """uint8 (N, S, S, 3) -> float (N, 3, S, S) in [-1, 1]."""
    return to_model_input(images, device)


@torch.inference_mode()
def encode_means(model, x: Tensor, y: Tensor) -> Latents:
    """Posterior means given the ground-truth labels: (y, mu_z, mu_u)."""
    enc = model.encode(x, y.float())
    return Latents(y.float().to(enc.mu_z), enc.mu_z, enc.mu_u)


def exchanged(a: Latents, b: Latents, k: int, y_k: float | None = None) -> Latents:
    """a's latents with label k set to y_k (default: b's label) and u_k taken from b."""
    y = a.y.clone()
    y[:, k] = b.y[:, k] if y_k is None else y_k
    u = a.u.clone()
    u[:, k] = b.u[:, k]  # (B, U); a no-op shape for M2 (U = 0)
    return Latents(y, a.z, u)


@torch.inference_mode()
def decode(model, lat: Latents) -> Tensor:
    """x_hat (B, 3, H, W) in [-1, 1] from latents."""
    return model.decode(lat.y, lat.z, lat.u)


@torch.inference_mode()
def swap(model, x_a: Tensor, y_a: Tensor, x_b: Tensor, y_b: Tensor, k: int, y_k: float | None = None) -> Tensor:
    """Image a with label k and its features u_k taken from image b (y_k overrides b's label)."""
    return decode(model, exchanged(encode_means(model, x_a, y_a), encode_means(model, x_b, y_b), k, y_k))


def remove(model, x_g: Tensor, y_g: Tensor, x_w: Tensor, y_w: Tensor, k: int) -> Tensor:
    """Removal of label k from I_g: d(y_g with y_k=0, z_g, u_g with u_k := u_w,k)."""
    return swap(model, x_g, y_g, x_w, y_w, k, y_k=0.0)


def add(model, x_w: Tensor, y_w: Tensor, x_g: Tensor, y_g: Tensor, k: int) -> Tensor:
    """Addition of I_g's label k to I_w: d(y_w with y_k=1, z_w, u_w with u_k := u_g,k)."""
    return swap(model, x_w, y_w, x_g, y_g, k, y_k=1.0)


@torch.inference_mode()
def transfer(model, x: Tensor, y: Tensor, donors: Mapping[int, tuple[Tensor, Tensor]]) -> Tensor:
    """Image x receiving, for each label k in `donors`, the label and features of donors[k] = (x_d, y_d)."""
    lat = encode_means(model, x, y)
    for k, (x_d, y_d) in donors.items():
        lat = exchanged(lat, encode_means(model, x_d, y_d), k)
    return decode(model, lat)


def multi_swap(model, x: Tensor, y: Tensor, glasses_from: tuple[Tensor, Tensor], beard_from: tuple[Tensor, Tensor],
               k_glasses: int = 0, k_beard: int = 1) -> Tensor:
    """Fig. 3: faces x receive the glasses of one image and the beard of another, each given as (x, y)."""
    return transfer(model, x, y, {k_glasses: glasses_from, k_beard: beard_from})
