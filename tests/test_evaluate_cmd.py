"""`jdvae evaluate` end to end on smoke-trained runs: all three files, one row per model."""
import csv
import json

import numpy as np
import pytest

from jdvae.cli import main
from jdvae.config import MODELS, override, profile
from jdvae.report import outcomes
from jdvae.report.claims import write_claims
from jdvae.report.table import row_name


def test_row_names_label_the_ablations():
    cfg = profile("smoke")
    assert row_name(cfg) == "PA1"
    assert row_name(override(cfg, **{"model.adain": False})) == "PA1 (no AdaIN)"
    assert row_name(override(cfg, **{"model.tokens": False})) == "PA1 (no tokens)"


def test_evaluate_smoke_runs_writes_table_metrics_and_a_row_per_model(tmp_path, monkeypatch, trains):
    import torch
    import torchvision

    from jdvae.vae.train import train

    # LPIPS wiring only: an untrained AlexNet file stands in for the ImageNet one (never a reported number).
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), tmp_path / "alexnet.pth")
    monkeypatch.setenv("JDVAE_ALEXNET_WEIGHTS", str(tmp_path / "alexnet.pth"))

    runs = tmp_path / "runs"
    for name in MODELS:
        cfg = override(profile("smoke"), **{"model.name": name, "train.max_steps": 2})
        train(cfg, runs / name, device="cpu", progress=False)
    (runs / "unfinished").mkdir()
    (runs / "unfinished" / "config.json").write_text(profile("smoke").to_json())
    out = tmp_path / "table"
    assert main(["evaluate", "--runs", str(runs), "--out", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "outcomes.npz", "table1.csv", "table1.md"]
    rows = list(csv.DictReader((out / "table1.csv").open()))
    assert sorted(r["model"] for r in rows) == sorted(MODELS)
    assert all(r["sr_minus"] != "" and r["bca"] != "" and float(r["lpips"]) > 0 for r in rows)
    report = json.loads((out / "metrics.json").read_text())
    assert report["judge"]["arch"] == "resnet18" and report["pair_seed"] == 0
    assert {"torch", "lpips", "torchvision"} <= set(report["versions"])
    assert len(report["runs"]) == len(MODELS) and len(report["skipped"]) == 1
    assert all(r["config"]["profile"] == "smoke" for r in report["runs"])
    per_pair = outcomes.load(out / report["outcomes_file"])  # every run's per-pair outcomes, paired by g and w
    for r in report["runs"]:
        sr_plus = per_pair[outcomes.key(r["outcomes"], "sr_plus", "glasses")]
        assert set(np.unique(sr_plus)) <= {0, 1} and len(sr_plus) == r["metrics"]["pairs/glasses"]
        assert 100 * sr_plus.mean() == pytest.approx(r["metrics"]["sr_plus/glasses"])
        assert len(per_pair[outcomes.key(r["outcomes"], "recon_mse", "glasses")]) == 2 * len(sr_plus)
    assert all(r["sr_plus_ci_lo"] <= r["sr_plus"] <= r["sr_plus_ci_hi"] for r in report["rows"])
    text = write_claims(report, out / "claims.md", profile="smoke")
    assert "| threshold |" in text and text == write_claims(report, out / "claims.md", profile="smoke")
    md = (out / "table1.md").read_text()
    assert "| PA1 | 1 |" in md and "59.85" in md  # ours beside the paper's value
    assert (runs / "judge" / "judge.safetensors").is_file()  # trained because it was missing
    out2 = tmp_path / "table2"  # two worker processes give the same table
    assert main(["evaluate", "--runs", str(runs), "--out", str(out2), "--no-progress", "--workers", "2"]) == 0
    again = json.loads((out2 / "metrics.json").read_text())
    assert [r["run"] for r in again["runs"]] == [r["run"] for r in report["runs"]]
    for a, b in zip(report["runs"], again["runs"]):
        assert {k: v for k, v in a["metrics"].items() if "sr_" in k or "r_plus" in k} == \
               {k: v for k, v in b["metrics"].items() if "sr_" in k or "r_plus" in k}
        assert a["metrics"]["recon_mse/glasses"] == pytest.approx(b["metrics"]["recon_mse/glasses"], rel=1e-4)
