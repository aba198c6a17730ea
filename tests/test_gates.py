"""Validity gates and intervals of claims.md and Table 1 (issue 11 section 2), on reports built by hand."""
import math

import pytest

from jdvae.evaluate import gates
from jdvae.evaluate.claims import FAILS, HOLDS, NA, UNCLEAR, claims, to_markdown
from jdvae.evaluate.table import to_markdown as table_markdown

SR_PLUS = "PA1 and PA2 add glasses more often than CCVAE2, which beats M2 (SR(+))"
SR_MINUS = "PA1 and PA2 remove glasses in more than 94 % of cases (SR(−))"
TOKENS = "Removing the tokens lowers PA1's SR(+)"
RIGHT = "The glasses PA1 adds are the source image's glasses"
GOOD_FEATURES = {"shape_acc": 95.0, "colour_mae": 0.05, "tint_mae": 0.05}


def row(model, section="glasses", label="glasses", seeds=1, pairs=200, **metrics):
    base = {"sr_plus": 50.0, "sr_minus": 97.0, "r_plus": 99.0, "r_minus": 99.0, "truth_add_read": 99.5,
            "truth_remove_read": 99.5, "bca": 96.0, "recon_mse": 0.05, "lpips": None,
            "region_add_closed": 0.2, "region_add_closed_se": 0.01, "region_add_mse": 0.1}
    r = {"section": section, "model": model, "label": label, "seeds": seeds, "pairs": pairs, "runs": [],
         "notes": [], **base, **metrics}
    for m in list(r):
        if m not in ("section", "model", "label", "seeds", "pairs", "runs", "notes") and not m.endswith("_std"):
            r.setdefault(f"{m}_std", 0.0 if seeds > 1 else None)
    return r


def report(*rows, test_bca=0.99, features=None):
    return {"rows": list(rows), "pair_seed": 0, "skipped": [],
            "judge": {"arch": "resnet18", "report": {"test_bca": {"glasses": test_bca},
                                                     "test_features": features or GOOD_FEATURES}},
            "lpips": {"available": False, "reason": "offline"}}


def good_study(**overrides):
    """SR(+) clearly ordered PA1/PA2 > CCVAE2 > M2 on 200 pairs; every gate passes."""
    values = {"PA1": dict(sr_plus=80.0, region_add_closed=0.6), "PA2": dict(sr_plus=82.0),
              "CCVAE2": dict(sr_plus=55.0, region_add_closed=0.3), "M2": dict(sr_plus=25.0, region_add_closed=0.1),
              "CCVAE": {}, "PA1 (no tokens)": dict(sr_plus=60.0)}
    for model, extra in overrides.items():
        values[model] = {**values[model], **extra}
    return report(*(row(m, **v) for m, v in values.items()))


def verdict(items, claim):
    return next(c for c in items if c["claim"] == claim)


def test_binomial_standard_error_and_seed_spread_in_closed_form():
    assert gates.binomial_se(50.0, 100) == pytest.approx(5.0)
    assert gates.standard_error(row("PA1", sr_plus=50.0, pairs=100), "sr_plus") == pytest.approx(5.0)
    r = row("PA1", seeds=3, sr_plus=50.0, pairs=100, sr_plus_std=math.sqrt(2 * 11.0))  # variance of the mean 11
    assert gates.standard_error(r, "sr_plus") == pytest.approx(6.0)
    assert gates.standard_error(row("PA1", region_add_closed_se=0.02), "region_add_closed") == 0.02


def test_clearly_separated_ordering_holds():
    items = claims(good_study())
    assert verdict(items, SR_PLUS)["verdict"] == HOLDS
    assert verdict(items, TOKENS)["verdict"] == HOLDS  # 80 vs 60 on 200 pairs: 2 SE is 8.6 points
    assert verdict(items, SR_MINUS)["verdict"] == HOLDS  # 97 ± 2.4 lies above 94


