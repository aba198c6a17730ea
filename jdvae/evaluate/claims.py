"""The paper's claims, each with the value we measured and a verdict (the gates and intervals: gates.py).

Verdicts: "holds"; "does not hold"; "not distinguishable" (an ordering or threshold decided
within two standard errors); "not measurable here" (a run missing, the smoke profile, a judge
too weak on real images, a model whose own reconstructions the judge does not read right, or a
judge that cannot read the true counterfactuals).
"""
from __future__ import annotations

from pathlib import Path

from ..io import atomic_write_text
from . import gates

HOLDS, FAILS, NA, UNCLEAR = "holds", "does not hold", "not measurable here", "not distinguishable"
VERDICTS = (HOLDS, FAILS, UNCLEAR, NA)
JUDGE_MIN_BCA = 0.90  # below this the judge's verdicts on swaps say more about the judge than the model
SMOKE_WHY = "smoke profile: a few training steps per model; it proves the plumbing, not the science"
# An outcome is True (holds), False (does not hold), UNCLEAR, or None (not measurable).


def _rows(report: dict, section: str = "glasses") -> dict[tuple[str, str], dict]:
    return {(r["model"], r["label"]): r for r in report["rows"] if r["section"] == section}


def _get(rows, model: str, metric: str, label: str = "glasses") -> float | None:
    row = rows.get((model, label))
    return None if row is None else row.get(metric)


def _fmt(v: float | None, unit: str = "") -> str:
    return "n/a" if v is None else (f"{v:.1f}{unit}" if unit == " %" else f"{v:.4f}")


def _ci(row: dict | None, metric: str, unit: str = " %") -> str:
    """'53.8 ± 7.1 %': the mean and two standard errors (the bare mean when no SE is known)."""
    v, se = (None if row is None else row.get(metric)), gates.standard_error(row, metric)
    if v is None or se is None:
        return _fmt(v, unit)
    return f"{v:.1f} ± {gates.Z * se:.1f} %" if unit == " %" else f"{v:.3f} ± {gates.Z * se:.3f}"


def _measured(rows, models, metric: str, label: str = "glasses", unit: str = " %") -> tuple[str, str]:
    """'PA1 53.8 ± 7.1 %, PA2 ...' and which models are missing."""
    text = ", ".join(f"{m} {_ci(rows.get((m, label)), metric, unit)}" for m in models)
    missing = [m for m in models if _get(rows, m, metric, label) is None]
    return text, ("missing: " + ", ".join(missing)) if missing else ""


def _combine(outcomes: list) -> bool | str | None:
    """All must hold: any failure fails, then any unmeasurable, then any indistinct."""
    return (False if False in outcomes else None if None in outcomes
            else UNCLEAR if UNCLEAR in outcomes else True)


def _order(rows, pairs, metric: str, label: str = "glasses", unit: str = " %") -> tuple[bool | str | None, str]:
    """Verdict on every 'a > b' of `pairs` at two standard errors of the difference, and the differences."""
    outcomes, parts = [], []
    for a, b in pairs:
        ok, diff, se = gates.compare(rows.get((a, label)), rows.get((b, label)), metric)
        outcomes.append(UNCLEAR if ok is None and diff is not None else ok)
        if diff is not None:
            parts.append(f"{a} − {b} = {diff:.{1 if unit else 3}f} ± {gates.Z * se:.{1 if unit else 3}f}")
    why = "differences ± two standard errors: " + "; ".join(parts) if parts else "no standard error"
    return _combine(outcomes), why


def _above(items, value: float, unit: str = " %") -> tuple[bool | str | None, str]:
    """Verdict on 'each mean > value' for items (name, row, metric), from the intervals mean ± 2 SE."""
    outcomes = [gates.above(row, metric, value) for _, row, metric in items]
    outcomes = [UNCLEAR if ok is None and gates.interval(row, metric) is not None else ok
                for ok, (_, row, metric) in zip(outcomes, items)]
    why = f"criterion: the interval (mean ± two standard errors) of each lies above {value:g}{unit}"
    return _combine(outcomes), why


def _uses(rows, models, labels=("glasses",)) -> list[tuple[dict | None, str, str]]:
    return [(rows.get((m, label)), m, label) for m in models for label in labels]


