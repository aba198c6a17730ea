"""The bad-input catalogue of docs/reliability.md: one clear line, exit status 2, nothing lost."""
import json
import os
import pickle
import re
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
def trained(tmp_path_factory, trains):
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


def _notebook(folder, parameters: str):
    """A notebook whose cell tagged `parameters` holds `parameters`, with a plain code cell after it."""
    cells = [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": parameters, "outputs": []},
             {"cell_type": "code", "metadata": {}, "source": "seed = 'not a parameter'", "outputs": []}]
    path = folder / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_notebook_parameter_types_come_from_the_defaults(tmp_path):
    nb = _notebook(tmp_path, 'seed = 0  # a comment\nlr = 0.5\nadain = True\nname = "PA1"\nindex = -1\nextra = None\n')
    assert notebooks.parameters(nb) == {"seed": 0, "lr": 0.5, "adain": True, "name": "PA1", "index": -1, "extra": None}
    good = {"seed": 3, "lr": 1, "adain": False, "name": "M2", "index": 2, "extra": "anything"}
    check_parameters(good, nb)
    check_parameters({**good, "lr": 0.25, "extra": 3}, nb)
    for name, value, message in [("seed", "3", "parameter seed='3' should be int, not str"),
                                 ("seed", 2.0, "parameter seed=2.0 should be int, not float"),
                                 ("seed", True, "parameter seed=True should be int, not bool"),
                                 ("lr", "0.1", "parameter lr='0.1' should be float, not str"),
                                 ("lr", False, "parameter lr=False should be float, not bool"),
                                 ("adain", 1, "parameter adain=1 should be bool, not int"),
                                 ("name", 3, "parameter name=3 should be str, not int")]:
        with pytest.raises(JdvaeError, match=re.escape(message) + r"; pass it with papermill -p " + name):
            check_parameters({**good, name: value}, nb)


def test_a_parameters_cell_of_other_statements_is_refused(tmp_path):
    for source, line in [("seed = 0\nlr = 1 / 2\n", 2), ("import os\n", 1), ("a = b = 1\n", 1), ("seed = \n", 1)]:
        with pytest.raises(JdvaeError, match=f"parameters cell, line {line}: "):
            notebooks.parameters(_notebook(tmp_path, source))


def test_every_notebook_checks_the_parameters_it_declares():
    names = {getattr(notebooks, c): c for c in ("DATA", "JUDGE", "TRAIN", "TABLE", "FIG2", "FIG3", "EXPLORE")}
    assert sorted(names) == sorted(notebooks.ALL) == sorted(p.name for p in notebooks.FOLDER.glob("*.ipynb"))
    for name, const in names.items():
        defaults = notebooks.parameters(name)
        assert "profile" in defaults, name
        check_parameters(defaults, name)  # every default passes its own check
        code = [c for c in json.loads((notebooks.FOLDER / name).read_text())["cells"] if c["cell_type"] == "code"]
        calls = [line for c in code for line in "".join(c["source"]).splitlines() if "check_parameters(" in line]
        assert calls == [f"check_parameters(globals(), notebooks.{const})"], name


def test_papermill_rejects_wrong_type_before_training(tmp_path, launches):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "papermill", str(notebooks.FOLDER / notebooks.TRAIN), str(tmp_path / "nb.ipynb"),
           "-p", "profile", "smoke", "-p", "seed", "abc", "-p", "out", str(out), "--no-progress-bar"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode != 0
    assert "parameter seed='abc' should be int" in result.stderr + result.stdout
    assert not out.exists()


def test_the_notebooks_agree_on_their_defaults():
    """No notebook writes into paper_figures/ (the committed three-seed study) on its defaults; labels are spelt
    one way (comma-separated) and the device defaults to auto wherever a notebook takes them."""
    defaults = {name: notebooks.parameters(name) for name in notebooks.ALL}
    for name, values in defaults.items():
        assert values["out"].startswith("runs/quick/") and "paper_figures" not in values["out"], name
        assert "+" not in values.get("labels", "") + values.get("label", ""), name
    assert {values["device"] for values in defaults.values() if "device" in values} == {"auto"}
    assert sum("device" in values for values in defaults.values()) == len(notebooks.ALL) - 1  # all but 00_data
    assert defaults[notebooks.FIG3]["labels"] == "glasses,beard"


def test_the_explorer_text_says_what_to_look_for_not_one_seeds_reading():
    """Which u component does what changes with the seed: the text names none (no u_glasses[4] ...)."""
    cells = json.loads((notebooks.FOLDER / notebooks.EXPLORE).read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "What to look for" in text and not re.search(r"u_\w+\[\d+\]|z\[\d+\]", text)
