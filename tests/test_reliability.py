"""The bad-input catalogue of docs/reliability.md: one clear line, exit status 2, nothing lost."""
import os
import pickle
import shutil
import subprocess
import sys

import pytest

from jdvae.vae.checkpoint import load_run
from jdvae.cli import main
from jdvae.config import override, profile
from jdvae.errors import JdvaeError
from jdvae.study import notebooks
from jdvae.study.plan import check_parameters
from jdvae.vae.train import train


def cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def train_args(out, *extra):
    return ("train", "--model", "PA1", "--profile", "smoke", "--out", str(out), "--quiet",
            "--set", "train.threads=1", "--set", "train.max_steps=2", *extra)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "PA1"
    cfg = override(profile("smoke"), **{"train.threads": 1, "train.max_steps": 2})
    train(cfg, out, progress=False)
    return out


@pytest.mark.parametrize("extra, message", [
    (("--celeba-root", "/nonexistent/celeba-root"), "CelebA"),
    (("--labels", "smile"), "unknown label smile"),
    (("--set", "data.image_size=48"), "image size 48"),
    (("--set", "data.supervision=1.5"), "supervision rate 1.5"),
    (("--set", "data.supervision=0"), "supervision rate 0"),
    (("--set", "model.colour=3"), "unknown config field 'model.colour'"),
    (("--set", "train.lr=abc"), "config field train.lr expects a finite number (float), not 'abc'"),
    (("--set", "model.tokens=0"), "config field model.tokens expects True or False (bool), not 0"),
    (("--profile", "huge"), "unknown profile 'huge'"),
])
def test_bad_settings_give_one_line_and_exit_2(tmp_path, capsys, extra, message):
    code, err = cli(capsys, *train_args(tmp_path / "r"), *extra)
    assert code == 2
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "r" / "state.pt").exists()


def test_unknown_model(tmp_path, capsys):
    code, err = cli(capsys, "train", "--model", "VAE9", "--profile", "smoke", "--out", str(tmp_path / "r"))
    assert code == 2 and len(err) == 1 and "unknown model 'VAE9'" in err[0]


def test_output_folder_that_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, err = cli(capsys, *train_args(blocker / "run"))
    assert code == 2 and len(err) == 1 and "cannot be written" in err[0]
    assert blocker.read_text() == "not a folder"


def test_checkpoint_from_another_model_is_refused(trained, tmp_path):
    other = tmp_path / "M2"
    shutil.copytree(trained, other)
    cfg_text = (other / "config.json").read_text().replace('"name": "PA1"', '"name": "M2"')
    (other / "config.json").write_text(cfg_text)
    with pytest.raises(JdvaeError, match="another model or config"):
        load_run(other)


def test_truncated_weights_are_refused_and_kept(trained, tmp_path):
    run = tmp_path / "trunc"
    shutil.copytree(trained, run)
    data = (run / "model.safetensors").read_bytes()[:1000]
    (run / "model.safetensors").write_bytes(data)
    with pytest.raises(JdvaeError, match="truncated"):
        load_run(run)
    assert (run / "model.safetensors").read_bytes() == data


def test_truncated_state_is_refused_on_resume(trained, tmp_path, capsys):
    run = tmp_path / "trunc-state"
    shutil.copytree(trained, run)
    (run / "done.json").unlink()
    state = (run / "state.pt").read_bytes()[:5000]
    (run / "state.pt").write_bytes(state)
    code, err = cli(capsys, *train_args(run, "--resume"))
    assert code == 2 and len(err) == 1 and "truncated or corrupt" in err[0]
    assert (run / "state.pt").read_bytes() == state


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_that_would_run_code_is_refused(trained, tmp_path, capsys):
    run = tmp_path / "evil"
    shutil.copytree(trained, run)
    (run / "done.json").unlink()
    marker = tmp_path / "code-ran"
    with open(run / "state.pt", "wb") as f:
        pickle.dump({"step": _Payload(marker)}, f)
    evil = (run / "state.pt").read_bytes()
    code, err = cli(capsys, *train_args(run, "--resume"))
    assert code == 2 and len(err) == 1 and "would run code" in err[0]
    assert not marker.exists()
    assert (run / "state.pt").read_bytes() == evil


def test_notebook_parameter_of_wrong_type():
    with pytest.raises(JdvaeError, match="parameter seed='3' should be int"):
        check_parameters({"seed": "3"}, {"seed": int})
    with pytest.raises(JdvaeError, match="should be bool"):
        check_parameters({"adain": 1}, {"adain": bool})
    check_parameters({"seed": 3, "lr": 1, "name": "PA1"}, {"seed": int, "lr": float, "name": str})


def test_papermill_rejects_wrong_type_before_training(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "papermill", str(notebooks.FOLDER / notebooks.TRAIN), str(tmp_path / "nb.ipynb"),
           "-p", "profile", "smoke", "-p", "seed", "abc", "-p", "out", str(out), "--no-progress-bar"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode != 0
    assert "parameter seed='abc' should be int" in result.stderr + result.stdout
    assert not out.exists()
