"""Validity gates, and the paired tests and intervals behind every verdict of claims.md.

- R(+) / R(−): shares of a model's plain reconstructions of the pair images that the judge reads
  as having / not having the label. Below MIN_RECON_READ the model cannot draw the label as
  the judge sees it, and its SR says more about the judge than about the swap.
- The judge's read of the true counterfactuals (SynthFaces): below MIN_TRUTH_READ the judge
  cannot see a perfect swap, so no SR it gives can be trusted.
- Intervals (stats.py): the bootstrap over training seeds, judges and the pairs within each seed,
  on the per-pair outcomes (outcomes.py); a rate's interval also contains the Wilson interval
  of its pooled count, whose n is the pairs actually scored.
- Orderings "a > b" are paired: both models on the same pairs, seeds and judges. With one seed
  read by one judge, a rate is decided by McNemar's exact test on the discordant pairs (p < 0.05);
  otherwise, and for every other measure, by the paired bootstrap interval of a − b (0 outside it).
  A threshold holds when the whole interval lies above it, fails when it lies below.
All rates are in percent, as in Table 1.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from jdvae.report import stats
from jdvae.report.outcomes import CLOSED, RATES, Outcomes

MIN_RECON_READ = 90.0  # percent: R(+) and R(−) below this make a model's SR unmeasurable
MIN_TRUTH_READ = 95.0  # percent: the judge must read the true counterfactuals at least this well
MIN_FEATURE_SHAPE = 80.0  # percent: the judge's feature head on real test faces, frame shape
MAX_FEATURE_TINT = 0.1  # mean absolute error of the tint read on real test faces
LEVEL = f"{100 * stats.LEVEL:.0f} %"


class Test(NamedTuple):
    """One decision: ok True / False, None when the interval contains the threshold; why when not measurable."""
    ok: bool | None
    text: str
    missing: str = ""


def _stat(metric: str, n: int):
    """The statistic of `metric` on n models' arrays (CLOSED metrics read two arrays per model)."""
    if metric in CLOSED:
        return stats.closed if n == 1 else stats.closed_difference
    return stats.mean if n == 1 else stats.difference


def _specs(model: str, metric: str) -> list[tuple[str, str]]:
    return [(model, m) for m in CLOSED.get(metric, (metric,))]


def _fmt(v: float, metric: str) -> str:
    return f"{v:.1f}" if metric in RATES else f"{v:.3f}" if metric in CLOSED else f"{v:.4f}"


def interval(out: Outcomes, section: str, label: str, model: str, metric: str):
    """(estimate, lo, hi, seeds) of one row's metric (percent for rates), or (None, why)."""
    key = (section, label, model, metric)
    if key not in out.cache:
        out.cache[key] = _interval(out, section, label, model, metric)
    return out.cache[key]


def _interval(out: Outcomes, section: str, label: str, model: str, metric: str):
    groups, why = out.groups(section, label, _specs(model, metric))
    if not groups:
        return None, why
    name = f"{section}|{label}|{model}|{metric}"
    if metric in RATES:
        est = stats.rate_interval([g[0] for g in groups], name)
    else:
        est = stats.bootstrap(groups, _stat(metric, 1), name)
    return (None, f"no scored pair of {model} [{label}]") if est is None else ((*est, len(groups)), "")


def shown(out: Outcomes, section: str, label: str, model: str, metric: str) -> str:
    """'PA1 94.4 % [92.3, 95.9]' (the row's estimate and its interval), or 'PA1 n/a'."""
    est, _ = interval(out, section, label, model, metric)
    if est is None:
        return f"{model} n/a"
    unit = " %" if metric in RATES else ""
    return f"{model} {_fmt(est[0], metric)}{unit} [{_fmt(est[1], metric)}, {_fmt(est[2], metric)}]"


def above(out: Outcomes, section: str, label: str, model: str, metric: str, value: float) -> Test:
    """'model's metric > value' from its interval."""
    est, why = interval(out, section, label, model, metric)
    if est is None:
        return Test(None, "", why)
    return Test(stats.decide(est[1], est[2], value), f"{model} {_fmt(est[1], metric)} to {_fmt(est[2], metric)}")


