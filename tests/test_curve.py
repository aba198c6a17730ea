"""`jdvae curve`: snapshots every N steps, each scored on the same test pairs, tables and figures written."""
import json

import pytest

from jdvae.cli import main
from jdvae.study.curve import snapshot_path
from jdvae.vae.train import steps_per_epoch, total_steps
from jdvae.evaluate.judge.model import judge_config
from jdvae.evaluate.judge.train import train_judge
from jdvae.study.plan import make_config


@pytest.fixture
def judge_dir(tmp_path, monkeypatch, trains):
    monkeypatch.setenv("JDVAE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    train_judge(judge_config("smoke", max_images=64, batch_size=32), tmp_path / "judge", progress=False)
    return tmp_path / "judge"


def test_total_steps_follows_epochs_batch_world_and_max_steps():
    cfg = make_config("PA1", "smoke", overrides={"train.max_steps": 5})
    assert total_steps(cfg, 256) == 5
    assert total_steps(make_config("PA1", "smoke"), 256) == 256 // 32  # one epoch of the smoke data
    assert total_steps(make_config("PA1", "smoke"), 250) == 7  # the last short batch is dropped
    assert steps_per_epoch(250, 32, world=2) == 250 // 32  # two processes of 16 images each step
    assert steps_per_epoch(250, 30, world=4) == 250 // 28  # 7 images each: 28 a step, not 30
    assert total_steps(make_config("PA1", "smoke", overrides={"train.epochs": 3}), 100) == 3 * (100 // 32)


def test_curve_command_snapshots_scores_and_draws(tmp_path, judge_dir, capsys, trains):
    out = tmp_path / "curves"
    argv = ["curve", "--model", "PA1,CCVAE2", "--profile", "smoke", "--every", "3", "--set", "train.max_steps=5",
            "--out", str(out), "--judge", str(judge_dir), "--n-images", "64", "--quiet"]
    assert main(argv) == 0
    for name in ("PA1", "CCVAE2"):
        assert snapshot_path(out / name, 3).is_file() and snapshot_path(out / name, 5).is_file()
        assert (out / f"{name}_swaps.png").stat().st_size > 0
    rows = json.loads((out / "curve.json").read_text())
    assert [(r["run"], r["step"]) for r in rows] == [("PA1", 3), ("PA1", 5), ("CCVAE2", 3), ("CCVAE2", 5)]
    assert all(0 <= r["r_plus/glasses"] <= 100 and r["recon_mse/glasses"] > 0 for r in rows)
    assert (out / "curve.png").stat().st_size > 0 and "| PA1 | 5 |" in (out / "curve.md").read_text()
    # the snapshots differ, so their scores do: each row reads its own weights
    assert rows[0]["recon_mse/glasses"] != rows[1]["recon_mse/glasses"]
    # a second call for one model keeps the other's rows and retrains nothing
    before = snapshot_path(out / "PA1", 5).stat().st_mtime_ns
    assert main([*argv[:2], "PA1", *argv[3:]]) == 0
    assert snapshot_path(out / "PA1", 5).stat().st_mtime_ns == before
    assert {r["run"] for r in json.loads((out / "curve.json").read_text())} == {"PA1", "CCVAE2"}
    capsys.readouterr()


def test_every_must_be_positive(tmp_path, capsys):
    assert main(["curve", "--profile", "smoke", "--every", "0", "--out", str(tmp_path)]) == 2
    assert "--every 0 must be at least 1" in capsys.readouterr().err
