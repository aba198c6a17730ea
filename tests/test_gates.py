"""Gates, paired tests and intervals of claims.md and Table 1 (issues 11 and 18), on studies built by hand.

Each study holds Table 1 rows (for the gates) and per-pair outcomes (for every interval and test):
rates are 0/1 arrays whose first k pairs succeed, so two models' discordant pairs are known.
"""
import numpy as np
import pytest

from jdvae.report import gates
from jdvae.report import outcomes
from jdvae.report import stats
from jdvae.report.claims import FAILS, HOLDS, NA, UNCLEAR, claims, to_markdown, write_claims
from jdvae.report.outcomes import Outcomes
from jdvae.report.table import to_markdown as table_markdown

SR_PLUS = "PA1 and PA2 add glasses more often than CCVAE2, which beats M2 (SR(+))"
SR_MINUS = "PA1 and PA2 remove glasses in more than 94 % of cases (SR(−))"
BCA = "Every model classifies above 94 % balanced accuracy at supervision 0.2 (BCA)"
FAR = "CCVAE's reconstructions are far worse than the others'"
ADAIN = "Removing AdaIN degrades PA1's reconstructions"
TOKENS = "Removing the tokens lowers PA1's SR(+)"
TWO = "Glasses and beard can be manipulated separately (two-label PA1)"
RIGHT = "The glasses PA1 adds are the source image's glasses"
GOOD_FEATURES = {"shape_acc": 95.0, "colour_mae": 0.05, "tint_mae": 0.05}
P = 200
GATE = {"r_plus": 99.0, "r_minus": 99.0, "truth_add_read": 99.5, "truth_remove_read": 99.5}
BASE = {"sr_plus": 50.0, "sr_minus": 99.0, "bca": 97.0, "donor_match": 80.0, "region_add_closed": 0.2,
        "recon_mse": 0.014}


@pytest.fixture(autouse=True)
def fewer_replicates(monkeypatch):
    """500 bootstrap replicates instead of 2000: the verdicts here are far from their thresholds, or on them."""
    monkeypatch.setattr(stats, "REPS", 500)


def hits(rate, n=P):
    """0/1 outcomes of n pairs, the first round(rate n / 100) of them successes."""
    k = int(round(rate * n / 100))
    return np.r_[np.ones(k), np.zeros(n - k)]


