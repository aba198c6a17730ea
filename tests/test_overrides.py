"""--set FIELD=VALUE: every value checked against its field's declared type, on every path (train, reproduce,
notebooks); the study's overrides reach every training and the judge's data. Nothing here trains."""
import json
from pathlib import Path
from dataclasses import replace

import pytest

from jdvae.cli import build_parser, main
from jdvae.commands.train import build_config
from jdvae.config import check_value, override, profile
from jdvae.errors import JdvaeError
from jdvae.evaluate.judge.store import CONFIG_FILE
from jdvae.evaluate.judge.model import judge_config
from jdvae.study.plan import format_overrides, make_config, parse_overrides, parse_sets, run_name, study
from jdvae.evaluate.judge.store import judge_differences
from jdvae.study.reproduce import check_reusable


def cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines()


def train_args(out, *sets):
    return ["train", "--model", "PA1", "--profile", "smoke", "--out", str(out), "--quiet",
            *[arg for s in sets for arg in ("--set", s)]]


BAD = [  # (--set text, words the one line must hold)
    ("train.lr=abc", ("train.lr", "'abc'", "float", "e.g. train.lr=")),
    ("train.lr=[1]", ("train.lr", "[1]", "float")),
    ("train.lr=None", ("train.lr", "None", "float")),
    ("train.epochs=2.5", ("train.epochs", "2.5", "int", "e.g. train.epochs=")),
    ("train.epochs=True", ("train.epochs", "True", "int")),
    ("train.batch_size=thirty", ("train.batch_size", "'thirty'", "int")),
    ("train.max_steps=abc", ("train.max_steps", "int", "or None")),
    ("train.threads=2.0", ("train.threads", "int", "or None")),
    ("train.compile=1", ("train.compile", "True or False", "e.g. train.compile=")),
    ("model.adain=yes", ("model.adain", "'yes'", "True or False")),
    ("model.width=wide", ("model.width", "'wide'", "float", "e.g. model.width=")),
    ("model.z_dim=(1, 2)", ("model.z_dim", "(1, 2)", "int")),
    ("data.labels=3", ("data.labels", "tuple of str", "e.g. data.labels=")),
    ("data.labels=['glasses', 3]", ("data.labels", "tuple of str")),
    ("data.supervision=high", ("data.supervision", "'high'", "float")),
    ("data.celeba_balance=maybe", ("data.celeba_balance", "True or False")),
    ("data.n_train=1e3", ("data.n_train", "1000.0", "int")),
    ("nothing=1", ("unknown config field 'nothing'",)),
    ("data=3", ("unknown config field 'data'",)),
    ("train.lr", ("not FIELD=VALUE",)),
    ("=3", ("not FIELD=VALUE",)),
    ("optim.lr=1", ("unknown config section 'optim'",)),
]


@pytest.mark.parametrize("setting, words", BAD, ids=[b[0] for b in BAD])
def test_bad_set_value_is_one_line_and_exit_2(tmp_path, capsys, setting, words):
    code, err = cli(capsys, *train_args(tmp_path / "run", setting))
    assert code == 2
    assert len(err) == 1 and err[0].startswith("jdvae train: error: "), err
    assert "Traceback" not in err[0]
    for word in words:
        assert word in err[0], (word, err[0])
    assert not (tmp_path / "run").exists()


def test_value_of_the_right_type_that_fails_validation_is_still_one_line(tmp_path, capsys):
    code, err = cli(capsys, *train_args(tmp_path / "run", "data.supervision=2"))
    assert code == 2 and len(err) == 1 and "supervision rate 2" in err[0]


@pytest.mark.parametrize("setting, words", [
    ("train.lr=-1", ("train.lr = -1.0 must be positive", "--set train.lr=")),
    ("train.epochs=0", ("train.epochs = 0 must be at least 1",)),
    ("train.lr_drop_at=1.5", ("train.lr_drop_at = 1.5 must be between 0 and 1",)),
    ("train.tau=0", ("train.tau = 0.0 must be positive",)),
    ("train.max_steps=0", ("train.max_steps = 0 must be at least 1",)),
    ("train.threads=0", ("train.threads = 0",)),
    ("model.u_dim=0", ("model.u_dim = 0 must be at least 1",)),
])
def test_out_of_range_training_settings_are_one_line(tmp_path, capsys, setting, words):
    code, err = cli(capsys, *train_args(tmp_path / "run", setting))
    assert code == 2 and len(err) == 1, err
    for word in words:
        assert word in err[0], (word, err[0])
    assert not (tmp_path / "run").exists()


