"""Validity gates and intervals behind every verdict of claims.md (issue 11, sections 2 and 3).

- R(+) / R(−): shares of a model's plain reconstructions of the pair images that the judge reads
  as having / not having the label. Below MIN_RECON_READ the model cannot draw the label as
  the judge sees it, and its SR says more about the judge than about the swap.
- The judge's read of the true counterfactuals (SynthFaces): below MIN_TRUTH_READ the judge
  cannot see a perfect swap, so no SR it gives can be trusted.
- Standard errors: binomial over the pairs for rates, sqrt(p (1 − p) / n), or the stored
  per-pair standard error (`<metric>_se`) for other measures; with several seeds, combined with
  the variance of the seed mean, std² / (k − 1) for the population std over k seeds.
- Orderings: "a > b" holds when a − b exceeds twice the standard error of the difference,
  fails when b − a does, and is "not distinguishable" otherwise; thresholds use the interval
  mean ± 2 SE in the same way.
All rates are in percent, as in Table 1.
"""
from __future__ import annotations

import math

MIN_RECON_READ = 90.0  # percent: R(+) and R(−) below this make a model's SR unmeasurable
MIN_TRUTH_READ = 95.0  # percent: the judge must read the true counterfactuals at least this well
MIN_FEATURE_SHAPE = 80.0  # percent: the judge's feature head on real test faces, frame shape
MAX_FEATURE_TINT = 0.1  # mean absolute error of the tint read on real test faces
Z = 2.0  # half-width of the intervals, in standard errors
RATES = ("sr_minus", "sr_plus", "r_plus", "r_minus", "truth_add_read", "truth_remove_read", "donor_match")


def binomial_se(p_pct: float | None, n: int | float | None) -> float | None:
    """Standard error in percent of a share p (percent) measured on n pairs: 100 sqrt(p (1 − p) / n)."""
    if p_pct is None or not n:
        return None
    p = min(max(p_pct / 100.0, 0.0), 1.0)
    return 100.0 * math.sqrt(p * (1 - p) / n)


def standard_error(row: dict | None, metric: str) -> float | None:
    """SE of a Table 1 row's mean: the per-pair term (binomial for rates) combined with the spread over seeds."""
    if row is None or row.get(metric) is None:
        return None
    pair = binomial_se(row[metric], row.get("pairs")) if metric in RATES else row.get(f"{metric}_se")
    k, std = int(row.get("seeds") or 1), row.get(f"{metric}_std") or 0.0
    if pair is None and k < 2:
        return None
    return math.sqrt((pair or 0.0) ** 2 + (std ** 2 / (k - 1) if k > 1 else 0.0))


def interval(row: dict | None, metric: str) -> tuple[float, float] | None:
    """The row's mean ± 2 SE, or None when the mean or its SE is unknown."""
    se = standard_error(row, metric)
    return None if se is None else (row[metric] - Z * se, row[metric] + Z * se)


def compare(a: dict | None, b: dict | None, metric: str) -> tuple[bool | None, float | None, float | None]:
    """'a > b': (True when a − b > 2 SE, False when b − a > 2 SE, None otherwise; the difference; its SE)."""
    se_a, se_b = standard_error(a, metric), standard_error(b, metric)
    if se_a is None or se_b is None:
        return None, None, None
    diff, se = a[metric] - b[metric], math.sqrt(se_a ** 2 + se_b ** 2)
    return (True if diff > Z * se else False if -diff > Z * se else None), diff, se


def above(row: dict | None, metric: str, value: float) -> bool | None:
    """'row > value': True when the interval's lower end is above it, False when its upper end is below."""
    ci = interval(row, metric)
    return None if ci is None else True if ci[0] > value else False if ci[1] < value else None


def invalid(row: dict | None, model: str, label: str) -> str | None:
    """Why `model`'s SR for `label` is not measurable (R(±) < 90 %, truth read < 95 %), or None when it is."""
    if row is None:
        return f"{model} [{label}] was not evaluated"
    rates = {"R(+)": row.get("r_plus"), "R(−)": row.get("r_minus")}
    if None in rates.values():
        return f"{model} [{label}] has no validity rates R(±) (evaluate it again)"
    low = [f"{k} {v:.1f} %" for k, v in rates.items() if v < MIN_RECON_READ]
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