def test_two_points_apart_on_200_pairs_is_not_distinguishable():
    ok, diff, se = gates.compare(row("A", sr_plus=62.0), row("B", sr_plus=60.0), "sr_plus")
    assert ok is None and diff == pytest.approx(2.0) and 2 * se > 2.0
    items = claims(good_study(**{"PA1 (no tokens)": dict(sr_plus=78.0)}))
    c = verdict(items, TOKENS)
    assert c["verdict"] == UNCLEAR and "± " in c["measured"]


def test_clearly_reversed_ordering_does_not_hold():
    assert verdict(claims(good_study(M2=dict(sr_plus=75.0))), SR_PLUS)["verdict"] == FAILS


def test_threshold_within_its_interval_is_not_distinguishable():
    c = verdict(claims(good_study(PA2=dict(sr_minus=95.0))), SR_MINUS)  # 95 ± 3.1 straddles 94
    assert c["verdict"] == UNCLEAR


def test_model_whose_reconstructions_read_without_glasses_is_not_measurable_naming_it():
    items = claims(good_study(CCVAE2=dict(r_plus=40.0)))
    c = verdict(items, SR_PLUS)
    assert c["verdict"] == NA and "CCVAE2" in c["why"] and "R(+) 40.0 %" in c["why"]
    assert verdict(items, TOKENS)["verdict"] == HOLDS  # CCVAE2 plays no part there


def test_judge_blind_to_true_counterfactuals_is_not_measurable():
    c = verdict(claims(good_study(PA1=dict(truth_remove_read=80.0))), SR_MINUS)
    assert c["verdict"] == NA and "true removals 80.0 %" in c["why"]


def test_missing_validity_rates_are_not_measurable():
    c = verdict(claims(good_study(PA2=dict(r_minus=None))), SR_MINUS)
    assert c["verdict"] == NA and "PA2" in c["why"]


def test_weak_judge_gate_is_kept():
    c = verdict(claims({**good_study(), "judge": report(test_bca=0.85)["judge"]}), SR_PLUS)
    assert c["verdict"] == NA and "BCA" in c["why"]


def test_smoke_profile_is_not_measurable_everywhere():
    items = claims(good_study(), profile="smoke")
    assert items and all(c["verdict"] == NA for c in items)
    assert "plumbing" in to_markdown(items, good_study(), "smoke")


def test_right_glasses_claim_uses_the_region_closed_share():
    assert verdict(claims(good_study()), RIGHT)["verdict"] == HOLDS  # 0.6 vs 0.3, 0.1 with SE 0.01
    assert verdict(claims(good_study(CCVAE2=dict(region_add_closed=0.59))), RIGHT)["verdict"] == UNCLEAR
    c = verdict(claims(good_study(PA1=dict(region_add_closed=0.05), M2=dict(region_add_closed=0.2))), RIGHT)
    assert c["verdict"] == FAILS and "closes" in c["why"]


def test_right_glasses_claim_needs_the_donors_colour_beyond_chance():
    assert verdict(claims(good_study(PA1=dict(donor_match=80.0))), RIGHT)["verdict"] == HOLDS  # 80 ± 5.7 on 200
    assert verdict(claims(good_study(PA1=dict(donor_match=54.0))), RIGHT)["verdict"] == UNCLEAR  # 54 ± 7.0
    c = verdict(claims(good_study(PA1=dict(donor_match=30.0))), RIGHT)
    assert c["verdict"] == FAILS and "donor's colour" in c["measured"]


def test_table_shows_validity_rates_and_intervals_and_gates_feature_transfer():
    rep = good_study()
    for r in rep["rows"]:
        r.update({"sr_plus_ci_lo": r["sr_plus"] - 5, "sr_plus_ci_hi": r["sr_plus"] + 5,
                  "transfer_shape_acc": 50.0, "transfer_shape_acc_std": None})
    text = table_markdown(rep["rows"], rep)
    assert "R(+) %" in text and "R(−) %" in text and "80.00 [75.0, 85.0]" in text and "add closed" in text
    assert "shape acc %" in text
    weak = {**rep, "judge": report(features={"shape_acc": 35.0, "colour_mae": 0.2, "tint_mae": 0.3})["judge"]}
    text = table_markdown(rep["rows"], weak)
    assert "shape acc %" not in text and "feature-transfer columns omitted" in text and "35.0 %" in text
