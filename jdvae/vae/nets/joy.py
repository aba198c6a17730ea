"""The CCVAE network of Joy et al. (ICLR 2021) for 64x64 CelebA, first/last layers adapted to 32 or 128 px.

Their CelebA encoder: 4x4 convolutions 3->32->32->64->128 (stride 2), a 4x4 conv to a 256-d
hidden layer, ReLU throughout; the decoder mirrors it (linear to 256, transposed convs
256->128->64->32->32->3) and ends in a sigmoid, images in [0, 1]. Only the first encoder
convolution and the last decoder convolution change with the image size (stride 1 at 32 px,
stride 4 at 128 px). This package keeps images in [-1, 1], so the decoder returns
2*sigmoid - 1: the same image, and the loss ("joy" objective) compares in [0, 1].
"""
from __future__ import annotations

import torch
from torch import nn

HIDDEN = 256


def _first_conv(image_size: int) -> nn.Module:
    if image_size == 32:
        return nn.Conv2d(3, 32, 3, 1, 1)
    if image_size == 64:
        return nn.Conv2d(3, 32, 4, 2, 1)
    return nn.Conv2d(3, 32, 8, 4, 2)  # 128 -> 32


def _last_deconv(image_size: int) -> nn.Module:
    if image_size == 32:
        return nn.Conv2d(32, 3, 3, 1, 1)
    if image_size == 64:
        return nn.ConvTranspose2d(32, 3, 4, 2, 1)
    return nn.ConvTranspose2d(32, 3, 8, 4, 2)  # 32 -> 128


class JoyEncoder(nn.Module):
    """x (B,3,S,S) -> h (B,256)."""

    out_dim = HIDDEN

    def __init__(self, image_size: int):
        super().__init__()
        self.net = nn.Sequential(
            _first_conv(image_size), nn.ReLU(),  # (B, 32, 32, 32)
            nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),  # (B, 32, 16, 16)
            nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),  # (B, 64, 8, 8)
            nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(),  # (B, 128, 4, 4)
            nn.Conv2d(128, HIDDEN, 4, 1), nn.ReLU(),  # (B, 256, 1, 1)
        )

    def forward(self, x):
        h = self.net(x)
        return h.reshape(h.shape[0], -1)  # (B, 256)


class JoyDecoder(nn.Module):
    """code (B, code_dim) -> x_hat (B,3,S,S) in [-1, 1] (their sigmoid output, rescaled)."""

    def __init__(self, image_size: int, code_dim: int):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(code_dim, HIDDEN), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(HIDDEN, 128, 4), nn.ReLU(),  # (B, 128, 4, 4)
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(),  # (B, 64, 8, 8)
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),  # (B, 32, 16, 16)
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),  # (B, 32, 32, 32)
            _last_deconv(image_size),
        )

    def forward(self, code, style=None, token_images=()):
        h = self.fc(code)
        return 2 * torch.sigmoid(self.net(h.reshape(h.shape[0], HIDDEN, 1, 1))) - 1
