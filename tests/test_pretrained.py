"""The shipped study: `jdvae ship` on a smoke study, its manifest, tampering caught, figures drawn from it,
notebooks falling back to it, damaged local weights named with their fix; and the committed quick study's seed-0
numbers read again from the shipped weights (skips until pretrained/quick/ is committed)."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jdvae import machine
from jdvae.study import committed as committed_study, notebooks, shipped as pretrained
from jdvae.vae.checkpoint import load_run, read_config, weights_problem
from jdvae.cli import main
from jdvae.errors import JdvaeError
from jdvae.evaluate.judge.store import STUDY_SEEDS, judge_folder
from jdvae.evaluate.judge.train import ensure_judge
from jdvae.evaluate.judge.model import judge_config
from jdvae.study.plan import run_name, study
from jdvae.vae.train import train

ROOT = Path(__file__).resolve().parents[1]
SMOKE = {"train.max_steps": 3, "train.threads": 1}
SMOKE_MB = 150  # each smoke judge is a full-width ResNet-18 (43 MB); the quick study's files fit in 50
FIGURES = ("table1.md", "table1.csv", "metrics.json", "claims.md", "fig2.png", "fig3.png", "explore_panel.png")


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, trains):
    """A finished smoke study (its eight seed-0 runs and the two judges), with two executed training notebooks:
    one under the name a study gives it now, one under the name earlier studies gave it (01_train_{run})."""
    folder = tmp_path_factory.mktemp("study") / "runs"
    with pytest.MonkeyPatch.context() as mp:  # the same private cache as conftest's per-test fixture
        mp.setenv("JDVAE_CACHE", str(tmp_path_factory.getbasetemp() / "jdvae-cache"))
        configs = study("smoke", 1, overrides=SMOKE)
        for cfg in configs:
            train(cfg, folder / run_name(cfg), progress=False)
        for seed in STUDY_SEEDS:
            ensure_judge(judge_config("smoke", configs[0].data, seed=seed), folder / judge_folder(seed), progress=False)
    (folder / "notebooks").mkdir()
    for file, seconds in ((notebooks.executed_training("PA2-glasses-s0"), 7.5),
                          ("01_train_PA1-glasses-s0.ipynb", 12.5)):
        executed = {"metadata": {"papermill": {"duration": seconds}}, "cells": []}
        (folder / "notebooks" / file).write_text(json.dumps(executed))
    return folder


@pytest.fixture(scope="module")
def shipped(runs):
    folder = runs.parent / "pretrained" / "smoke"
    pretrained.ship(runs, folder, limit_mb=SMOKE_MB, log=lambda line: None)
    return folder


def copy(folder, tmp_path, name="copy"):
    return Path(shutil.copytree(folder, tmp_path / name))


def test_ship_copies_weights_configs_metrics_and_judge_with_a_manifest(runs, shipped):
    manifest = json.loads((shipped / "manifest.json").read_text())
    names = [run_name(cfg) for cfg in study("smoke", 1)]
    expected = {f"{n}/{f}" for n in names for f in ("config.json", "model.safetensors", "metrics.csv", "done.json")}
    expected |= {f"{j}/{f}" for j in ("judge", "judge-s1") for f in ("judge_config.json", "judge.safetensors")}
    on_disk = {str(p.relative_to(shipped)) for p in shipped.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == expected and on_disk == expected | {"manifest.json"}  # no state.pt, snapshots
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == pretrained.sha256(runs / name) and entry["bytes"] == (runs / name).stat().st_size
    assert manifest["total_bytes"] == sum(e["bytes"] for e in manifest["files"].values())
    assert manifest["profile"] == "smoke" and manifest["seed"] == 0 and manifest["runs"] == names
    assert manifest["command"] == f"jdvae reproduce --profile smoke --runs {runs} --set train.max_steps=3"
    assert manifest["jdvae_commit"] == machine.git_commit() != ""
    assert manifest["cpu"] == machine.cpu_model() and manifest["torch"]
    wall = manifest["wall_seconds"]
    assert wall["PA1-glasses-s0"]["seconds"] == 12.5 and "01_train_PA1-glasses-s0" in wall["PA1-glasses-s0"]["source"]
    assert wall["PA2-glasses-s0"]["seconds"] == 7.5 and "02_train_PA2-glasses-s0" in wall["PA2-glasses-s0"]["source"]
    assert wall["M2-glasses-s0"]["seconds"] > 0 and "metrics.csv" in wall["M2-glasses-s0"]["source"]
    assert wall["judge"]["seconds"] > 0 and wall["judge-s1"]["seconds"] > 0
    assert pretrained.verify(shipped) == manifest
    load_run(shipped / "PA1-glasses-s0")  # a shipped run folder loads like a local one


def test_ship_refuses_an_unfinished_run_or_too_many_megabytes(runs, tmp_path, capsys):
    study_copy = copy(runs, tmp_path)
    (study_copy / "CCVAE-glasses-s0" / "done.json").unlink()
    code, err = cli(capsys, "ship", "--runs", study_copy, "--out", tmp_path / "out")
    assert code == 2 and len(err) == 1 and "CCVAE-glasses-s0 is missing or unfinished" in err[0]
    assert not (tmp_path / "out").exists()
    code, err = cli(capsys, "ship", "--runs", runs, "--out", tmp_path / "out", "--max-mb", "0.01")
    assert code == 2 and len(err) == 1 and "over the 0.01 MB limit" in err[0]
    (study_copy / "notes").mkdir()
    code, err = cli(capsys, "ship", "--runs", runs, "--out", study_copy, "--max-mb", SMOKE_MB)  # never replaced
    assert code == 2 and "is not a shipped folder" in err[0] and (study_copy / "notes").is_dir()


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:], "was changed: its SHA-256"),
    (lambda data: data[:-7], "is truncated"),
])
def test_a_changed_or_truncated_shipped_file_is_one_line_and_exit_2(shipped, tmp_path, capsys, damage, message):
    folder = copy(shipped, tmp_path)
    weights = folder / "PA1-glasses-s0" / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))
    with pytest.raises(JdvaeError, match=message):
        pretrained.verify(folder)
    code, err = cli(capsys, "reproduce", "--pretrained", folder, "--figures", tmp_path / "figs",
                    "--runs", tmp_path / "executed")
    assert code == 2 and len(err) == 1 and str(weights) in err[0] and "git checkout" in err[0]
    assert not (tmp_path / "figs" / "table1.md").exists()


def test_notebooks_use_the_local_runs_else_the_shipped_ones(runs, shipped, tmp_path, capsys):
    assert pretrained.resolve_runs(str(runs), "smoke", pretrained=str(shipped)) == str(runs)
    assert capsys.readouterr().out == ""
    empty = tmp_path / "empty"
    assert pretrained.resolve_runs(str(empty), "smoke", ["PA1"], "glasses", 0, str(shipped)) == str(shipped)
    note = capsys.readouterr().out.strip().splitlines()
    assert len(note) == 1 and "using the shipped smoke study" in note[0] and "PA1-glasses-s0" in note[0]
    assert pretrained.resolve_runs(str(empty), "smoke", pretrained=str(tmp_path / "none")) == str(empty)
    assert pretrained.resolve_runs(str(empty), "smoke", ["PA1"], seed=1, pretrained=str(shipped)) == str(empty)


def test_a_finished_local_run_with_damaged_weights_names_the_fix(runs, tmp_path, capsys):
    local = copy(runs, tmp_path)
    weights = local / "PA1-glasses-s0" / "model.safetensors"
    original = {k: v.clone() for k, v in load_file(str(weights)).items()}  # load_file maps the file: copy first
    weights.write_bytes(weights.read_bytes()[:-50])
    assert "truncated" in weights_problem(weights)
    with pytest.raises(JdvaeError, match=r"truncated.*jdvae train --resume --out"):
        pretrained.resolve_runs(str(local), "smoke", ["PA1"])
    with pytest.raises(JdvaeError, match=r"--resume"):
        load_run(weights.parent)
    cfg = read_config(weights.parent)
    with pytest.raises(JdvaeError, match=r"finished run is truncated.*--resume"):
        train(cfg, weights.parent, progress=False)
    train(cfg, weights.parent, resume=True, progress=False)  # rewritten from state.pt, not "nothing to do"
    assert "rewritten from" in capsys.readouterr().out and weights_problem(weights) is None
    rewritten = load_file(str(weights))
    assert rewritten.keys() == original.keys() and all(torch.equal(rewritten[k], original[k]) for k in original)


def test_header_check_accepts_whole_weights_and_names_what_is_wrong(runs, tmp_path):
    good = runs / "M2-glasses-s0" / "model.safetensors"
    assert weights_problem(good) is None
    bad = tmp_path / "w.safetensors"
    for data, message in [(b"", "no complete header"), (b"\xff" * 16, "no complete header"),
                          ((4).to_bytes(8, "little") + b"{no}", "not JSON"),
                          (good.read_bytes() + b"\0", "1 bytes too long")]:
        bad.write_bytes(data)
        assert message in weights_problem(bad)
    assert weights_problem(tmp_path / "absent") == "missing"


def test_figures_from_the_shipped_study_without_training(shipped, tmp_path, launches):
    before = {p: p.stat().st_mtime_ns for p in shipped.rglob("*")}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "jdvae", "reproduce", "--pretrained", str(shipped),
                             "--figures", str(tmp_path / "figs"), "--runs", str(tmp_path / "executed")],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.perf_counter() - t0 < 300
    for name in FIGURES:
        assert (tmp_path / "figs" / name).stat().st_size > 0, name
    assert "SHA-256 verified" in result.stdout
    assert "holds no seed-0 run of these settings" in result.stdout  # paper_figures/ is the quick study, not smoke
    assert {p: p.stat().st_mtime_ns for p in shipped.rglob("*")} == before  # nothing written into it
    assert sorted(p.name for p in (tmp_path / "executed" / "notebooks").glob("*.ipynb")) == \
        [notebooks.TABLE, notebooks.FIG2, notebooks.FIG3, notebooks.EXPLORE]
    report = json.loads((tmp_path / "figs" / "metrics.json").read_text())
    assert {Path(r["run"]).name for r in report["runs"]} == set(json.loads((shipped / "manifest.json").read_text())["runs"])


def test_explorer_notebook_opens_on_the_shipped_run(shipped, tmp_path, launches):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "out.ipynb"
    subprocess.run([sys.executable, "-m", "papermill", str(notebooks.FOLDER / notebooks.EXPLORE), str(out),
                    "-p", "runs", str(tmp_path / "no-runs"), "-p", "profile", "smoke", "-p", "pretrained",
                    str(shipped), "-p", "out", str(tmp_path / "figs"), "--no-progress-bar", "--log-level", "WARNING",
                    "--cwd", str(tmp_path)], check=True, env=env, timeout=300)
    printed = [line for c in json.loads(out.read_text())["cells"] for o in c.get("outputs", ())
               for line in "".join(o.get("text", "")).splitlines() if "using the shipped" in line]
    assert len(printed) == 1 and str(shipped) in printed[0]
    assert (tmp_path / "figs" / "explore_panel.png").stat().st_size > 0


@pytest.mark.slow
def test_shipped_quick_study_reads_the_committed_seed0_numbers(tmp_path):
    """The shipped weights and judge give the committed paper_figures/metrics.json readings: the same ones on the
    CPU and torch that trained them, and no rate more than 0.5 points away elsewhere (CPU kernels differ)."""
    folder = pretrained.default_folder("quick")
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"no shipped study: {folder}/manifest.json is absent (`jdvae ship` writes it)")
    from jdvae.evaluate.runs import evaluate_runs

    manifest = pretrained.verify(folder)
    committed = json.loads((ROOT / "paper_figures" / "metrics.json").read_text())
    report = evaluate_runs(folder, tmp_path, device="cpu", progress=False)
    same_machine = (manifest["cpu"], manifest["torch"]) == (machine.cpu_model(), __import__("torch").__version__)
    assert {Path(r["run"]).name for r in report["runs"]} == set(manifest["runs"])
    assert committed_study.seed0_differences(report, committed, tolerance=1e-9 if same_machine else 0.5) == []


def test_seed0_differences_name_a_missing_row_another_config_and_a_moved_rate():
    row = {"run": "runs/quick/PA1-glasses-s0", "seed": 0, "config": {"steps": (1, 2)},
           "metrics": {"sr_plus/glasses": 95.0, "recon_mse": 0.014, "bca/glasses": None}}
    committed = {"runs": [{**row, "run": "elsewhere/PA1-glasses-s0", "config": {"steps": [1, 2]}},
                          {**row, "seed": 1, "metrics": {"sr_plus/glasses": 10.0}}]}
    assert committed_study.seed0_differences({"runs": [row]}, committed) == []
    moved = {**row, "metrics": {"sr_plus/glasses": 95.6, "recon_mse": 0.5}}  # a distance is not a rate
    assert committed_study.seed0_differences({"runs": [moved]}, committed, 0.5) == \
        ["PA1-glasses-s0 sr_plus/glasses: 95.60 against 95.00"]
    assert committed_study.seed0_differences({"runs": [moved]}, committed, 1.0) == []
    assert committed_study.seed0_differences({"runs": [{**row, "config": {"steps": [1, 3]}}]}, committed) == \
        ["PA1-glasses-s0: made on another config"]
    assert committed_study.seed0_differences({"runs": [{**row, "run": "x/PA2-glasses-s0"}]}, committed) == \
        ["PA2-glasses-s0: no seed-0 row"]
    # read by two judges against a table read by the first alone: the first judge's readings are compared
    two = {**row, "metrics": {"sr_plus/glasses": 96.0, "sr_plus@j0/glasses": 95.0, "sr_plus@j1/glasses": 97.0}}
    assert committed_study.seed0_differences({"runs": [two]}, committed) == []
    two["metrics"]["sr_plus@j0/glasses"] = 94.0
    assert committed_study.seed0_differences({"runs": [two]}, committed) == ["PA1-glasses-s0 sr_plus/glasses: 94.00 against 95.00"]
    both = {"runs": [{**committed["runs"][0], "metrics": {"sr_plus/glasses": 96.0, "sr_plus@j0/glasses": 95.0}}]}
    assert committed_study.seed0_differences({"runs": [two]}, both) == ["PA1-glasses-s0 sr_plus@j0/glasses: 94.00 against 95.00"]


def test_make_figures_says_whether_its_numbers_equal_the_committed_seed0_rows(tmp_path):
    from jdvae.study.committed import compare_with_committed
    row = {"run": "pretrained/quick/PA1-glasses-s0", "seed": 0, "config": {"a": 1}, "metrics": {"sr_plus/glasses": 95.0}}
    committed, drawn = tmp_path / "committed.json", tmp_path / "drawn.json"
    committed.write_text(json.dumps({"runs": [{**row, "run": "runs/quick/PA1-glasses-s0"}, {**row, "seed": 1}]}))
    drawn.write_text(json.dumps({"runs": [row]}))
    assert "equal those in" in compare_with_committed(drawn, committed)
    drawn.write_text(json.dumps({"runs": [{**row, "metrics": {"sr_plus/glasses": 94.0}}]}))
    assert "1 seed-0 readings differ" in compare_with_committed(drawn, committed)
    drawn.write_text(json.dumps({"runs": [{**row, "config": {"a": 2}}]}))
    assert "nothing to compare" in compare_with_committed(drawn, committed)
    assert "no other" in compare_with_committed(drawn, tmp_path / "absent.json")


def test_a_study_starts_from_the_shipped_runs_of_its_own_settings_only(shipped, tmp_path, capsys):
    """`jdvae reproduce --from-shipped`: seed 0 is copied in (verified first), seed 1 is left to train, and runs of
    other settings (another data seed) are never copied."""
    configs = study("smoke", 2, overrides=SMOKE)
    target = tmp_path / "runs"
    copied = pretrained.seed_study(target, configs, "smoke", shipped, log=lambda line: None)
    seed0 = {run_name(cfg) for cfg in configs if cfg.train.seed == 0}
    assert set(copied) == seed0 and len(seed0) == 8
    for name in seed0:
        assert (target / name / "model.safetensors").read_bytes() == (shipped / name / "model.safetensors").read_bytes()
        assert read_config(target / name) == read_config(shipped / name)
    assert not any((target / run_name(cfg)).exists() for cfg in configs if cfg.train.seed == 1)
    assert pretrained.seed_study(target, configs, "smoke", shipped, log=lambda line: None) == []  # nothing twice

    other = study("smoke", 1, overrides={**SMOKE, "data.seed": 1})
    assert pretrained.seed_study(tmp_path / "other", other, "smoke", shipped, log=lambda line: None) == []

    damaged = copy(shipped, tmp_path, "damaged")
    with open(damaged / "PA1-glasses-s0" / "model.safetensors", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(JdvaeError, match="SHA-256"):
        pretrained.seed_study(tmp_path / "third", configs, "smoke", damaged, log=lambda line: None)
    assert not (tmp_path / "third").exists()


def test_the_shipped_judges_serve_a_study_of_their_settings_and_retraining_replaces_only_copies(shipped, tmp_path):
    configs = study("smoke", 1, overrides=SMOKE)
    target = tmp_path / "runs"
    assert pretrained.shipped_judges(target, configs[0], "smoke", shipped, log=lambda line: None) == ["judge", "judge-s1"]
    for judge in ("judge", "judge-s1"):
        assert (target / judge / "judge.safetensors").read_bytes() == (shipped / judge / "judge.safetensors").read_bytes()
    assert pretrained.shipped_judges(target, configs[0], "smoke", shipped, log=lambda line: None) == []  # once
    other = study("smoke", 1, overrides={**SMOKE, "data.seed": 1})[0]  # another data seed: other judges
    assert pretrained.shipped_judges(tmp_path / "other", other, "smoke", shipped, log=lambda line: None) == []

    own = target / "judge-s1" / pretrained.COPIED
    own.unlink()  # as if the study had trained judge-s1 itself
    pretrained.shipped_judges(target, configs[0], "smoke", shipped, retrain=True)
    assert not (target / "judge").exists() and (target / "judge-s1" / "judge.safetensors").is_file()

    damaged = copy(shipped, tmp_path, "damaged-judge")
    with open(damaged / "judge-s1" / "judge.safetensors", "r+b") as f:
        f.seek(300)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(JdvaeError, match="SHA-256"):
        pretrained.shipped_judges(tmp_path / "third", configs[0], "smoke", damaged, log=lambda line: None)
    assert not (tmp_path / "third").exists()
