"""The study's progress display: each running job's step, rate and ETA, and an ETA for the whole study.

`jdvae reproduce` gives every training and the judge a progress file (jdvae/study/progress.py) and a
`StudyWatch`; a background thread reads the files and shows one status line, rewritten in place on a
terminal and printed as a plain line every `every` seconds otherwise (CI logs, nohup).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from jdvae.study.progress import read_progress


def fmt_duration(seconds: float | None) -> str:
    """12m05s, 1h02m or ? for an unknown duration."""
    if seconds is None:
        return "?"
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


def study_eta(remaining: list[float | None], queued: list[float | None], lanes: int) -> float | None:
    """Seconds until the last queued job ends: running jobs end after `remaining`, queued ones take their
    estimated durations and start, in order, on the first lane that frees; None when any is unknown."""
    if any(r is None for r in remaining) or any(q is None for q in queued):
        return None
    free = sorted(list(remaining) + [0.0] * max(0, lanes - len(remaining)))
    for duration in queued:
        free[0] += duration
        free.sort()
    return max(free) if free else 0.0


class StudyWatch:
    """Shows the progress of the jobs `reproduce` runs side by side; `kind(job)` groups jobs of like cost."""

    def __init__(self, titles: list[str], kinds: dict[str, str], folder: Path, lanes: int, log,
                 every: float | None = None, stream=None):
        self.queued, self.kinds, self.folder, self.lanes = list(titles), kinds, Path(folder), lanes
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if hasattr(self.stream, "isatty") else False
        self.every = every if every is not None else (1.0 if self.tty else 30.0)
        self.running: dict[str, float] = {}  # title -> start time
        self.durations: dict[str, list[float]] = {}  # kind -> measured or projected durations
        self.done, self.total = 0, len(titles)
        self.lock, self.stop_event, self.shown = threading.Lock(), threading.Event(), False
        self._log = log
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def progress_file(self, title: str) -> Path:
        return self.folder / f".{title.replace(' ', '_')}.progress"

    def log(self, line: str) -> None:
        """A log line that never lands in the middle of the status line."""
        with self.lock:
            self._clear()
            self._log(line)

    def start(self, title: str) -> None:
        with self.lock:
            self.progress_file(title).unlink(missing_ok=True)
            self.queued.remove(title)
            self.running[title] = time.monotonic()

    def finish(self, title: str, ok: bool = True) -> None:
        """The job ended; only a job that succeeded lends its duration to the estimates of the queued ones."""
        with self.lock:
            start = self.running.pop(title, None)
            self.done += 1
            seconds = time.monotonic() - start if start is not None else None
            if ok and seconds is not None:
                self.durations.setdefault(self.kinds.get(title, ""), []).append(seconds)
            self.progress_file(title).unlink(missing_ok=True)

    def status(self) -> str:
        """One line: done/total, then each running job's done/total, rate and ETA, then the study's ETA."""
        parts, remaining, projected = [], [], {}
        now = time.monotonic()
        for title, start in self.running.items():
            p = read_progress(self.progress_file(title))
            if not p or not p.get("rate"):
                parts.append(f"{title} starting")
                remaining.append(None)
                continue
            left = (p["total"] - p["done"]) / p["rate"]
            remaining.append(left)
            projected.setdefault(self.kinds.get(title, ""), []).append(now - start + left)
            speed = (f"{p['rate'] * p['images_per_unit']:.0f} img/s" if p.get("images_per_unit")
                     else f"{p['rate']:.2f} {p['unit']}s/s")
            parts.append(f"{title} {p['done']}/{p['total']} {p['unit']}s, {speed}, ETA {fmt_duration(left)}")
        queued = [self._estimate(t, projected) for t in self.queued]
        eta = study_eta(remaining, queued, self.lanes)
        head = f"[{self.done}/{self.total} done, {len(self.queued)} queued]"
        return " | ".join([head] + parts + [f"trainings end in {fmt_duration(eta)}"])

    def _estimate(self, title: str, projected: dict[str, list[float]]) -> float | None:
        """A queued job's duration: the mean of the jobs of its kind seen so far, else of every other kind but
        the judge's (the trainings cost within a factor 1.5 of each other), else unknown."""
        kind = self.kinds.get(title, "")
        seen = self.durations.get(kind, []) + projected.get(kind, [])
        if not seen and kind != "judge":
            seen = [d for source in (self.durations, projected) for k, ds in source.items() if k != "judge" for d in ds]
        return sum(seen) / len(seen) if seen else None

    def _clear(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False

    def _show(self) -> None:
        with self.lock:
            line = self.status()
            if self.tty:
                width = os.get_terminal_size(self.stream.fileno()).columns if hasattr(self.stream, "fileno") else 200
                self.stream.write("\r\033[K" + line[:max(20, width - 1)])
                self.shown = True
            else:
                self.stream.write(f"  ...   {line}\n")
            self.stream.flush()

    def _loop(self) -> None:
        while not self.stop_event.wait(self.every):
            if self.running:
                try:
                    self._show()
                except (OSError, ValueError):  # a closed or odd stream: progress is optional
                    return

    def __enter__(self) -> "StudyWatch":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        with self.lock:
            self._clear()

