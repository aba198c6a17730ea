"""Measure SynthFaces generation rate (images/s) on one core at 32, 64 and 128 px (not a test)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from jdvae.data import synthfaces  # noqa: E402


def rate(size: int, n: int = 2048) -> tuple[float, float]:
    """Images per second for sampling factors plus rendering, and for rendering alone."""
    t0 = time.perf_counter()
    factors = synthfaces.sample_factors(0, np.arange(n))
    t1 = time.perf_counter()
    synthfaces.render(factors, size)
    t2 = time.perf_counter()
    return n / (t2 - t0), n / (t2 - t1)


if __name__ == "__main__":
    synthfaces.render(synthfaces.sample_factors(0, np.arange(8)), 32)  # warm up
    for size in synthfaces.SIZES:
        total, render_only = rate(size, 2048 if size < 128 else 512)
        print(f"{size:4d} px: {total:8.0f} images/s (factors + render), {render_only:8.0f} images/s (render only)")