def parsed(*sets):
    return build_config(build_parser().parse_args(train_args("unused", *sets)))  # the config only; no training


def test_good_values_are_converted_to_the_field_type():
    cfg = parsed("train.lr=1", "train.epochs=3", "train.max_steps=None", "train.compile=true",
                 "model.adain=False", "data.labels=glasses,beard", "data.celeba_root=2024", "model.width=0.25",
                 "train.threads=2", "data.supervision=1e-1")
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.train.epochs == 3 and cfg.train.max_steps is None and cfg.train.threads == 2
    assert cfg.train.compile is True and cfg.model.adain is False
    assert cfg.data.labels == ("glasses", "beard") and cfg.model.n_labels == 2
    assert cfg.data.celeba_root == "2024"  # a text field keeps the text as typed
    assert cfg.model.width == 0.25 and cfg.data.supervision == 0.1


def test_tuple_field_accepts_a_tuple_literal_or_a_list():
    assert parsed("data.labels=('beard', 'glasses')").data.labels == ("beard", "glasses")
    cfg = override(profile("smoke"), **{"data.labels": ["glasses", "beard"], "model.n_labels": 2})
    assert cfg.data.labels == ("glasses", "beard")


def test_override_checks_types_on_the_python_path_too():
    base = profile("smoke")
    with pytest.raises(JdvaeError, match=r"train.lr expects a finite number \(float\), not 'abc'"):
        override(base, **{"train.lr": "abc"})
    with pytest.raises(JdvaeError, match="not nan"):
        override(base, **{"train.lr": float("nan")})
    with pytest.raises(JdvaeError, match="unknown config field 'foo'"):
        override(base, foo=1)
    assert override(base, **{"train.max_steps": None}).train.max_steps is None
    assert check_value("profile", "quick") == "quick"


def test_notebook_overrides_text_json_and_pairs_agree():
    pairs = parse_overrides("data.seed=3; train.lr=0.001;data.labels=glasses,beard")
    assert pairs == parse_sets(["data.seed=3", "train.lr=0.001", "data.labels=glasses,beard"])
    assert parse_overrides(format_overrides(pairs)) == pairs
    assert parse_overrides("") == {} and format_overrides({}) == ""
    with pytest.raises(JdvaeError, match="not a JSON object"):
        parse_overrides("{data.seed: 3}")


def test_reproduce_bad_value_fails_at_once_in_one_line(tmp_path, capsys):
    runs = tmp_path / "runs"
    for setting, words in [("data.supervision=abc", "data.supervision expects a finite number"),
                           ("data.supervision=0", "supervision rate 0"),
                           ("model.name=PA2", "model.name cannot be overridden"),
                           ("data.seed", "not FIELD=VALUE")]:
        code, err = cli(capsys, "reproduce", "--profile", "smoke", "--runs", str(runs),
                        "--figures", str(tmp_path / "fig"), "--set", setting)
        assert code == 2 and len(err) == 1 and err[0].startswith("jdvae reproduce: error: "), err
        assert words in err[0], err[0]
    assert not runs.exists() and not (tmp_path / "fig").exists()  # nothing ran, nothing was created


def test_study_overrides_reach_every_training_and_the_judge_data():
    overrides = parse_sets(["data.supervision=0.1", "data.seed=3", "train.lr=0.002"])
    configs = study("smoke", seeds=2, overrides=overrides)
    assert len(configs) == 2 * 8  # seven one-label runs and the two-label PA1, each on both seeds
    assert sorted(c.train.seed for c in configs if c.data.labels == ("glasses", "beard")) == [0, 1]
    for cfg in configs:
        assert (cfg.data.supervision, cfg.data.seed, cfg.train.lr) == (0.1, 3, 0.002)
    plain = study("smoke", seeds=2)
    assert [run_name(c) for c in configs] == [run_name(c) for c in plain]  # same runs, other setting
    # the judge notebook: make_config from the overrides text reproduce passes, then judge_config on its data
    text = format_overrides(overrides)
    judge_data = judge_config("smoke", make_config("PA1", "smoke", overrides=parse_overrides(text)).data).data
    assert (judge_data.supervision, judge_data.seed) == (0.1, 3)
    for cfg in configs:
        assert replace(cfg.data, labels=judge_data.labels) == judge_data


