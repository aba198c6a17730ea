"""Does a seed-0 study drawn here (e.g. by `jdvae reproduce --pretrained`) equal the seed-0 rows of the committed
three-seed one (paper_figures/metrics.json)? Runs are matched by folder name, readings judge by judge."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jdvae.config import RunConfig
from jdvae.errors import JdvaeError
from jdvae.study.shipped import SEED


# judge readings, in percent of pairs or images (metrics.json "units"); the other metrics are distances
RATES = ("sr_minus", "sr_plus", "bca", "r_minus", "r_plus", "truth_add_read", "truth_remove_read", "donor_match",
         "transfer_shape_acc", "transfer_ref_shape_acc")


def _as_config(d: dict[str, Any]) -> Any:
    """A run config read back as `RunConfig` (a field added since fills in its default), else as JSON (tuples as
    lists), so that configs written before and after a new field compare equal."""
    d = json.loads(json.dumps(d))
    if not {"data", "model", "train"} <= set(d):
        return d
    try:
        return RunConfig.from_dict(d)
    except JdvaeError:
        return d


def seed0_differences(report: dict[str, Any], committed: dict[str, Any], tolerance: float = 0.0) -> list[str]:
    """Where a metrics.json `report` of seed-0 runs disagrees with the seed-0 rows of a `committed` one (e.g. the
    three-seed paper_figures/metrics.json): a run absent there or made on another config, or a rate (in points)
    more than `tolerance` away. Runs are matched by folder name; an empty list means they agree. Readings are
    compared judge by judge: when `committed` was read by the first judge alone and `report` by several, the
    first judge's own readings (`rate@j0`) are compared with the committed ones."""
    rows = {Path(r["run"]).name: r for r in committed.get("runs", ()) if r.get("seed") == SEED}
    one_judge = not any("@j" in k for r in rows.values() for k in r["metrics"])
    problems = []
    for run in report.get("runs", ()):
        name = Path(run["run"]).name
        if name not in rows:
            problems.append(f"{name}: no seed-0 row")
            continue
        if _as_config(run["config"]) != _as_config(rows[name]["config"]):
            problems.append(f"{name}: made on another config")
            continue
        mine = run["metrics"]
        for key, value in mine.items():
            rate, _, label = key.partition("/")
            if one_judge and "@j" in rate:  # the first judge's reading stands in for the committed one below
                continue
            if one_judge and f"{rate}@j0/{label}" in mine:
                value = mine[f"{rate}@j0/{label}"]
            theirs = rows[name]["metrics"].get(key)
            if rate.split("@")[0] in RATES and value is not None and theirs is not None \
                    and abs(value - theirs) > tolerance:
                problems.append(f"{name} {key}: {value:.2f} against {theirs:.2f}")
    return problems


def compare_with_committed(drawn: Path, committed: Path) -> str:
    """One line: do the seed-0 rates in `drawn` (a metrics.json) equal the seed-0 rows of `committed`?"""
    if not committed.is_file() or committed.resolve() == drawn.resolve():
        return f"  (no other {committed} to compare with)"
    try:
        report = json.loads(drawn.read_text())
        problems = seed0_differences(report, json.loads(committed.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"  could not compare with {committed}: {e}"
    unmatched = [p for p in problems if p.endswith((": no seed-0 row", ": made on another config"))]
    if len(unmatched) == len(report["runs"]):
        return f"  {committed} holds no seed-0 run of these settings: nothing to compare"
    if not problems:
        return f"  its seed-0 rates equal those in {committed}"
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return (f"  {len(problems)} seed-0 readings differ from {committed} ({'; '.join(problems[:3])}{more}); "
            f"on another kind of CPU than the one in its manifest, up to 0.5 points are expected")
