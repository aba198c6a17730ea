"""Two judges evaluated apart on the same runs and pairs: how far apart their success rates are, and which claims they
decide differently (a closer look than claims.md, whose intervals already carry both judges).

Both tables come from `jdvae evaluate` on the same runs, split and pair seed, once with each judge; since the
images are the same, a difference is the judges' disagreement alone, with no pair sampling in it."""
from __future__ import annotations

import json
from pathlib import Path

from jdvae.errors import JdvaeError

RATES = ("sr_minus", "sr_plus")
LIMIT = 2.0  # points: the largest gap allowed between two judge seeds on any SR


def _rows(metrics: dict) -> dict[tuple[str, str, str], dict]:
    return {(r["section"], r["label"], r["model"]): r for r in metrics["rows"]}


def _path(path: str | Path) -> Path:
    path = Path(path)
    return path / "metrics.json" if path.is_dir() else path


def _read(path: str | Path) -> dict:
    path = _path(path)
    if not path.is_file():
        raise JdvaeError(f"{path} not found; give the metrics.json (or its folder) that `jdvae evaluate` wrote")
    return json.loads(path.read_text())


def _claims(path: str | Path, table: dict) -> list[dict] | None:
    """claims.md's verdicts for one table, from the per-pair outcomes beside it; None when they are not there."""
    from jdvae.report import outcomes
    from jdvae.report.claims import claims

    stored = _path(path).parent / table.get("outcomes_file", outcomes.FILE)
    if not stored.is_file():
        return None
    profile = next((r["config"]["profile"] for r in table["runs"] if "config" in r), "quick")
    return claims(table, profile, outcomes.load(stored))


def verdicts(path_a: str | Path, path_b: str | Path, a: dict, b: dict) -> list[dict] | None:
    """Each claim's verdict under both judges ({claim, a, b, measured_a, measured_b}); None without outcomes."""
    ca, cb = _claims(path_a, a), _claims(path_b, b)
    if ca is None or cb is None:
        return None
    by_claim = {c["claim"]: c for c in cb}
    return [{"claim": c["claim"], "a": c["verdict"], "b": by_claim[c["claim"]]["verdict"],
             "measured_a": c["measured"], "measured_b": by_claim[c["claim"]]["measured"]}
            for c in ca if c["claim"] in by_claim]


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
    """A markdown table of every SR under both judges, then the claims whose verdict differs between them; and
    whether every SR gap is within `limit` points."""
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
    lines += ["", _verdict_lines(verdicts(path_a, path_b, a, b))]
    return "\n".join(lines), ok


def _verdict_lines(rows: list[dict] | None) -> str:
    """The claims whose verdict the judge changes (they do not enter the exit status: the gap does)."""
    if rows is None:
        return "Verdicts not compared: outcomes.npz is missing beside a table (written by `jdvae evaluate`)."
    changed = [r for r in rows if r["a"] != r["b"]]
    head = f"Verdicts: {len(rows) - len(changed)} of {len(rows)} claims the same under both judges."
    if not changed:
        return head
    lines = [head, "", "| claim | judge A | judge B |", "|---|---|---|"]
    lines += [f"| {r['claim']} | {r['a']}: {r['measured_a']} | {r['b']}: {r['measured_b']} |" for r in changed]
    return "\n".join(lines)
