"""benchmarks/gpu_check: its CPU mode end to end (the GPU run's code paths at toy sizes), and its failures."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from benchmarks.gpu_check.sections import (CELEBA_PREVALENCE, CELEBA_TRAIN, celeba_epoch, parse_junit, parse_verbose,
                                           projection, trains_the_same)
from benchmarks.gpu_check.sizes import PAPER_SETTING, SETTINGS
from jdvae.config import MODELS

ROOT = Path(__file__).resolve().parent.parent


def _run(tmp_path, *args, timeout=900, **extra_env):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JDVAE_CACHE": str(tmp_path / "cache"), **extra_env}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", "--tiny", "--work", str(tmp_path / "work"),
           *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    path = tmp_path / "work" / "gpu.json"
    return result, json.loads(path.read_text()) if path.exists() else None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, launches):
    """Every section once, as the GPU run has them (the two reproduce commands take most of its minutes)."""
    tmp = tmp_path_factory.mktemp("gpu_check")
    result, report = _run(tmp, "--faster-lr", "1e-3", timeout=1800)
    return result, report, tmp / "work"


def test_the_cpu_mode_passes_its_sections_and_writes_them_in_order(tiny):
    result, report, work = tiny
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert report["ok"] and report["complete"] and report["failed"] == []
    assert report["machine"]["torch"] == torch.__version__
    md = (work / "gpu.md").read_text()
    assert "all sections pass" in md
    assert md.index("## CUDA tests") < md.index("## Paper step") < md.index("## CelebA paper study") \
        < md.index("## Quick study") < md.index("## The 128-px network") < md.index("## The user's CelebA")
    assert all(report[name]["seconds"] is not None for name in ("tests", "step", "study", "learn", "celeba"))


def test_the_cuda_tests_ran_on_the_cpu(tiny):
    t = tiny[1]["tests"]
    assert t["failed"] == 0 and t["skipped"] == 0 and t["passed"] == len(MODELS)


def test_every_setting_is_timed_from_the_same_start_and_trains_as_eager_fp32(tiny):
    s = tiny[1]["step"]
    assert list(s["settings"]) == list(SETTINGS)
    for r in s["settings"].values():
        assert r["images_per_s"] > 0 and r["waited_for_all"] and r["same"], r
    ref = s["settings"]["eager fp32"]["first_losses"]
    assert s["settings"]["eager fp32 + auto levers"]["first_losses"] == ref  # same weights, seed and batches
    assert s["copies"] == 2 and s["together_images_per_s"] > 0 and s["flops_per_image"] > 0


def test_the_projection_reads_the_balanced_epoch_and_the_measured_rates(tiny):
    p = tiny[1]["projection"]
    rate = tiny[1]["step"]["settings"][PAPER_SETTING]["images_per_s"]
    assert p["one_training_hours"] == pytest.approx(200 * p["epoch_images"]["glasses"] / rate / 3600)
    assert p["side_by_side_hours"] == pytest.approx(p["study_images"] / tiny[1]["step"]["together_images_per_s"] / 3600)


def test_a_balanced_epoch_is_every_positive_and_a_fifth_of_the_rest():
    p = CELEBA_PREVALENCE["glasses"]
    assert celeba_epoch(("glasses",)) == pytest.approx(CELEBA_TRAIN * (p + 0.2 * (1 - p)), rel=0.01)
    assert celeba_epoch(("glasses", "beard")) > celeba_epoch(("glasses",))
    empty = projection({})
    assert empty["one_training_hours"] is None and not empty["ok"]


def test_the_learning_run_trains_evaluates_and_draws_the_swaps(tiny):
    s, work = tiny[1]["learn"], tiny[2]
    assert s["steps"] == 4 and all(p["rc"] == 0 for p in s["processes"].values())
    assert {r["model"] for r in s["rows"]} == {"PA1", "M2", "PA1 (lr 0.001)"} and all("sr_plus" in r for r in s["rows"])
    assert all(curve and curve[-1]["step"] == 4 for curve in s["curves"].values())
    with Image.open(work / "gpu_swaps.png") as png:
        assert png.width > png.height > 0
    assert "gpu_swaps.png" in (work / "gpu.md").read_text()


def test_the_product_study_and_the_celeba_command_run_through_the_notebooks(tiny):
    report = tiny[1]
    for name in ("study", "celeba"):
        s = report[name]
        assert s["ok"] and s["rc"] == 0 and s["missing"] == [] and len(s["claims"]) == 8, s
    assert "--data celeba --celeba-root" in report["celeba"]["command"]


def test_a_failing_section_fails_the_check_and_is_named(tmp_path, launches):
    result, report = _run(tmp_path, "--sections", "tests", "--tests-k", "no_such_test")
    assert result.returncode == 1
    assert report["failed"] == ["tests"] and report["tests"]["passed"] == 0
    assert "FAILED: tests" in (tmp_path / "work" / "gpu.md").read_text()


def test_a_section_past_its_deadline_is_killed_and_reported(tmp_path, launches):
    # the tests section's deadline is a fifth of the budget; the stand-in test sleeps 90 s, whatever this machine's speed
    result, report = _run(tmp_path, "--sections", "tests", "--budget", "10", "--tests-k", "overrun_stand_in",
                          timeout=120, JDVAE_GPU_CHECK_OVERRUN="90")
    assert result.returncode == 1
    assert report["tests"]["timed_out"] and not report["tests"]["ok"] and report["complete"]
    assert report["wall_seconds"] < 60


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_is_one_line(launches):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check"], capture_output=True, text=True,
                            timeout=120, cwd=ROOT, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--device cpu --tiny" in result.stderr


def test_trains_the_same_within_three_standard_errors_of_eager_fp32():
    ref = [1.0 + 0.01 * (-1) ** i for i in range(100)]
    assert trains_the_same([v + 0.001 for v in ref], ref)[0]
    assert not trains_the_same([v + 0.01 for v in ref], ref)[0]
    assert not trains_the_same([], ref)[0]


def test_junit_and_verbose_readers(tmp_path):
    (tmp_path / "r.xml").write_text(
        '<testsuites><testsuite><testcase name="a" time="0.5"/><testcase name="b" time="1">'
        '<failure message="assert 1 == 2">trace</failure></testcase>'
        '<testcase name="c"><skipped message="no GPU"/></testcase></testsuite></testsuites>')
    (tmp_path / "v.log").write_text("tests/t.py::a PASSED [ 50%]\ntests/t.py::b[x] FAILED [100%]\nnoise\n")
    assert [(c["name"], c["outcome"]) for c in parse_verbose(tmp_path / "v.log")] == [("a", "passed"), ("b[x]", "failed")]
    assert [(c["name"], c["outcome"], c["message"]) for c in parse_junit(tmp_path / "r.xml")] == \
        [("a", "passed", ""), ("b", "failed", "assert 1 == 2"), ("c", "skipped", "no GPU")]


def test_every_cuda_test_passes_on_the_cpu(tmp_path, launches):
    """The CUDA tests' own code, run on the CPU, so that the GPU run fails only on what only a GPU shows."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JDVAE_CUDA_TESTS_ON": "cpu"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda",
                             "-k", "not overrun_stand_in", str(ROOT / "tests" / "test_gpu_cuda.py"),
                             "--basetemp", str(tmp_path / "t")],
                            env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{len(MODELS) + 3} passed" in result.stdout and "skipped" not in result.stdout
