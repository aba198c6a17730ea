"""The JDVAE encoder trunk and AdaIN decoder (paper Fig. 1), sized by image size and width."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import AdainResBlk, PlainIN, ResBlk

BASE_WIDTHS = (64, 128, 256, 512, 512, 512)
MAX_TOKEN_BLOCKS = 4  # tokens enter the first four decoder blocks (4, 8, 16, 32 px at 128 px)


def widths(image_size: int, width: float) -> list[int]:
    """Channel widths from the stem to the 4x4 trunk: 64,128,256,512,512(,512) scaled by `width`."""
    n_blocks = int(math.log2(image_size // 4))
    return [max(4, int(round(c * width))) for c in BASE_WIDTHS[: n_blocks + 1]]


class Encoder(nn.Module):
    """x (B,3,S,S) -> h (B, C*16): stem conv then one down-block per halving to 4x4."""

    def __init__(self, image_size: int, width: float):
        super().__init__()
        w = widths(image_size, width)
        self.stem = nn.Conv2d(3, w[0], 3, 1, 1)
        self.blocks = nn.Sequential(*[ResBlk(a, b) for a, b in zip(w[:-1], w[1:])])
        self.out_dim = w[-1] * 16

    def forward(self, x):
        h = self.blocks(self.stem(x))  # (B, C, 4, 4)
        return F.leaky_relu(h, 0.2).reshape(h.shape[0], -1)  # (B, C*16); reshape works in channels_last


class Decoder(nn.Module):
    """FC(code) -> (C,4,4), AdaIN up-blocks styled by z with token images concatenated, 1x1 conv, tanh."""

    def __init__(self, image_size: int, width: float, code_dim: int, style_dim: int,
                 token_channels: int = 0, adain: bool = True):
        super().__init__()
        w = widths(image_size, width)[::-1]  # (C4, ..., C_stem)
        n = len(w) - 1
        self.c0 = w[0]
        self.token_blocks = min(n, MAX_TOKEN_BLOCKS) if token_channels else 0
        self.token_sizes = [4 * 2**i for i in range(self.token_blocks)]
        self.fc = nn.Linear(code_dim, w[0] * 16)
        self.blocks = nn.ModuleList(
            AdainResBlk(a + (token_channels if i < self.token_blocks else 0), b, style_dim, adain)
            for i, (a, b) in enumerate(zip(w[:-1], w[1:])))
        self.to_rgb = nn.Sequential(PlainIN(0, w[-1]), nn.LeakyReLU(0.2), nn.Conv2d(w[-1], 3, 1))

    def forward(self, code, style, token_images=()):
        """code (B, code_dim), style (B, style_dim), token_images[i] (B, T, r_i, r_i) -> x_hat (B,3,S,S)."""
        x = self.fc(code).reshape(code.shape[0], self.c0, 4, 4)
        for i, block in enumerate(self.blocks):
            if i < self.token_blocks:
                tokens = token_images[i].to(memory_format=torch.channels_last) \
                    if x.is_contiguous(memory_format=torch.channels_last) else token_images[i]
                x = torch.cat([x, tokens], dim=1)  # (B, C + T, r, r), in x's memory format
            x = block(x, style)
        return torch.tanh(self.to_rgb(x))
