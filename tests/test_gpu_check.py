"""benchmarks/gpu_check.py: its CPU mode end to end (the GPU run's code paths at toy sizes), and its failures."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from jdvae.config import MODELS
from jdvae.precision import resolve

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, *args, timeout=600, **extra_env):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JDVAE_CACHE": str(tmp_path / "cache"), **extra_env}
    cmd = [sys.executable, str(SCRIPT), "--device", "cpu", "--tiny", "--work", str(tmp_path / "work"), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu_check")
    result = _run(tmp)
    work = tmp / "work"
    report = json.loads((work / "gpu.json").read_text()) if (work / "gpu.json").exists() else None
    return result, report, work


def test_the_cpu_mode_passes_every_section_and_says_so(tiny_report):
    result, report, work = tiny_report
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert report["ok"] and report["failed"] == []
    m = report["machine"]
    assert m["torch"] == torch.__version__ and m["missing_modules"] == []
    assert m["precision_auto"]["chosen"] == resolve("auto", "cpu").name
    md = (work / "gpu.md").read_text()
    assert md.index("## Machine") < md.index("## CUDA tests") < md.index("## Paper profile") < md.index("## Quick study")
    assert "all sections pass" in md


def test_the_cuda_tests_ran_on_the_cpu(tiny_report):
    _, report, _ = tiny_report
    t = report["tests"]
    assert t["failed"] == 0 and t["skipped"] == 0 and t["passed"] == len(MODELS)
    assert sorted(c["name"].split("[")[1].rstrip("]") for c in t["tests"]) == sorted(MODELS)


def test_the_benchmark_times_three_settings_and_draws_the_reconstructions(tiny_report):
    gpu_check = _module()
    _, report, work = tiny_report
    b = report["bench"]
    assert list(b["settings"]) == ["fp32", "bf16 autocast", "bf16 + torch.compile"]
    for s in b["settings"].values():
        assert s["ok"] and s["images_per_s"] > 0 and s["peak_memory_gib"] > 0 and s["tflops"] > 0
        assert s["paper_training_hours"] == pytest.approx(gpu_check.PAPER_IMAGES / s["images_per_s"] / 3600)
    assert b["flops_per_image"] > 0 and b["quick_step_ms"] > 0
    best = max(b["settings"], key=lambda k: b["settings"][k]["images_per_s"])
    assert b["best"] == best and b["paper_training_hours"] == b["settings"][best]["paper_training_hours"]
    size = b["image_size"]
    assert gpu_check.png_size(work / "gpu_recon.png") == (8 * size, 4 * size)  # data + three settings


def test_the_study_trains_everything_and_reads_every_gate(tiny_report):
    _, report, _ = tiny_report
    s = report["study"]
    assert s["trained"] and len(s["jobs"]) == 9 and all(j["ok"] for j in s["jobs"].values())
    assert s["steps"] == 4 and s["shortened"]
    assert len(s["rows"]) == 9  # seven one-label rows, the two-label run's glasses and beard
    assert all(isinstance(r["valid"], bool) and (r["valid"] or r["why"]) for r in s["rows"])
    assert s["gates_pass"] == all(r["valid"] for r in s["rows"])
    assert s["wall_seconds"] >= s["train_wall_seconds"] > 0


def test_a_failing_section_fails_the_check_and_is_named(tmp_path):
    result = _run(tmp_path, "--sections", "tests", "--tests-k", "no_such_test")
    assert result.returncode == 1
    report = json.loads((tmp_path / "work" / "gpu.json").read_text())
    assert report["failed"] == ["tests"] and report["tests"]["passed"] == 0
    assert "FAILED: tests" in (tmp_path / "work" / "gpu.md").read_text()


def test_a_section_past_its_deadline_is_killed_and_reported(tmp_path):
    # the tests section gets its 5-second floor; the stand-in test sleeps 90 s, whatever this machine's speed
    result = _run(tmp_path, "--sections", "tests", "--budget", "8", "--tests-k", "overrun_stand_in", timeout=120,
                  JDVAE_GPU_CHECK_OVERRUN="90")
    assert result.returncode == 1
    report = json.loads((tmp_path / "work" / "gpu.json").read_text())
    assert report["tests"]["timed_out"] and not report["tests"]["ok"] and report["complete"]
    assert report["wall_seconds"] < 60


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_is_one_line():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--device cpu --tiny" in result.stderr


def test_png_writer_and_junit_reader(tmp_path):
    gpu_check = _module()
    gpu_check.write_png(tmp_path / "a.png", np.zeros((5, 7, 3), np.uint8))
    assert gpu_check.png_size(tmp_path / "a.png") == (7, 5)
    (tmp_path / "b.png").write_bytes(b"not a png")
    with pytest.raises(ValueError):
        gpu_check.png_size(tmp_path / "b.png")
    (tmp_path / "r.xml").write_text(
        '<testsuites><testsuite><testcase name="a" time="0.5"/><testcase name="b" time="1">'
        '<failure message="assert 1 == 2">trace</failure></testcase>'
        '<testcase name="c"><skipped message="no GPU"/></testcase></testsuite></testsuites>')
    (tmp_path / "v.log").write_text("tests/t.py::a PASSED [ 50%]\ntests/t.py::b[x] FAILED [100%]\nnoise\n")
    assert [(c["name"], c["outcome"]) for c in gpu_check.parse_verbose(tmp_path / "v.log")] == \
        [("a", "passed"), ("b[x]", "failed")]
    cases = gpu_check.parse_junit(tmp_path / "r.xml")
    assert [(c["name"], c["outcome"], c["message"]) for c in cases] == \
        [("a", "passed", ""), ("b", "failed", "assert 1 == 2"), ("c", "skipped", "no GPU")]


@pytest.mark.slow
def test_every_cuda_test_passes_on_the_cpu(tmp_path):
    """The CUDA tests' own code, run on the CPU, so that the GPU run fails only on what only a GPU shows."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JDVAE_CUDA_TESTS_ON": "cpu"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda",
                             "-k", "not overrun_stand_in", str(ROOT / "tests" / "test_gpu_cuda.py"),
                             "--basetemp", str(tmp_path / "t")],
                            env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{len(MODELS) + 3} passed" in result.stdout and "skipped" not in result.stdout


def test_auto_steps_fit_the_time_left_and_never_pass_the_profile():
    import argparse

    from jdvae.config import profile
    gpu_check = _module()
    most = profile("quick").train.max_steps
    auto = argparse.Namespace(study_steps="auto", tiny=False)
    assert gpu_check.choose_steps(auto, 1.0, 10_000)[0] == most
    steps, why = gpu_check.choose_steps(auto, 100.0, 71)  # 71 s at 0.35 s a step: 202, rounded down to 200
    assert steps == 200 and "100.0 ms" in why
    assert gpu_check.choose_steps(argparse.Namespace(study_steps="300", tiny=False), 1.0, 1)[0] == 300
