"""Learning-rate schedules as pure functions of the step, shared by the trainer and the judge."""
from __future__ import annotations

import math


def step_drop(step: int, total: int, peak: float, drop_at: float) -> float:
    """`peak`, divided by 10 once `drop_at` of the steps are done (the authors' training script)."""
    return peak if step < drop_at * total else peak / 10


def warmup_cosine(step: int, total: int, peak: float, warmup: float) -> float:
    """Linear warm-up over `warmup` of the steps to `peak`, then a cosine decay to 0 at `total`."""
    n_warm = max(1, round(warmup * total))
    if step < n_warm:
        return peak * (step + 1) / n_warm
    return 0.5 * peak * (1 + math.cos(math.pi * (step - n_warm) / max(1, total - n_warm)))
