"""Trainer: exact resume, learning, refusal of foreign folders, NaN stop, every model through the CLI, and torchrun
and torch.compile each training as one eager process does."""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jdvae.vae import checkpoint as ckpt
from jdvae.vae import train as train_module
from jdvae.config import override, profile
from jdvae.errors import JdvaeError
from jdvae.vae.train import train

ROOT = Path(__file__).resolve().parent.parent


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


COLUMNS = ["epoch", "step", "loss", "recon", "kl_z", "kl_u", "nll_y", "val_recon", "val_bca", "lr", "images_per_s"]


@pytest.mark.parametrize("labels", ["glasses", "glasses,beard"])
@pytest.mark.parametrize("model", ["PA1", "PA2", "M2", "CCVAE2", "CCVAE"])
def test_cli_smoke_trains_every_model(model, labels, tmp_path, trains):
    """`jdvae train` writes the config it was given, the steps it was asked for, finite metrics of the weights it
    saved, and weights that load into that model and moved from its initial ones."""
    from jdvae.cli import main
    from jdvae.data.splits import load_split
    from jdvae.study.plan import make_config
    from jdvae.vae.model import build_model

    out = tmp_path / "run"
    assert main(["train", "--model", model, "--profile", "smoke", "--labels", labels, "--out", str(out), "--quiet",
                 "--set", "train.threads=1", "--set", "train.max_steps=3"]) == 0
    cfg = ckpt.read_config(out)
    assert cfg == make_config(model, "smoke", labels, overrides={"train.threads": 1, "train.max_steps": 3})
    assert (cfg.model.name, cfg.data.labels, cfg.train.max_steps, cfg.train.threads) == \
        (model, tuple(labels.split(",")), 3, 1)  # the command line's choices and overrides, as given
    assert json.loads((out / ckpt.DONE).read_text())["steps"] == 3

    with open(out / ckpt.METRICS) as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == COLUMNS and len(rows) == 1  # 3 steps of the 8 in the smoke epoch: one row, at the end
    row = {k: float(v) for k, v in rows[0].items()}
    assert all(math.isfinite(v) for v in row.values()), row
    assert (row["epoch"], row["step"]) == (1, 3) and row["lr"] == train_module.learning_rate(2, 3, cfg.train)
    assert row["recon"] > 0 and row["kl_z"] >= 0 and row["nll_y"] >= 0 and 0 <= row["val_bca"] <= 1

    trained, _ = ckpt.load_run(out)  # refuses weights of another model or config
    assert trained.cfg == cfg.model and trained.n_labels == len(cfg.data.labels)
    torch.manual_seed(cfg.train.seed)
    initial = build_model(cfg.model).state_dict()
    assert any(not torch.equal(initial[k], v) for k, v in trained.state_dict().items())
    val = load_split(cfg.data, "val", progress=False)
    again = train_module.validate(trained, torch.from_numpy(val.images[:1000]), torch.from_numpy(val.labels[:1000]), "cpu")
    assert again["val_recon"] == pytest.approx(row["val_recon"], rel=1e-4)  # the metrics are those of the saved weights
    assert again["val_bca"] == pytest.approx(row["val_bca"], abs=1e-6)


def noise_free_args(out, *sets):
    """`jdvae train` of a PA1 whose training step holds nothing random: every image labelled (no Gumbel sample is
    used) and, through tests/noise_free_train.py, no reparameterisation noise; 2 epochs of 2 steps."""
    sets = ("train.threads=1", "data.supervision=1.0", "data.n_train=64", "data.n_val=32", "data.n_test=32",
            "train.epochs=2", *sets)
    return ["train", "--model", "PA1", "--profile", "smoke", "--out", str(out), "--quiet", "--device", "cpu",
            *[arg for s in sets for arg in ("--set", s)]]


def distance(run, other, start) -> float:
    """|w_run - w_other| relative to |w_run - w_start| (norms over every weight): 0 for the same weights, about 1
    for as different as the training made them from `start`."""
    a, b = weights(run), weights(other)
    gap = sum(float(((a[k] - b[k]) ** 2).sum()) for k in a)
    moved = sum(float(((a[k] - start[k]) ** 2).sum()) for k in a)
    return math.sqrt(gap / moved)


def initial_weights(run):
    from jdvae.vae.model import build_model
    cfg = ckpt.read_config(run)
    torch.manual_seed(cfg.train.seed)
    return build_model(cfg.model).state_dict()


def metrics(run) -> list[dict]:
    with open(run / ckpt.METRICS) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_torchrun_with_two_processes_trains_as_one_process_does(tmp_path, monkeypatch, trains, launches):
    """Two CPU processes (gloo) of 16 images each, against one process of 32, on the same batches with the noise off:
    the same weights within float rounding, and the same validation after each epoch.

    Not compared, as they differ by design: the loss terms in metrics.csv, which rank 0 logs for its own half batch;
    and, with the noise on, every rank draws the same noise (each seeds torch with train.seed) where one process
    draws it for the whole batch."""
    import noise_free_train
    from jdvae.cli import main

    monkeypatch.setattr(noise_free_train.model, "reparameterize", noise_free_train.posterior_mean)
    assert main(noise_free_args(tmp_path / "one")) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "tests" / "noise_free_train.py"), *noise_free_args(tmp_path / "two")]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = tmp_path / "one", tmp_path / "two"
    assert json.loads((two / ckpt.DONE).read_text())["steps"] == json.loads((one / ckpt.DONE).read_text())["steps"] == 4
    assert distance(two, one, initial_weights(one)) < 5e-3  # measured 2e-4; with the noise on, about 1
    for a, b in zip(metrics(one), metrics(two), strict=True):
        assert (a["epoch"], a["step"], a["lr"]) == (b["epoch"], b["step"], b["lr"])
        assert a["val_recon"] == pytest.approx(b["val_recon"], rel=1e-4) and a["val_bca"] == b["val_bca"]


def test_compiled_training_trains_as_eager_does(tmp_path, monkeypatch, trains):
    """torch.compile (inductor) against eager on the same seed and batches with the noise off (compiled code draws
    its random numbers its own way): the same logged losses and validation, and the same weights within rounding."""
    import noise_free_train
    from jdvae.cli import main

    if not shutil.which(os.environ.get("CXX") or "g++"):
        pytest.skip("torch.compile's inductor needs a C++ compiler (g++, or $CXX) on the CPU; none is installed")
    monkeypatch.setattr(noise_free_train.model, "reparameterize", noise_free_train.posterior_mean)
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    assert main(noise_free_args(eager)) == 0
    try:
        assert main(noise_free_args(compiled, "train.compile=True", "train.compile_cpu=True")) == 0
    finally:
        torch.compiler.reset()
    assert distance(compiled, eager, initial_weights(eager)) < 2e-2  # measured 2e-3; with the noise on, about 1
    for a, b in zip(metrics(eager), metrics(compiled), strict=True):
        for key in ("loss", "recon", "kl_z", "nll_y", "val_recon"):
            assert b[key] == pytest.approx(a[key], rel=1e-4), (key, a, b)