def wobble(model, n):
    """Values of mean 1 in an order that depends on the model: errors that vary from pair to pair."""
    return np.random.default_rng(sum(map(ord, model))).permutation(np.tile([0.5, 1.5], n // 2))


def arrays(model, values, seed=0):
    """The per-pair outcomes of one run (names: outcomes.py)."""
    v = {**BASE, **GATE, **values}
    a = {"g": np.arange(P), "w": np.arange(P, 2 * P)}
    for k in ("sr_plus", "sr_minus", "r_plus", "r_minus", "truth_add_read", "truth_remove_read", "donor_match"):
        a[k] = hits(v[k])
    a["region_add_plain"] = np.ones(P)
    a["region_add_swap"] = (1 - v["region_add_closed"]) * wobble(model + "swap", P)
    a["recon_mse"] = v["recon_mse"] * wobble(model + str(seed), 2 * P)
    a["recon_ssim"] = 1 - 20 * a["recon_mse"]
    correct = hits(v["bca"], 100)
    a["bca_true"] = np.r_[np.ones(100), np.zeros(100)]
    a["bca_pred"] = np.r_[correct, 1 - correct]
    return a


def study(section="glasses", labels=("glasses",), seeds=(0,), test_bca=0.99, features=None, extra=(), **overrides):
    """SR(+) clearly ordered PA1/PA2 > CCVAE2 > M2 on 200 pairs; every gate passes; one seed unless told."""
    values = {"PA1": dict(sr_plus=80.0, region_add_closed=0.6), "PA2": dict(sr_plus=82.0),
              "CCVAE2": dict(sr_plus=55.0, region_add_closed=0.3), "M2": dict(sr_plus=25.0, region_add_closed=0.1),
              "CCVAE": dict(recon_mse=0.07), "PA1 (no tokens)": dict(sr_plus=60.0),
              "PA1 (no AdaIN)": dict(recon_mse=0.02)}
    for model, extra_values in overrides.items():
        values[model] = {**values[model], **extra_values} if extra_values is not None else None
    rows, runs, per_pair = [], [], {}
    models = [(m, v, ("glasses",), "glasses") for m, v in values.items() if v is not None] + list(extra)
    for model, v, labels_, _ in models:
        section_ = "+".join(labels_)
        for label in labels_:
            lv = v.get(label, v) if isinstance(v.get(label), dict) else v
            rows.append({"section": section_, "model": model, "label": label, "seeds": len(seeds), "pairs": P,
                         "runs": [], "notes": [], **BASE, **GATE, **lv})
        for seed in seeds:
            tag = f"run{len(runs)}"
            runs.append({"row": model, "labels": list(labels_), "seed": seed, "outcomes": tag})
            for label in labels_:
                lv = v.get(label, v) if isinstance(v.get(label), dict) else v
                per_pair.update({outcomes.key(tag, k, label): x for k, x in arrays(model, lv, seed).items()})
    report = {"rows": rows, "runs": runs, "pair_seed": 0, "skipped": [],
              "judge": {"arch": "resnet18", "report": {"test_bca": {"glasses": test_bca, "beard": test_bca},
                                                       "test_features": features or GOOD_FEATURES}},
              "lpips": {"available": False, "reason": "offline"}}
    return report, per_pair


def two_label(**beard):
    """A study with a two-label PA1 whose beard values are `beard` (glasses: the good ones)."""
    good = dict(sr_plus=80.0, sr_minus=99.0, donor_match=80.0, region_add_closed=0.5)
    return study(extra=[("PA1", {"glasses": good, "beard": {**good, **beard}}, ("glasses", "beard"), None)])


def verdict(study_, claim, profile="quick"):
    report, per_pair = study_
    return next(c for c in claims(report, profile, per_pair) if c["claim"] == claim)


def test_clearly_separated_ordering_holds_by_mcnemar():
    c = verdict(study(), SR_PLUS)
    assert c["verdict"] == HOLDS and "McNemar" in c["why"]
    assert "50 pairs only PA1 right, 0 only CCVAE2" in c["why"]  # 80 % against 55 % of the same 200 pairs
    assert verdict(study(), TOKENS)["verdict"] == HOLDS
    assert verdict(study(), SR_MINUS)["verdict"] == HOLDS  # 99 % of 200: the interval lies above 94


def test_two_points_apart_on_200_pairs_is_not_distinguishable():
    test = gates.order(Outcomes(*study(**{"PA1 (no tokens)": dict(sr_plus=78.0)})), "glasses", "glasses",
                       "PA1", "PA1 (no tokens)", "sr_plus")
    assert test.ok is None and "4 pairs only PA1 right, 0 only" in test.text and "p = 0.12" in test.text
    c = verdict(study(**{"PA1 (no tokens)": dict(sr_plus=78.0)}), TOKENS)
    assert c["verdict"] == UNCLEAR and "[" in c["measured"]


def test_clearly_reversed_ordering_does_not_hold():
    assert verdict(study(M2=dict(sr_plus=75.0)), SR_PLUS)["verdict"] == FAILS


def test_several_seeds_use_the_two_level_bootstrap():
    c = verdict(study(seeds=(0, 1, 2)), SR_PLUS)
    assert c["verdict"] == HOLDS and "3 seeds, two-level bootstrap" in c["why"] and "McNemar" not in c["why"]


def test_models_scored_on_different_pairs_are_not_compared():
    report, per_pair = study()
    per_pair[outcomes.key("run2", "g", "glasses")] = np.arange(P)[::-1].copy()  # CCVAE2's pairs differ
    c = verdict((report, per_pair), SR_PLUS)
    assert c["verdict"] == NA and "different pairs" in c["why"]


def test_threshold_within_its_interval_is_not_distinguishable():
    assert verdict(study(PA2=dict(sr_minus=95.0)), SR_MINUS)["verdict"] == UNCLEAR  # 95 % of 200 straddles 94
    assert verdict(study(PA2=dict(sr_minus=88.0)), SR_MINUS)["verdict"] == FAILS


def test_model_whose_reconstructions_read_without_glasses_is_not_measurable_naming_it():
    s = study(CCVAE2=dict(r_plus=40.0))
    c = verdict(s, SR_PLUS)
    assert c["verdict"] == NA and "CCVAE2" in c["why"] and "R(+) 40.00 %" in c["why"]
    assert verdict(s, TOKENS)["verdict"] == HOLDS  # CCVAE2 plays no part there


def test_judge_blind_to_true_counterfactuals_is_not_measurable():
    c = verdict(study(PA1=dict(truth_remove_read=80.0)), SR_MINUS)
    assert c["verdict"] == NA and "true removals 80.0 %" in c["why"]


def test_weak_judge_gate_is_kept():
    c = verdict(study(test_bca=0.85), SR_PLUS)
    assert c["verdict"] == NA and "BCA" in c["why"]


def test_smoke_profile_is_not_measurable_everywhere():
    report, per_pair = study()
    items = claims(report, "smoke", per_pair)
    assert items and all(c["verdict"] == NA for c in items)
    assert "plumbing" in to_markdown(items, report, "smoke")


def test_without_per_pair_outcomes_nothing_is_decided():
    report, _ = study()
    items = claims(report, "quick", None)
    assert {c["verdict"] for c in items} == {NA} and "evaluate again" in items[0]["why"]


def test_bca_has_an_interval_per_model_and_a_missing_model_is_not_measurable():
    c = verdict(study(), BCA)
    assert c["verdict"] == HOLDS and c["measured"].count("[") == 5
    assert verdict(study(M2=dict(bca=95.0)), BCA)["verdict"] == UNCLEAR  # 95 % on 200 images straddles 94
    c = verdict(study(CCVAE=None), BCA)
    assert c["verdict"] == NA and "CCVAE" in c["why"]


def test_far_worse_is_a_ratio_with_its_interval():
    c = verdict(study(), FAR)  # CCVAE 0.07 against at most 0.014: a ratio near 5
    assert c["verdict"] == HOLDS and "the worst of the others: 5." in c["measured"] and "ours" in c["threshold"]
    assert verdict(study(CCVAE=dict(recon_mse=0.0175)), FAR)["verdict"] == UNCLEAR  # ratio 1.25 on the line
    assert verdict(study(CCVAE=dict(recon_mse=0.015)), FAR)["verdict"] == FAILS
    assert verdict(study(PA2=None), FAR)["verdict"] == NA


def test_adain_removal_is_a_paired_ratio_of_per_image_errors():
    c = verdict(study(), ADAIN)  # 0.02 against 0.014
    assert c["verdict"] == HOLDS and "PA1 (no AdaIN) / PA1: 1.4" in c["measured"]
    assert verdict(study(**{"PA1 (no AdaIN)": dict(recon_mse=0.014)}), ADAIN)["verdict"] != HOLDS


def test_each_claim_says_whose_threshold_it_is():
    report, per_pair = study()
    items = claims(report, "quick", per_pair)
    assert all(c["threshold"].startswith(("ours", "the paper's")) for c in items)
    assert next(c for c in items if c["claim"] == SR_MINUS)["threshold"].startswith("ours: 94 %")
    assert next(c for c in items if c["claim"] == SR_PLUS)["threshold"].startswith("the paper's")
    assert "| threshold |" in to_markdown(items, report, "quick")


def test_claims_page_is_reproducible_byte_for_byte(tmp_path):
    report, per_pair = study(seeds=(0, 1))
    outcomes.save(tmp_path / outcomes.FILE, per_pair)
    first = write_claims(report, tmp_path / "claims.md")  # reads outcomes.npz beside it
    assert first == write_claims(report, tmp_path / "again.md") == (tmp_path / "claims.md").read_text()
    assert "not measurable" not in first.split("## How")[0].split("| claim |")[1].split("\n")[2]


def test_two_label_claim_needs_the_beards_donor_colour_and_region_error():
    assert verdict(two_label(), TWO)["verdict"] == HOLDS
    c = verdict(two_label(donor_match=30.0), TWO)
    assert c["verdict"] == FAILS and "beard: " in c["measured"] and "donor_match" in c["measured"]
    assert verdict(two_label(region_add_closed=-0.2), TWO)["verdict"] == FAILS
    assert verdict(two_label(sr_plus=53.0), TWO)["verdict"] == UNCLEAR
    assert verdict(study(), TWO)["verdict"] == NA


def test_right_glasses_claim_uses_paired_region_closed_shares_and_the_donors_colour():
    assert verdict(study(), RIGHT)["verdict"] == HOLDS  # 0.6 against 0.3 and 0.1
    assert verdict(study(CCVAE2=dict(region_add_closed=0.59)), RIGHT)["verdict"] == UNCLEAR
    c = verdict(study(PA1=dict(region_add_closed=0.05), M2=dict(region_add_closed=0.2)), RIGHT)
    assert c["verdict"] == FAILS and "closed" in c["why"]
    assert verdict(study(PA1=dict(donor_match=54.0)), RIGHT)["verdict"] == UNCLEAR  # 54 % of 200 pairs
    c = verdict(study(PA1=dict(donor_match=30.0)), RIGHT)
    assert c["verdict"] == FAILS and "donor's colour" in c["measured"]


def test_table_intervals_come_from_the_per_pair_outcomes():
    report, per_pair = study()
    results = [{**r, "run": r["outcomes"], "config": None, "metrics": {}, "notes": {}} for r in report["runs"]]
    store = Outcomes({"runs": results}, per_pair)
    est, _ = gates.interval(store, "glasses", "glasses", "PA1", "sr_plus")
    assert est[0] == pytest.approx(80.0) and est[1] < 80.0 < est[2] and est[3] == 1


def test_table_shows_validity_rates_and_intervals_and_gates_feature_transfer():
    rep, _ = study()
    for r in rep["rows"]:
        r.update({"sr_plus_ci_lo": r["sr_plus"] - 5, "sr_plus_ci_hi": r["sr_plus"] + 5,
                  "transfer_shape_acc": 50.0, "transfer_shape_acc_std": None, "donor_scored": 190})
    text = table_markdown(rep["rows"], rep)
    assert "R(+) %" in text and "R(−) %" in text and "80.00 [75.0, 85.0]" in text and "add closed" in text
    assert "shape acc %" in text and "donor pairs scored" in text and "| 190 |" in text
    three = {**rep["rows"][0], "seeds": 3, "sr_plus_std": 1.5}
    assert "| 80.00 ± 1.50 [75.0, 85.0] |" in table_markdown([three], rep)  # several seeds: mean ± std [interval]
    weak = {**rep, "judge": study(features={"shape_acc": 35.0, "colour_mae": 0.2, "tint_mae": 0.3})[0]["judge"]}
    text = table_markdown(rep["rows"], weak)
    assert "shape acc %" not in text and "feature-transfer columns omitted" in text and "35.0 %" in text


def test_a_rate_just_under_the_gate_prints_with_its_count_not_as_the_gate():
    from jdvae.report.gates import invalid

    row = {"r_plus": 100 * 1077 / 1197, "r_minus": 99.5, "pairs": 1197.0}
    why = invalid(row, "CCVAE2", "glasses")
    assert "R(+) 89.97 % (1077 of 1197 pairs)" in why and "R(−)" not in why
    assert invalid(dict(row, r_plus=100 * 1078 / 1197), "CCVAE2", "glasses") is None  # 90.06 % passes


def second_judge(study_, **reads):
    """The study read by a second judge: the same outcomes, except the rates `reads` gives per model
    (e.g. M2=dict(sr_plus=60.0)); the report lists both judges and each judge's rows."""
    report, per_pair = study_
    per_pair = dict(per_pair)
    for run in report["runs"]:
        for k in list(per_pair):
            tag, measure, label = k.split("|")
            if tag == run["outcomes"] and measure in outcomes.JUDGED:
                own = reads.get(run["row"], {})
                per_pair[outcomes.key(tag, f"{measure}@j1", label)] = hits(own[measure]) if measure in own \
                    else per_pair[k]
    judge = report["judge"]
    both = [{**judge, "config": {"seed": 0}}, {**judge, "config": {"seed": 1}}]
    rows_j1 = [{**r, **reads.get(r["model"], {})} for r in report["rows"]]
    return {**report, "judges": both, "rows_by_judge": [report["rows"], rows_j1]}, per_pair


def test_a_verdict_that_differs_between_the_judges_is_judge_dependent_with_both_readings(tmp_path):
    report, per_pair = second_judge(study(), M2=dict(sr_plus=70.0))  # judge 1 reads M2's additions above CCVAE2's
    assert verdict((report, per_pair), SR_PLUS)["verdict"] in (HOLDS, UNCLEAR, FAILS)
    assert claims(report, "quick", per_pair, judge=0)[0]["verdict"] == HOLDS
    assert claims(report, "quick", per_pair, judge=1)[0]["verdict"] == FAILS
    outcomes.save(tmp_path / outcomes.FILE, per_pair)
    text = write_claims(report, tmp_path / "claims.md")
    line = next(row for row in text.splitlines() if row.startswith(f"| {SR_PLUS}"))
    assert "| holds | does not hold | **judge-dependent** (pooled:" in line
    assert "| judge 0 | judge 1 | pooled |" in text and "judge 1 alone: **does not hold**" in text
    agreed = next(row for row in text.splitlines() if row.startswith(f"| {BCA}"))
    assert "judge-dependent" not in agreed and "| holds | holds | **holds** |" in agreed


def test_pooled_judges_widen_an_ordering_and_skip_mcnemar():
    report, per_pair = second_judge(study(), M2=dict(sr_plus=50.0))
    c = claims(report, "quick", per_pair)[0]
    assert "2 judges, three-level bootstrap" in c["why"] and "McNemar" not in c["why"]
    assert "McNemar" in claims(report, "quick", per_pair, judge=1)[0]["why"]  # one judge, one seed
    report1, per_pair1 = second_judge(study())  # judges agree: pooled intervals are the one judge's
    store, store0 = Outcomes(report1, per_pair1), Outcomes(report1, per_pair1, judge=0)
    assert gates.interval(store, "glasses", "glasses", "M2", "sr_plus")[0][:3] == \
        gates.interval(store0, "glasses", "glasses", "M2", "sr_plus")[0][:3]
