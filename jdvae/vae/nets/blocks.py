"""Residual blocks of the backbone (paper Fig. 1): plain down-blocks and AdaIN up-blocks."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ResBlk(nn.Module):
    """Encoder block without normalisation: LReLU, 3x3 conv, 2x avg-pool, LReLU, 3x3 conv; 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()

    def _shortcut(self, x):
        return F.avg_pool2d(self.skip(x), 2)

    def _residual(self, x):
        x = self.conv1(F.leaky_relu(x, 0.2))
        x = F.avg_pool2d(x, 2)
        return self.conv2(F.leaky_relu(x, 0.2))

    def forward(self, x):  # (B, c_in, H, W) -> (B, c_out, H/2, W/2)
        return (self._shortcut(x) + self._residual(x)) / math.sqrt(2)


def instance_norm(x, scale=None, shift=None, eps: float = 1e-5):
    """scale * (x - mean_HW) / std_HW + shift, fused, keeping x's memory format (channels_last stays so).

    nn.InstanceNorm2d returns a channels-first tensor, which costs a layout copy before and
    after every convolution in channels_last; this form costs none.
    """
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)  # (B, C, 1, 1)
    factor = torch.rsqrt(var + eps) if scale is None else scale * torch.rsqrt(var + eps)
    offset = -mean * factor if shift is None else shift - mean * factor
    return x * factor + offset


class AdaIN(nn.Module):
    """Adaptive instance norm [Huang & Belongie 2017]: (1 + gamma(s)) * IN(x) + beta(s)."""

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.fc = nn.Linear(style_dim, 2 * channels)

    def forward(self, x, s):  # x (B, C, H, W), s (B, style_dim)
        gamma, beta = self.fc(s).reshape(s.shape[0], 2, -1, 1, 1).unbind(1)  # (B, C, 1, 1) each
        return instance_norm(x, 1 + gamma, beta)


class PlainIN(nn.Module):
    """Instance norm with learned affine parameters; ignores the style (the `adain=False` ablation)."""

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x, s=None):
        return instance_norm(x, self.weight, self.bias)


class AdainResBlk(nn.Module):
    """Decoder block: norm(s), LReLU, nearest 2x upsample, 3x3 conv, norm(s), LReLU, 3x3 conv; 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, style_dim: int, adain: bool = True):
        super().__init__()
        Norm = AdaIN if adain else PlainIN
        self.norm1 = Norm(style_dim, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.norm2 = Norm(style_dim, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()

    def _shortcut(self, x):
        return self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))

    def _residual(self, x, s):
        x = F.leaky_relu(self.norm1(x, s), 0.2)
        x = self.conv1(F.interpolate(x, scale_factor=2, mode="nearest"))
        x = F.leaky_relu(self.norm2(x, s), 0.2)
        return self.conv2(x)

    def forward(self, x, s):  # (B, c_in, H, W), (B, style_dim) -> (B, c_out, 2H, 2W)
        return (self._shortcut(x) + self._residual(x, s)) / math.sqrt(2)
