"""Images as the models see them: uint8 NHWC arrays to float NCHW tensors in [-1, 1]."""
from __future__ import annotations

import numpy as np
import torch


def to_model_input(images, device: str | torch.device = "cpu", channels_last: bool = False) -> torch.Tensor:
    """uint8 (N, S, S, 3) numpy array or tensor -> float (N, 3, S, S) in [-1, 1] on `device`.

    The permute keeps the NHWC bytes where they are, so the result is channels_last in memory;
    channels_last=False returns an ordinary contiguous tensor.
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    x = images.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    x = x.div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