def order(out: Outcomes, section: str, label: str, a: str, b: str, metric: str) -> Test:
    """'a > b' on the same pairs and seeds: McNemar for a rate on one seed, else the paired bootstrap."""
    groups, why = out.groups(section, label, _specs(a, metric) + _specs(b, metric))
    if not groups:
        return Test(None, "", why)
    scale = 100.0 if metric in RATES else 1.0
    boot = stats.bootstrap(groups, _stat(metric, 2), f"{section}|{label}|{a}>{b}|{metric}")
    if boot is None:
        return Test(None, "", f"no pair scored for both {a} and {b} [{label}]")
    est, lo, hi = (scale * v for v in boot)
    text = f"{a} − {b} = {_fmt(est, metric)} [{_fmt(lo, metric)}, {_fmt(hi, metric)}]"
    one_judge = all(np.ndim(a) == 1 or len(a) == 1 for a in groups[0])
    if metric in RATES and len(groups) == 1 and one_judge:
        x, y = (np.asarray(a).reshape(-1) for a in groups[0])
        ok = ~(np.isnan(np.asarray(x, float)) | np.isnan(np.asarray(y, float)))
        n_ab, n_ba = stats.discordant(np.asarray(x)[ok], np.asarray(y)[ok])
        p = stats.mcnemar(n_ab, n_ba)
        return Test((n_ab > n_ba) if p < stats.ALPHA else None,
                    f"{text}; McNemar: {n_ab} pairs only {a} right, {n_ba} only {b}, p = {p:.2g}")
    seeds = f"{len(groups)} seed{'s' if len(groups) > 1 else ''}"
    how = (f"{seeds}, {len(groups[0][0])} judges, three-level bootstrap" if not one_judge
           else f"{seeds}, two-level bootstrap" if len(groups) > 1 else "one seed, paired bootstrap over pairs")
    return Test(stats.decide(lo, hi), f"{text} ({how})")


def invalid(row: dict | None, model: str, label: str) -> str | None:
    """Why `model`'s SR for `label` is not measurable (R(±) < 90 %, truth read < 95 %), or None when it is."""
    if row is None:
        return f"{model} [{label}] was not evaluated"
    rates = {"R(+)": row.get("r_plus"), "R(−)": row.get("r_minus")}
    if None in rates.values():
        return f"{model} [{label}] has no validity rates R(±) (evaluate it again)"
    # two decimals and the count: a rate just under the gate must not print as the gate itself ("90.0 %, below 90 %")
    pairs = row.get("pairs")
    low = [f"{k} {v:.2f} %" + (f" ({round(v * pairs / 100)} of {round(pairs)} pairs)" if pairs else "")
           for k, v in rates.items() if v < MIN_RECON_READ]
    if low:
        return (f"{model} cannot draw {label} as the judge reads it: {' and '.join(low)} of its plain "
                f"reconstructions read right, below {MIN_RECON_READ:.0f} %")
    truth = {"true additions": row.get("truth_add_read"), "true removals": row.get("truth_remove_read")}
    low = [f"{k} {v:.1f} %" for k, v in truth.items() if v is not None and v < MIN_TRUTH_READ]
    if low:
        return (f"the judge reads the true counterfactuals of {label} right in only {' and '.join(low)} "
                f"(on {model}'s pairs), below {MIN_TRUTH_READ:.0f} %")
    return None


def features_readable(judge_report: dict) -> tuple[bool, str]:
    """Whether the judge's feature head reads real test faces well enough to report feature transfer, and why."""
    f = judge_report.get("test_features") or {}
    shape, tint = f.get("shape_acc"), f.get("tint_mae")
    if shape is None or tint is None:
        return False, "the judge has no glasses-feature head (or no test reading of it)"
    if shape < MIN_FEATURE_SHAPE or tint > MAX_FEATURE_TINT:
        return False, (f"the judge's feature head reads real test faces at frame shape {shape:.1f} % and tint MAE "
                       f"{tint:.3f}; needs ≥ {MIN_FEATURE_SHAPE:.0f} % and ≤ {MAX_FEATURE_TINT}")
    return True, f"feature head on real test faces: frame shape {shape:.1f} %, tint MAE {tint:.3f}"