def claims(report: dict, profile: str = "quick") -> list[dict[str, str]]:
    """Every claim of the paper as {claim, paper, measured, verdict, why}."""
    g = _rows(report)
    out = []
    judge_report = report.get("judge", {}).get("report", {})
    weak = {label: bca for label, bca in judge_report.get("test_bca", {}).items()
            if bca is not None and bca < JUDGE_MIN_BCA}

    def add(claim: str, paper: str, measured: str, ok: bool | str | None, why: str = "", judged: tuple[str, ...] = (),
            uses: list = ()) -> None:
        shaky = [label for label in judged if label in weak]
        invalid = [r for r in (gates.invalid(row, m, label) for row, m, label in uses) if r] if ok is not None else []
        if profile == "smoke":
            ok, why = None, SMOKE_WHY
        elif shaky and ok is not None:
            ok, why = None, (f"the judge's own test BCA for {', '.join(shaky)} is "
                             f"{', '.join(f'{100 * weak[label]:.1f} %' for label in shaky)}, below "
                             f"{100 * JUDGE_MIN_BCA:.0f} %: its SR verdicts cannot be trusted (train it longer)")
        elif invalid:
            ok, why = None, "; ".join(invalid)
        verdict = NA if ok is None else UNCLEAR if ok == UNCLEAR else HOLDS if ok else FAILS
        out.append({"claim": claim, "paper": paper, "measured": measured, "verdict": verdict, "why": why})

    models = ("PA1", "PA2", "CCVAE2", "M2")
    text, missing = _measured(g, models, "sr_plus")
    ok, why = _order(g, [("PA1", "CCVAE2"), ("PA2", "CCVAE2"), ("CCVAE2", "M2")], "sr_plus")
    add("PA1 and PA2 add glasses more often than CCVAE2, which beats M2 (SR(+))",
        "PA1 59.85, PA2 64.25 > CCVAE2 47.68 > M2 33.03", text, None if missing else ok, missing or why,
        judged=("glasses",), uses=_uses(g, models))

    text, missing = _measured(g, ("PA1", "PA2"), "sr_minus")
    ok, why = _above([(m, g.get((m, "glasses")), "sr_minus") for m in ("PA1", "PA2")], 94.0)
    add("PA1 and PA2 remove glasses in more than 94 % of cases (SR(−))", "PA1 96.31, PA2 94.98", text,
        None if missing else ok, missing or why, judged=("glasses",), uses=_uses(g, ("PA1", "PA2")))

    models = ("CCVAE", "CCVAE2", "M2", "PA1", "PA2")
    text, missing = _measured(g, models, "bca")
    v = [_get(g, m, "bca") for m in models if _get(g, m, "bca") is not None]
    add("Every model classifies above 94 % balanced accuracy at supervision 0.2 (BCA)",
        "94.26 to 97.09", text, None if not v else min(v) > 94.0, missing)

    _reconstruction_claims(g, report, add)

    text, missing = _measured(g, ("PA1", "PA1 (no tokens)"), "sr_plus")
    ok, why = _order(g, [("PA1", "PA1 (no tokens)")], "sr_plus")
    add("Removing the tokens lowers PA1's SR(+)", "59.85 % → 47.23 %", text, None if missing else ok,
        missing or why, judged=("glasses",), uses=_uses(g, ("PA1", "PA1 (no tokens)")))

    m = _rows(report, "glasses+beard")
    items = [(f"{metric} {label}", m.get(("PA1", label)), metric) for label in ("glasses", "beard")
             for metric in ("sr_minus", "sr_plus")]
    measured = ", ".join(f"{name} {_ci(row, metric)}" for name, row, metric in items)
    ok, why = _above(items, 50.0)
    missing = any(row is None or row.get(metric) is None for _, row, metric in items)
    add("Glasses and beard can be manipulated separately (two-label PA1)", "qualitative (Fig. 3)", measured,
        None if missing else ok, "no two-label PA1 run evaluated" if missing else why + " (half of the pairs)",
        judged=("glasses", "beard"), uses=_uses(m, ("PA1",), ("glasses", "beard")))

    _right_glasses_claim(g, judge_report, add)
    return out


def _reconstruction_claims(g, report: dict, add) -> None:
    """CCVAE's reconstructions against the others', and PA1 without AdaIN (LPIPS, else reconstruction MSE)."""
    lpips_ok = report.get("lpips", {}).get("available", False)
    others = ("CCVAE2", "M2", "PA1", "PA2")
    if lpips_ok:
        cc, rest = _get(g, "CCVAE", "lpips"), [_get(g, m, "lpips") for m in others]
        measured = f"LPIPS CCVAE {_fmt(cc)}; others {', '.join(_fmt(r) for r in rest)}"
        why = "criterion: CCVAE's LPIPS at least 1.25 times the worst of the others"
    else:
        cc, rest = _get(g, "CCVAE", "recon_mse"), [_get(g, m, "recon_mse") for m in others]
        measured = (f"reconstruction MSE CCVAE {_fmt(cc)} (SSIM {_fmt(_get(g, 'CCVAE', 'recon_ssim'))}); others "
                    f"{', '.join(_fmt(r) for r in rest)}")
        why = ("LPIPS unavailable (" + report.get("lpips", {}).get("reason", "?") + "); judged on reconstruction "
               "MSE instead: CCVAE's at least 1.25 times the worst of the others")
    add("CCVAE's reconstructions are far worse than the others'", "LPIPS 0.4414 vs 0.2416 to 0.2564",
        measured, None if cc is None or None in rest else cc > 1.25 * max(rest), why)

    metric = "lpips" if lpips_ok else "recon_mse"
    a, b = _get(g, "PA1", metric), _get(g, "PA1 (no AdaIN)", metric)
    add("Removing AdaIN degrades PA1's reconstructions", "LPIPS 0.2484 → 0.3059",
        f"{'LPIPS' if lpips_ok else 'reconstruction MSE'} {_fmt(a)} → {_fmt(b)}",
        None if a is None or b is None else b > a,
        "" if lpips_ok else "LPIPS unavailable; judged on reconstruction MSE")


