"""The JDVAE encoder trunk and AdaIN decoder (paper Fig. 1), layer for layer the authors' network.

Encoder, at 128 px: residual down-blocks 3->64->128->256->512->512 (no stem), 128x128 -> 4x4,
flattened with no activation. Decoder: FC -> 512x4x4, AdaIN up-blocks that halve the width
each time, 512->256->128->64->32->16, a 1-channel token image concatenated to the input of
the first four, then a bias-free 1x1 conv to RGB and tanh (no norm after the last block).
Smaller images keep the first log2(size/4) blocks of each side. `width` scales every width.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from jdvae.vae.nets.blocks import AdainResBlk, ResBlk

ENCODER_WIDTHS = (64, 128, 256, 512, 512)  # outputs of the down-blocks at 128 px
DECODER_WIDTHS = (512, 256, 128, 64, 32, 16)  # FC output, then the outputs of the up-blocks
MAX_TOKEN_BLOCKS = 4  # tokens enter the first four decoder blocks (4, 8, 16, 32 px at 128 px)


def n_blocks(image_size: int) -> int:
    """Residual blocks per side: one per halving from the image size down to 4x4."""
    return int(math.log2(image_size // 4))


def _scaled(widths, width: float) -> list[int]:
    return [max(4, int(round(c * width))) for c in widths]


def encoder_widths(image_size: int, width: float) -> list[int]:
    """Channels from the RGB input to the 4x4 trunk, e.g. 3, 64, 128, 256 at 32 px and width 1."""
    return [3] + _scaled(ENCODER_WIDTHS[: n_blocks(image_size)], width)


def decoder_widths(image_size: int, width: float) -> list[int]:
    """Channels from the FC's 4x4 map to the last block, e.g. 512, 256, 128, 64 at 32 px and width 1."""
    return _scaled(DECODER_WIDTHS[: n_blocks(image_size) + 1], width)


class Encoder(nn.Module):
    """x (B,3,S,S) -> h (B, C*16): one down-block per halving to 4x4, no activation on the output."""

    def __init__(self, image_size: int, width: float):
        super().__init__()
        w = encoder_widths(image_size, width)
        self.blocks = nn.Sequential(*[ResBlk(a, b) for a, b in zip(w[:-1], w[1:])])
        self.out_dim = w[-1] * 16

    def forward(self, x):
        h = self.blocks(x)  # (B, C, 4, 4)
        return h.reshape(h.shape[0], -1)  # (B, C*16); reshape works in channels_last


class Decoder(nn.Module):
    """FC(code) -> (C,4,4), AdaIN up-blocks styled by z (or mu_z) with token images concatenated, 1x1 conv, tanh."""

    def __init__(self, image_size: int, width: float, code_dim: int, style_dim: int,
                 token_channels: int = 0, adain: bool = True):
        super().__init__()
        w = decoder_widths(image_size, width)
        n = len(w) - 1
        self.c0 = w[0]
        self.token_blocks = min(n, MAX_TOKEN_BLOCKS) if token_channels else 0
        self.token_sizes = [4 * 2**i for i in range(self.token_blocks)]
        self.fc = nn.Linear(code_dim, w[0] * 16)
        self.blocks = nn.ModuleList(
            AdainResBlk(a + (token_channels if i < self.token_blocks else 0), b, style_dim, adain)
            for i, (a, b) in enumerate(zip(w[:-1], w[1:])))
        self.to_rgb = nn.Conv2d(w[-1], 3, 1, bias=False)

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
