"""What `jdvae reproduce` hands a training it starts in a notebook, as callbacks of `train` and `train_judge`.

- progress: the steps done, written to the file named by $JDVAE_PROGRESS (progress.py), which the study's
  status line reads;
- thread share: every `threads.EVERY` steps, the torch thread count written for this job into $JDVAE_THREADS_FILE
  (threads.py), so that the last trainings take the cores others have freed.
Without those variables (a notebook run by hand, `jdvae train`) the hooks do nothing.
"""
from __future__ import annotations

import os
from typing import Callable

from jdvae.study import threads
from jdvae.study.progress import ENV as PROGRESS_ENV, reporter

Callback = Callable[[int, int], None]


def progress_hook(images_per_step: int | None = None) -> Callback:
    """Write (steps done, total, rate) to $JDVAE_PROGRESS at most every two seconds."""
    state = {}

    def hook(done: int, total: int) -> None:
        if "report" not in state:  # the first call names where the run starts (a resumed run starts late)
            state["report"] = reporter(total, "step", initial=done - 1, images_per_unit=images_per_step)
        state["report"](done)
    return hook


def thread_hook(every: int = threads.EVERY) -> Callback:
    """Adopt the thread share written for this job every `every` steps."""
    def hook(done: int, total: int) -> None:
        if done % every == 0:
            threads.follow_share()
    return hook


def study_hooks(images_per_step: int | None = None) -> list[Callback]:
    """The hooks this process's environment asks for: none outside `jdvae reproduce`."""
    hooks = []
    if os.environ.get(PROGRESS_ENV):
        hooks.append(progress_hook(images_per_step))
    if os.environ.get(threads.ENV):
        hooks.append(thread_hook())
    return hooks
