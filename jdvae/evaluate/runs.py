"""Every complete run of a folder evaluated with every judge of the study: Table 1's numbers, written by
report/table.py into table1.csv, table1.md and metrics.json, and the per-pair outcomes into outcomes.npz."""
from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jdvae.config import RunConfig
from jdvae.errors import JdvaeError
from jdvae.evaluate.judge.model import Judge, judge_config
from jdvae.evaluate.judge.store import CONFIG_FILE, judges_in, load_judge
from jdvae.evaluate.judge.train import train_judge
from jdvae.evaluate.lpips_metric import load_lpips
from jdvae.evaluate.per_run import evaluate_each
from jdvae.io import atomic_write_json, atomic_write_text, check_writable
from jdvae.report import outcomes
from jdvae.report.table import PAPER, UNITS, aggregate, row_name, to_csv, to_markdown
from jdvae.vae.checkpoint import is_complete, read_config


def find_runs(runs_dir: Path, exclude: tuple[Path, ...] = ()) -> tuple[list[Path], list[str]]:
    """Complete run folders under `runs_dir` and a note for each incomplete one."""
    runs, skipped = [], []
    for cfg_file in sorted(runs_dir.rglob("config.json")):
        run = cfg_file.parent
        if any(run == d or d in run.parents for d in exclude):
            continue
        (runs if is_complete(run) else skipped).append(run)
    return runs, [f"{run}: incomplete (no weights or done marker), skipped" for run in skipped]


def get_judge(judge_dir: Path, cfg: RunConfig, device: str, progress: bool) -> Judge:
    if (judge_dir / CONFIG_FILE).is_file():
        return load_judge(judge_dir, device)
    jcfg = judge_config(cfg.profile, data=cfg.data)
    print(f"no judge in {judge_dir}: training one ({jcfg.arch}, {jcfg.epochs} epochs, profile {cfg.profile})",
          file=sys.stderr)
    return train_judge(jcfg, judge_dir, device=device, progress=progress)


def versions() -> dict[str, str]:
    """Library versions recorded beside the numbers."""
    import lpips
    import torchvision

    from jdvae import __version__
    return {"jdvae": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__,
            "lpips": getattr(lpips, "__version__", "unknown")}


def judge_dirs_of(runs_dir: Path, judge_dirs) -> list[Path]:
    """The judges to read with: those given, else every judge folder in `runs_dir`, else RUNS/judge (trained)."""
    if judge_dirs is None:
        return judges_in(runs_dir) or [runs_dir / "judge"]
    return [Path(d) for d in ([judge_dirs] if isinstance(judge_dirs, (str, Path)) else judge_dirs)]


def evaluate_runs(runs_dir: str | Path, out: str | Path, judge_dirs=None, device: str = "cpu",
                  pair_seed: int = 0, progress: bool = True, split: str = "test", workers: int = 1) -> dict[str, Any]:
    """Evaluate every complete run in `runs_dir` on `split`; write table1.csv, table1.md, metrics.json into `out`.

    `judge_dirs`: one judge folder or several (default: every judge folder in `runs_dir`; one is trained into
    RUNS/judge when there is none). The test split is the final evaluation's; "val" reads the same measures on
    validation pairs, which is what a budget or a gate check may look at. `workers` > 1 evaluates that many runs
    side by side (per_run.py); the table is the same."""
    runs_dir, out = Path(runs_dir), check_writable(out)
    judge_dirs = judge_dirs_of(runs_dir, judge_dirs)
    runs, skipped = find_runs(runs_dir, exclude=tuple(judge_dirs))
    runs.sort(key=lambda r: json.dumps(read_config(r).to_dict()["data"], sort_keys=True))  # one data set at a time
    if not runs:
        raise JdvaeError(f"no complete run in {runs_dir}; train models first (`jdvae train --out {runs_dir}/NAME`)")
    lp = load_lpips(device)
    widest = max((read_config(r) for r in runs), key=lambda c: len(c.data.labels))  # every label of the study
    judges = [get_judge(d, widest, device, progress) for d in judge_dirs]  # trained here once when missing
    results, per_pair = [], {}
    evaluated = evaluate_each(runs, judge_dirs, device, pair_seed, split, progress, workers, judges=judges, lpips=lp)
    for run, (config, m, notes, kept) in zip(runs, evaluated):
        cfg = RunConfig.from_dict(config)
        tag = f"run{len(results)}"
        per_pair.update({f"{tag}|{k}": v for k, v in kept.items()})
        results.append({"run": str(run), "row": row_name(cfg), "labels": list(cfg.data.labels),
                        "seed": cfg.train.seed, "config": config, "metrics": m, "notes": notes,
                        "outcomes": tag})
    rows = aggregate(results, per_pair)
    entries = [{"dir": str(d), "arch": j.cfg.arch, "seed": j.cfg.seed, "config": j.cfg.to_dict(), "report": j.report}
               for d, j in zip(judge_dirs, judges)]
    report = {"pair_seed": pair_seed, "versions": versions(), "units": UNITS, "paper": PAPER,
              "judge": entries[0], "judges": entries,
              "lpips": {"available": lp.available, "reason": lp.reason},
              "runs": results, "rows": rows, "skipped": skipped, "outcomes_file": outcomes.FILE}
    if len(judges) > 1:
        report["rows_by_judge"] = [aggregate(results, per_pair, judge=j) for j in range(len(judges))]
    outcomes.save(out / outcomes.FILE, per_pair)
    atomic_write_json(out / "metrics.json", report)
    atomic_write_text(out / "table1.csv", to_csv(rows))
    atomic_write_text(out / "table1.md", to_markdown(rows, report))
    return report
