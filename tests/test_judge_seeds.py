"""`jdvae compare-judges`: the SR gaps between two judges' tables, by hand-made tables with known gaps."""
import json

import pytest

from jdvae.cli import main
from jdvae.report.compare import report, sr_gaps


def table(values, runs=("runs/quick/PA1-glasses-s0",), pair_seed=0, pairs=572):
    rows = [{"section": s, "label": l, "model": m, "sr_minus": a, "sr_plus": b, "pairs": pairs}
            for (s, l, m), (a, b) in values.items()]
    return {"rows": rows, "runs": [{"run": r, "metrics": {"sr_minus/glasses": sum(v[0] for v in values.values())}} for r in runs], "pair_seed": pair_seed}


A = {("glasses", "glasses", "PA1"): (99.0, 95.0), ("glasses+beard", "beard", "PA1"): (80.0, None)}
B = {("glasses", "glasses", "PA1"): (98.5, 92.5), ("glasses+beard", "beard", "PA1"): (81.0, 70.0)}


def test_gaps_pair_the_same_rows_and_skip_a_missing_rate():
    gaps = {(g["label"], g["rate"]): g["gap"] for g in sr_gaps(table(A), table(B))}
    assert gaps == pytest.approx({("beard", "sr_minus"): 1.0, ("glasses", "sr_minus"): 0.5,
                                  ("glasses", "sr_plus"): 2.5})


def test_tables_of_other_runs_or_pairs_are_refused(tmp_path, capsys):
    for other in (table(B, pair_seed=1), table(B, runs=("runs/x/PA1-glasses-s0",)), table(B, pairs=1190)):
        (tmp_path / "a.json").write_text(json.dumps(table(A)))
        (tmp_path / "b.json").write_text(json.dumps(other))
        assert main(["compare-judges", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
        assert "different runs or pairs" in capsys.readouterr().err


def test_the_limit_decides_the_exit_status_and_the_table_names_the_worst(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text(json.dumps(table(A)))
    (tmp_path / "b.json").write_text(json.dumps(table(B)))
    assert main(["compare-judges", str(tmp_path / "a"), str(tmp_path / "b.json")]) == 1  # 2.5 > 2
    out = capsys.readouterr().out
    assert "Largest gap 2.5 points (PA1, glasses, sr_plus): over" in out and "| 2.5 **over** |" in out
    assert main(["compare-judges", str(tmp_path / "a"), str(tmp_path / "b.json"), "--limit", "3",
                 "--out", str(tmp_path / "gaps.md")]) == 0
    assert "within the 3-point limit" in (tmp_path / "gaps.md").read_text()
    text, ok = report(tmp_path / "a", tmp_path / "b.json", limit=2.5)
    assert ok  # a gap equal to the limit is within it


def test_a_missing_table_is_one_line(tmp_path, capsys):
    assert main(["compare-judges", str(tmp_path / "none"), str(tmp_path / "b.json")]) == 2
    assert "metrics.json" in capsys.readouterr().err


def test_verdicts_that_the_judge_changes_are_listed(tmp_path, capsys, monkeypatch):
    """Two judges of one study: B reads M2's additions as often as CCVAE2's, so the SR(+) ordering changes."""
    from jdvae.report import outcomes
    from jdvae.report import stats
    from test_gates import SR_PLUS, study

    monkeypatch.setattr(stats, "REPS", 500)

    for name, m2 in (("a", 25.0), ("b", 55.0)):
        made, per_pair = study(M2=dict(sr_plus=m2))
        made["runs"] = [{**r, "run": f"runs/quick/{r['row']}-s{r['seed']}"} for r in made["runs"]]
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(made))
        outcomes.save(tmp_path / name / outcomes.FILE, per_pair)
    text, ok = report(tmp_path / "a", tmp_path / "b")
    assert not ok  # M2's SR(+) is 30 points apart
    assert "Verdicts: 7 of 8 claims the same under both judges." in text
    changed = [line for line in text.splitlines() if line.startswith(f"| {SR_PLUS} |")]
    assert len(changed) == 1 and "holds" in changed[0].split("|")[2] and "holds" not in changed[0].split("|")[3]
    assert main(["compare-judges", str(tmp_path / "a"), str(tmp_path / "a")]) == 0
    assert "8 of 8 claims the same" in capsys.readouterr().out


def test_tables_without_outcomes_compare_rates_only(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(table(A)))
    (tmp_path / "b.json").write_text(json.dumps(table(B)))
    assert "Verdicts not compared: outcomes.npz is missing" in report(tmp_path / "a.json", tmp_path / "b.json")[0]
