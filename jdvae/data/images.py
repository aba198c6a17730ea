"""Images from files as the loaders keep them: a centred square, resized, uint8 RGB."""
from __future__ import annotations

import numpy as np
from PIL import Image


def center_crop(im: Image.Image, size: int, crop: int | None = None) -> np.ndarray:
    """uint8 (size, size, 3): the centred square of side `crop` (default: the shorter side), resized to `size`."""
    w, h = im.size
    c = min(crop or min(w, h), w, h)
    left, top = (w - c) // 2, (h - c) // 2
    return np.asarray(im.convert("RGB").crop((left, top, left + c, top + c)).resize((size, size), Image.BICUBIC),
                      np.uint8)