def test_a_profile_setting_for_one_model_reaches_that_model_only_and_yields_to_set():
    quick = {run_name(c): c.train.lr for c in study("quick")}
    assert quick.pop("CCVAE-glasses-s0") == 1e-3
    assert set(quick.values()) == {profile("quick").train.lr} and profile("quick").train.lr != 1e-3
    assert {c.train.lr for c in study("smoke")} == {profile("smoke").train.lr}  # no setting for this profile
    assert make_config("CCVAE", "quick", overrides={"train.lr": 5e-4}).train.lr == 5e-4
    args = build_parser().parse_args(["train", "--model", "CCVAE", "--out", "x"])
    assert build_config(args).train.lr == 1e-3  # `jdvae train` builds the study's config


def test_runs_and_judge_from_another_setting_are_refused_not_reused(tmp_path):
    old = study("smoke")
    new = study("smoke", overrides={"data.seed": 3})
    runs = tmp_path / "runs"
    check_reusable(runs, new, "smoke")  # nothing there yet
    run = runs / run_name(old[0])
    run.mkdir(parents=True)
    (run / "config.json").write_text(override(old[0], **{"train.threads": 1}).to_json())
    check_reusable(runs, old, "smoke")  # the same setting resumes (threads do not count)
    with pytest.raises(JdvaeError, match=r"other settings.*data.seed: 0 != 3.*own --runs"):
        check_reusable(runs, new, "smoke")
    run.rename(tmp_path / "moved")
    (runs / "judge").mkdir()
    judge = {"config": judge_config("smoke", old[0].data).to_dict(), "feature_head": True}
    (runs / "judge" / CONFIG_FILE).write_text(json.dumps(judge))
    (runs / "judge" / "judge.safetensors").write_bytes(b"")  # present: only the config is compared
    check_reusable(runs, old, "smoke")
    assert judge_differences(runs / "judge", "smoke", old[0]) == []  # reused as it is
    with pytest.raises(JdvaeError, match=r"judge \(data.seed: 0 -> 3\)"):
        check_reusable(runs, new, "smoke")
    judge["config"]["epochs"] += 1  # same data, another budget: not refused, but retrained by the judge step
    (runs / "judge" / CONFIG_FILE).write_text(json.dumps(judge))
    check_reusable(runs, old, "smoke")
    assert judge_differences(runs / "judge", "smoke", old[0])[0].startswith("epochs: ")


def test_reproduce_refuses_a_stale_run_folder_before_any_notebook(tmp_path, capsys):
    runs = tmp_path / "runs"
    old = study("smoke")[0]
    (runs / run_name(old)).mkdir(parents=True)
    (runs / run_name(old) / "config.json").write_text(old.to_json())
    code, err = cli(capsys, "reproduce", "--profile", "smoke", "--runs", str(runs), "--figures",
                    str(tmp_path / "fig"), "--set", "data.seed=3")
    assert code == 2 and len(err) == 1 and "data.seed: 0 != 3" in err[0], err
    assert not (runs / "notebooks").exists()


def test_a_notebook_started_in_notebooks_works_in_the_project_root(monkeypatch, tmp_path, capsys):
    from jdvae.study.plan import PROJECT_ROOT, work_in_project_root

    monkeypatch.chdir(PROJECT_ROOT / "notebooks")  # where JupyterLab starts a kernel
    assert work_in_project_root() == PROJECT_ROOT
    assert Path.cwd() == PROJECT_ROOT and "relative paths" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)  # papermill --cwd elsewhere: left where it is
    assert work_in_project_root() == tmp_path.resolve() and Path.cwd() == tmp_path.resolve()
