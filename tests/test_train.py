"""Trainer: exact resume, learning, refusal of foreign folders, NaN stop, torchrun with two processes."""
import csv
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from jdvae.vae import checkpoint as ckpt
from jdvae.vae import train as train_module
from jdvae.config import override, profile
from jdvae.errors import JdvaeError
from jdvae.vae.train import train


def smoke(**changes):
    base = {"train.threads": 1, "data.n_train": 128, "data.n_val": 32, "data.n_test": 32}
    return override(profile("smoke"), **{**base, **changes})


def weights(run):
    return load_file(str(run / "model.safetensors"))


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path, trains):
    cfg = smoke(**{"train.epochs": 2})  # 4 steps per epoch, 8 in all
    train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "b", progress=False, stop_after=3)  # stops mid-epoch
    assert not (tmp_path / "b" / "done.json").exists()
    train(cfg, tmp_path / "b", resume=True, progress=False, stop_after=3)  # crosses the epoch boundary
    train(cfg, tmp_path / "b", resume=True, progress=False)
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    with open(tmp_path / "b" / "metrics.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1", "2"]


def test_ema_run_resumes_exactly_and_saves_the_average(tmp_path, trains):
    cfg = smoke(**{"train.epochs": 2, "train.ema": 0.9, "train.lr_schedule": "cosine", "train.warmup": 0.25})
    train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "b", progress=False, stop_after=5)
    train(cfg, tmp_path / "b", resume=True, progress=False)
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    state = ckpt.load_state(tmp_path / "a" / ckpt.STATE)
    raw, ema = state["model"], state["ema"]
    assert any(not torch.equal(raw[k], wa[k]) for k in wa)  # the saved model is the average, not the last step
    assert all(torch.equal(ema[k], wa[k]) for k in wa)


def test_more_steps_than_the_epochs_allow_says_where_the_run_stops(tmp_path, capsys, trains):
    train(smoke(**{"train.epochs": 1, "train.max_steps": 10}), tmp_path / "r", progress=False)  # 4 steps per epoch
    assert "train.max_steps=10 is more than train.epochs=1 allow (4 steps of 4); the run stops at 4" in capsys.readouterr().out
    assert json.loads((tmp_path / "r" / "done.json").read_text())["steps"] == 4


def test_lr_schedules_at_their_boundaries():
    from jdvae.config import TrainConfig
    step = TrainConfig(lr=1.0, lr_drop_at=0.8)
    assert train_module.learning_rate(79, 100, step) == 1.0 and train_module.learning_rate(80, 100, step) == 0.1
    cos = TrainConfig(lr=1.0, lr_schedule="cosine", warmup=0.1)
    assert train_module.learning_rate(0, 100, cos) == pytest.approx(0.1)
    assert train_module.learning_rate(10, 100, cos) == pytest.approx(1.0)
    assert train_module.learning_rate(55, 100, cos) == pytest.approx(0.5)
    assert train_module.learning_rate(100, 100, cos) == pytest.approx(0.0)


def test_loss_falls_when_overfitting_64_images(tmp_path, trains):
    cfg = smoke(**{"data.n_train": 64, "train.epochs": 60, "train.lr": 2e-3,
                   "train.lr_drop_at": 1.0, "data.supervision": 1.0})
    train(cfg, tmp_path / "r", progress=False)
    with open(tmp_path / "r" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    first, last = float(rows[0]["recon"]), float(rows[-1]["recon"])
    assert last < 0.5 * first


def test_refuses_a_folder_with_another_config_or_an_unfinished_run(tmp_path, trains):
    cfg = smoke()
    train(cfg, tmp_path / "r", progress=False, stop_after=2)
    with pytest.raises(JdvaeError, match="another config.*train.seed"):
        train(override(cfg, **{"train.seed": 5}), tmp_path / "r", progress=False)
    with pytest.raises(JdvaeError, match="--resume"):
        train(cfg, tmp_path / "r", progress=False)


def test_nan_loss_stops_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, trains):
    cfg = smoke(**{"train.epochs": 2})
    train(cfg, tmp_path / "r", progress=False, stop_after=4)  # one full epoch, checkpointed
    before = (tmp_path / "r" / "state.pt").read_bytes()
    real = train_module.loss_for

    def poisoned(objective):
        fn = real(objective)

        def loss(*args, **kwargs):
            total, terms = fn(*args, **kwargs)
            return total * float("nan"), {**terms, "loss": float("nan")}
        return loss

    monkeypatch.setattr(train_module, "loss_for", poisoned)
    with pytest.raises(JdvaeError, match="loss became nan.*last good checkpoint"):
        train(cfg, tmp_path / "r", resume=True, progress=False)
    assert (tmp_path / "r" / "state.pt").read_bytes() == before


@pytest.mark.parametrize("labels", ["glasses", "glasses,beard"])
@pytest.mark.parametrize("model", ["PA1", "PA2", "M2", "CCVAE2", "CCVAE"])
def test_cli_smoke_trains_every_model(model, labels, tmp_path, trains):
    from jdvae.cli import main
    out = tmp_path / "run"
    assert main(["train", "--model", model, "--profile", "smoke", "--labels", labels, "--out", str(out), "--quiet",
                 "--set", "train.threads=1", "--set", "train.max_steps=3"]) == 0
    assert (out / "done.json").exists() and (out / "model.safetensors").exists()


def test_torchrun_two_cpu_processes(tmp_path, launches):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "jdvae", "train", "--model", "PA1", "--profile", "smoke", "--out", str(out), "--quiet",
           "--device", "cpu", "--set", "train.threads=1", "--set", "train.max_steps=4"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "done.json").exists()


def test_compiled_training_step_runs(tmp_path, trains):
    cfg = smoke(**{"train.compile": True, "train.max_steps": 2})
    train(cfg, tmp_path / "c", progress=False)
    assert (tmp_path / "c" / "done.json").exists()