def _right_glasses_claim(g, judge_report: dict, add) -> None:
    """Judge-free: the share of the glasses-region error PA1's additions close, against CCVAE2's and M2's."""
    claim, paper = "The glasses PA1 adds are the source image's glasses", "qualitative (Fig. 2, 3)"
    models = ("PA1", "PA2", "CCVAE2", "M2")
    if _get(g, "PA1", "region_add_closed") is None:
        add(claim, paper, "n/a", None, "needs SynthFaces (the true counterfactual of every swap)")
        return
    closed, _ = _measured(g, models, "region_add_closed", unit="")
    region, _ = _measured(g, models, "region_add_mse", unit="")
    donor, _ = _measured(g, models, "donor_match")
    measured = (f"share of the glasses-region error closed by the addition: {closed}; region MSE: {region}; "
                f"additions in the donor's colour (chance 50 %): {donor}")
    rivals = [k for k in ("CCVAE2", "M2") if _get(g, k, "region_add_closed") is not None]
    order, why = _order(g, [("PA1", k) for k in rivals], "region_add_closed", unit="")
    positive = _above([("PA1", g.get(("PA1", "glasses")), "region_add_closed")], 0.0, unit="")[0]
    outcomes = [order, positive]
    if _get(g, "PA1", "donor_match") is not None:  # absent from metrics.json files older than the measure
        outcomes.append(_above([("PA1", g.get(("PA1", "glasses")), "donor_match")], 50.0)[0])
    ok = _combine(outcomes) if rivals else None
    why = ("criterion: inside the dilated mask of the true glasses, PA1's addition closes a positive share of "
           "the error of its plain reconstruction (1 − err(addition, truth) / err(reconstruction, truth)), more "
           "than CCVAE2 and M2 by two standard errors, and its additions are nearer the donor's glasses colour "
           f"than another donor's in more than 50 % of pairs by two standard errors; {why}")
    if not rivals:
        why = "no CCVAE2 or M2 run with region errors evaluated"
    readable, reason = gates.features_readable(judge_report)
    if readable:
        measured += "; frame shape read back: " + ", ".join(
            f"{k} {_fmt(_get(g, k, 'transfer_shape_acc'), ' %')}" for k in models)
    else:
        why += f"; shape transfer not reported: {reason}"
    add(claim, paper, measured, ok, why)


def to_markdown(items: list[dict[str, str]], report: dict, profile: str) -> str:
    """claims.md: a table of claims, then the criteria."""
    seeds = sorted({r["seeds"] for r in report["rows"]}) or [0]
    lines = [f"# The paper's claims, checked ({profile} profile)", "",
             f"Measured by `jdvae evaluate` on {', '.join(sorted({r['section'] for r in report['rows']}))} runs "
             f"({'/'.join(map(str, seeds))} seed(s) per row). Judge: {report['judge']['arch']}. "
             "± is two standard errors (binomial over the pairs, combined with the spread over seeds).", "",
             f"Gates: a verdict that uses a model's SR is *{NA}* when that model's plain reconstructions are read "
             f"right by the judge in less than {gates.MIN_RECON_READ:.0f} % of the pairs (R(+) or R(−)), when the "
             f"judge reads the true counterfactuals right in less than {gates.MIN_TRUTH_READ:.0f} %, or when its test "
             f"balanced accuracy is below {100 * JUDGE_MIN_BCA:.0f} %. An ordering or threshold within two standard "
             f"errors is *{UNCLEAR}*.", ""]
    if profile == "smoke":
        lines += ["**Smoke profile: a few training steps per model. Every verdict is not measurable: the run "
                  "proves the plumbing, not the science; run the quick or paper profile.**", ""]
    lines += ["| claim | paper | measured | verdict |", "|---|---|---|---|"]
    for c in items:
        lines.append(f"| {c['claim']} | {c['paper']} | {c['measured']} | **{c['verdict']}** |")
    lines += ["", "## How each verdict was reached", ""]
    lines += [f"- {c['claim']}: {c['why'] or 'direct comparison of the measured means'}" for c in items]
    return "\n".join(lines) + "\n"


def write_claims(report: dict, path: str | Path, profile: str = "quick") -> str:
    """Write claims.md atomically and return its text."""
    text = to_markdown(claims(report, profile), report, profile)
    atomic_write_text(path, text)
    return text
