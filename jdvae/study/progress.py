"""Progress of a long job, written to a small file that `jdvae reproduce` reads to show the whole study.

`jdvae reproduce` runs every training and the judge as a notebook in a subprocess, whose progress bar
nobody sees. It names a file in each job's JDVAE_PROGRESS; the loop calls the reporter every step and
the reporter writes {done, total, rate, unit, images_per_unit} atomically at most every `every` seconds (and at the end).
Without the variable the reporter does nothing.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from jdvae.io import atomic_write_text

ENV = "JDVAE_PROGRESS"


class Reporter:
    """Call with the number of units done; writes the progress file when it is due."""

    def __init__(self, path: str | os.PathLike | None, total: int, unit: str = "step", initial: int = 0,
                 images_per_unit: int | None = None, every: float = 2.0, clock=time.monotonic):
        self.path, self.total, self.unit, self.every = (Path(path) if path else None), int(total), unit, every
        self.images_per_unit, self.clock = images_per_unit, clock
        self.t0, self.done0, self.last = clock(), int(initial), float("-inf")

    def __call__(self, done: int, force: bool = False) -> None:
        if self.path is None:
            return
        now = self.clock()
        if not force and now - self.last < self.every and done < self.total:
            return
        self.last = now
        rate = (done - self.done0) / (now - self.t0) if now > self.t0 and done > self.done0 else None
        record = {"done": int(done), "total": self.total, "rate": rate, "unit": self.unit,
                  "images_per_unit": self.images_per_unit, "time": time.time()}
        try:
            atomic_write_text(self.path, json.dumps(record))
        except Exception:  # a progress file must never stop a training
            self.path = None


def reporter(total: int, unit: str = "step", initial: int = 0, images_per_unit: int | None = None) -> Reporter:
    """The reporter of this process: writes to $JDVAE_PROGRESS, or does nothing when it is unset."""
    return Reporter(os.environ.get(ENV), total, unit, initial, images_per_unit)


def read_progress(path: str | os.PathLike) -> dict | None:
    """The last record written to `path`, or None when there is none yet (or it cannot be read)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
