"""Two judges on the same runs and pairs: how far apart their success rates are (issue 17's judge-seed gate).

Both tables come from `jdvae evaluate` on the same runs, split and pair seed, once with each judge; since the
images are the same, a difference is the judges' disagreement alone, with no pair sampling in it."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import JdvaeError

RATES = ("sr_minus", "sr_plus")
LIMIT = 2.0  # points: the largest gap allowed between two judge seeds on any SR


def _rows(metrics: dict) -> dict[tuple[str, str, str], dict]:
    return {(r["section"], r["label"], r["model"]): r for r in metrics["rows"]}


def _read(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.is_file():
        raise JdvaeError(f"{path} not found; give the metrics.json (or its folder) that `jdvae evaluate` wrote")
    return json.loads(path.read_text())


def sr_gaps(a: dict, b: dict) -> list[dict]:
    """One row per (section, label, model, rate) present in both tables: the two values and their gap."""
    def scored(t: dict):
        return t.get("pair_seed"), sorted(r["run"] for r in t["runs"]), sorted(
            (r["section"], r["label"], r["model"], r.get("pairs")) for r in t["rows"])

    if scored(a) != scored(b):
        raise JdvaeError("the two tables score different runs or pairs; evaluate the same --runs with the same "
                         "--pair-seed and --split, once per judge")
    rows_a, rows_b = _rows(a), _rows(b)
    out = []
    for key in sorted(set(rows_a) & set(rows_b)):
        for rate in RATES:
            va, vb = rows_a[key].get(rate), rows_b[key].get(rate)
            if va is None or vb is None:
                continue
            out.append({"section": key[0], "label": key[1], "model": key[2], "rate": rate,
                        "a": va, "b": vb, "gap": abs(va - vb)})
    return out


def report(path_a: str | Path, path_b: str | Path, limit: float = LIMIT) -> tuple[str, bool]:
    """A markdown table of every SR under both judges, and whether every gap is within `limit` points."""
    a, b = _read(path_a), _read(path_b)
    gaps = sr_gaps(a, b)
    if not gaps:
        raise JdvaeError("the two tables share no model with a success rate; are they from the same runs?")
    lines = ["| section | label | model | rate | judge A | judge B | gap |", "|---|---|---|---|---|---|---|"]
    for g in gaps:
        mark = " **over**" if g["gap"] > limit else ""
        lines.append(f"| {g['section']} | {g['label']} | {g['model']} | {g['rate']} | {g['a']:.1f} | {g['b']:.1f} "
                     f"| {g['gap']:.1f}{mark} |")
    worst = max(gaps, key=lambda g: g["gap"])
    ok = worst["gap"] <= limit
    lines.append("")
    lines.append(f"A: {path_a}; B: {path_b}. Largest gap {worst['gap']:.1f} points ({worst['model']}, {worst['label']}, "
                 f"{worst['rate']}): {'within' if ok else 'over'} the {limit:g}-point limit.")
    return "\n".join(lines), ok
