"""Per-pair outcomes beside metrics.json (outcomes.npz), so that claims are paired tests.

One array per run, label and measure, named `run{i}|{measure}|{label}` where run{i} is the
`outcomes` key of the run in metrics.json. The measures (P pairs, N test images):
- g, w (P,) int: the test indices of each pair (I_g with the label, I_w without); two models
  are paired only on the same g and w.
- sr_minus, sr_plus, r_plus, r_minus, truth_add_read, truth_remove_read (P,) 0/1: the judge's
  verdict per pair; donor_match (P,) 0/1, NaN where the two donors look alike (not scored).
- region_{add,remove}_{swap,plain} (P,): region MSE of the swap / of the plain reconstruction
  to the true counterfactual (NaN for an empty region); their ratio of sums is `*_closed`.
- recon_mse, recon_ssim (2P,): per image of the pairs (I_g then I_w); lpips (2P,) on the first label.
- bca_true, bca_pred (N,) 0/1: the test labels and the model's own classifier's reading.
The JUDGED measures are read by every judge of the study: the first judge's array under the measure's
own name, judge j's (j >= 1) under `{measure}@j{j}`; the other measures need no judge.
"""
from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from typing import Mapping

import numpy as np

from jdvae.errors import JdvaeError
from jdvae.io import atomic_write_bytes

FILE = "outcomes.npz"
RATES = ("sr_minus", "sr_plus", "r_plus", "r_minus", "truth_add_read", "truth_remove_read", "donor_match")
JUDGED = ("sr_minus", "sr_plus", "r_plus", "r_minus", "truth_add_read", "truth_remove_read")
CLOSED = {"region_add_closed": ("region_add_swap", "region_add_plain"),
          "region_remove_closed": ("region_remove_swap", "region_remove_plain")}


def key(run: str, measure: str, label: str) -> str:
    """The name of one array in outcomes.npz."""
    return f"{run}|{measure}|{label}"


def by_judge(measure: str, judge: int) -> str:
    """The name under which judge `judge` (0: the first) stores a JUDGED measure."""
    return measure if judge == 0 else f"{measure}@j{judge}"


def judges_in(arrays: Mapping[str, np.ndarray]) -> int:
    """How many judges read the outcomes: 1 + the largest j of a `@j{j}` measure."""
    found = [int(k.split("|")[1].rsplit("@j", 1)[1]) for k in arrays if "@j" in k.split("|")[1]]
    return 1 + max(found, default=0)


def compact(values) -> np.ndarray:
    """int8 for 0/1 outcomes without NaN, int32 for indices, float32 otherwise."""
    a = np.asarray(values)
    if a.dtype.kind in "iub":
        return a.astype(np.int32 if a.size and (a.max() > 1 or a.min() < 0) else np.int8)
    return a.astype(np.float32)


def save(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write the arrays to a compressed .npz atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: compact(v) for k, v in sorted(arrays.items())})
    atomic_write_bytes(path, buf.getvalue())


def load(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an outcomes.npz."""
    try:
        with np.load(path) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise JdvaeError(f"cannot read the per-pair outcomes {path} ({e}); run `jdvae evaluate` again") from e


class Outcomes:
    """Per-seed arrays of a Table 1 row, looked up by (section, model, label, measure), as one judge reads them
    (`judge` = j) or as all of them do (None: a JUDGED measure comes as (J, P), one row per judge)."""

    def __init__(self, report: dict, arrays: Mapping[str, np.ndarray] | None, judge: int | None = None):
        self.arrays = dict(arrays or {})
        self.judge, self.judges = judge, judges_in(self.arrays)
        if judge is not None and not 0 <= judge < self.judges:
            raise JdvaeError(f"no judge {judge} in these outcomes (judges 0 to {self.judges - 1})")
        self.cache: dict = {}  # intervals already computed (gates.py): a page asks for some twice
        self.runs: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        for i, r in enumerate(report.get("runs", [])):
            if r.get("outcomes"):
                self.runs[("+".join(r["labels"]), r["row"])].append((int(r.get("seed") or 0), r["outcomes"]))

    def __bool__(self) -> bool:
        return bool(self.arrays)

    def seeds(self, section: str, model: str, label: str, measure: str) -> dict[int, np.ndarray]:
        """{training seed: array} of one row's measure; empty when it was not stored."""
        out = {}
        judges = [0] if measure not in JUDGED else range(self.judges) if self.judge is None else [self.judge]
        for seed, run in sorted(self.runs.get((section, model), [])):
            read = [self.arrays.get(key(run, by_judge(measure, j), label)) for j in judges]
            if any(a is None for a in read):
                continue
            out[seed] = read[0] if measure not in JUDGED or self.judge is not None else np.stack(read)
        return out

    def groups(self, section: str, label: str, specs: list[tuple[str, str]]) -> tuple[list[tuple], str]:
        """Per seed common to every (model, measure) of `specs`, the aligned arrays; and why none, if none.

        Models are paired only on the same pairs: their stored g and w must agree seed by seed."""
        per = [self.seeds(section, m, label, measure) for m, measure in specs]
        missing = sorted({m for (m, measure), p in zip(specs, per) if not p})
        if missing:
            return [], f"no per-pair outcomes of {', '.join(missing)} [{label}] (evaluate again)"
        common = sorted(set.intersection(*(set(p) for p in per)))
        if not common:
            return [], f"no training seed shared by {', '.join(sorted({m for m, _ in specs}))}"
        for seed in common:
            pairs = {m: (self.seeds(section, m, label, "g").get(seed), self.seeds(section, m, label, "w").get(seed))
                     for m, _ in specs}
            unstored = sorted(m for m, p in pairs.items() if p[0] is None or p[1] is None)
            if unstored:
                return [], f"no pairs of {', '.join(unstored)} [{label}] stored (seed {seed})"
            first = next(iter(pairs.values()))
            if any(not (np.array_equal(p[0], first[0]) and np.array_equal(p[1], first[1])) for p in pairs.values()):
                return [], f"the models were scored on different pairs (seed {seed}, [{label}]): not paired"
        return [tuple(p[s] for p in per) for s in common], ""
