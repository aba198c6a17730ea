"""benchmarks/gpu_check: its CPU mode end to end (the GPU run's code paths at toy sizes), and its failures."""
import json
import os
import subprocess
import sys
import tarfile
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
           "--out", str(tmp_path / "out"), *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    path = tmp_path / "out" / "gpu.json"
    return result, json.loads(path.read_text()) if path.exists() else None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, launches):
    """Every section once, as the GPU run has them (the two reproduce commands take most of its minutes)."""
    tmp = tmp_path_factory.mktemp("gpu_check")
    result, report = _run(tmp, "--faster-lr", "1e-3", timeout=1800)
    return result, report, tmp / "out"


def test_the_cpu_mode_passes_its_sections_and_writes_them_in_order(tiny):
    result, report, out = tiny
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert report["ok"] and report["complete"] and report["failed"] == []
    assert report["machine"]["torch"] == torch.__version__
    md = (out / "gpu.md").read_text()
    assert "python3 -m benchmarks.gpu_check --out $OUT --wheels .whl" in md and "timeout_s 600" in md
    assert "all sections pass" in md
    assert md.index("## CUDA tests") < md.index("## Paper step") < md.index("## CelebA paper study") \
        < md.index("## Quick study") < md.index("## The 128-px network") < md.index("## The user's CelebA")
    assert all(report[name]["seconds"] is not None for name in ("tests", "step", "study", "learn", "celeba"))


def test_the_cuda_tests_ran_on_the_cpu(tiny):
    t = tiny[1]["tests"]
    assert t["failed"] == 0 and t["skipped"] == 0 and t["passed"] == len(MODELS)


def test_what_comes_back_fits_the_device_limits(tiny):
    """At most 8 files, none in a folder, each under 16 MiB; the logs of every section in one archive."""
    out = tiny[2]
    files = list(out.rglob("*"))
    assert all(f.is_file() and f.parent == out for f in files) and len(files) <= 8, files
    assert all(f.stat().st_size < 16 * 2**20 for f in files)
    assert {"gpu.md", "gpu.json", "logs.tar.gz", "gpu_swaps.png", "study_fig2.png"} <= {f.name for f in files}
    with tarfile.open(out / "logs.tar.gz") as tar:
        names = tar.getnames()
    assert {"cuda_tests.log", "study.log", "celeba.log", "learn_PA1.log", "step_alone/0.log"} <= set(names), names


def test_every_setting_is_timed_from_the_same_start_and_trains_as_eager_fp32(tiny):
    s = tiny[1]["step"]
    assert list(s["settings"]) == list(SETTINGS)
    for r in s["settings"].values():
        assert r["images_per_s"] > 0 and r["waited_for_all"] and r["same"], r
    ref = s["settings"]["eager fp32"]["first_losses"]
    # a CPU run takes no GPU lever, so these train the very same steps as eager fp32
    assert s["settings"]["fp32 + fused Adam"]["first_losses"] == ref
    assert s["settings"]["fp32 + data on the GPU"]["first_losses"] == ref
    assert s["settings"]["bf16 + compile + CUDA graphs"]["graphs"]["replays"] is None  # no CUDA graph on a CPU
    assert s["best"] in SETTINGS
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


def test_the_learning_run_trains_to_its_deadline_then_reads_and_draws(tiny):
    s, out = tiny[1]["learn"], tiny[2]
    assert all(p["rc"] == 0 and not p["timed_out"] for p in s["processes"].values())
    assert set(s["rows"]) == {"PA1", "M2", "PA1 (lr 0.001)"}
    for r in s["rows"].values():  # trained for its seconds, not to a step count: it reached steps, all read
        assert r["steps"] > 0 and r["images"] == 32 * r["steps"] and r["pairs"] > 0
        assert all(0 <= r[k] <= 100 for k in ("r_plus", "r_minus", "sr_plus", "sr_minus", "judge_on_real"))
    with Image.open(out / "gpu_swaps.png") as png:
        assert png.width > png.height > 0
    assert "gpu_swaps.png" in (out / "gpu.md").read_text()


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
    assert "FAILED: tests" in (tmp_path / "out" / "gpu.md").read_text()


def test_a_section_past_its_deadline_is_killed_and_reported(tmp_path, launches):
    # the tests section's deadline is a fifth of the budget; the stand-in test sleeps 90 s, whatever this machine's speed
    result, report = _run(tmp_path, "--sections", "tests", "--budget", "10", "--tests-k", "overrun_stand_in",
                          timeout=120, JDVAE_GPU_CHECK_OVERRUN="90")
    assert result.returncode == 1
    assert report["tests"]["timed_out"] and not report["tests"]["ok"] and report["complete"]
    assert report["wall_seconds"] < 60


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_a_gpu_is_one_line(tmp_path, launches):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
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


def test_the_paper_profile_trains_on_the_authors_subset_and_the_projection_counts_it():
    """Every positive and a seeded fifth of the negatives of each split, as the authors' code keeps; the projection's
    epoch is the count of the very rows the trainer reads."""
    import numpy as np

    from jdvae.config import profile
    from jdvae.data.splits import celeba_rows
    data = profile("paper").data
    assert data.celeba_balance
    labels = (np.random.default_rng(1).random((10_000, 1)) < 0.1)
    rows = celeba_rows(data, labels, "train")
    assert labels[rows].sum() == labels.sum()  # every positive
    assert (~labels[rows, 0]).sum() == pytest.approx(0.2 * (~labels[:, 0]).sum(), rel=0.05)
    assert not np.array_equal(rows, celeba_rows(data, labels, "val"))  # one seeded subset per split
    assert len(celeba_rows(profile("quick").data, labels, "train")) == len(labels)  # off elsewhere


def test_the_payload_a_device_call_sends_stays_under_56_mib():
    from benchmarks.gpu_check.payload import LIMIT, parts, pins
    sizes = parts()
    assert sum(sizes.values()) <= LIMIT, sizes
    assert sizes["tracked files"] > 10 * 2**20 and sizes["wheels (recorded sizes)"] > 2**20  # both were counted
    assert not {"debugpy", "jedi", "parso", "widgetsnbextension", "jupyterlab_widgets"} & set(pins())
    assert {"papermill", "ipykernel", "lpips", "nbclient"} <= set(pins())


def test_recorded_wheel_sizes_match_the_wheels_when_they_are_here():
    from benchmarks.gpu_check.payload import pins, wheel_files
    folder = ROOT / ".whl"
    if not any(folder.glob("*.whl")):
        pytest.skip("no .whl/ here: `make gpu-wheels` brings it")
    files = wheel_files(folder)
    assert set(files) == set(pins())
    for name, (version, size) in pins().items():
        assert f"-{version}-" in files[name].name and files[name].stat().st_size == size, name


def test_the_check_installs_wheels_offline_and_refuses_two_versions(tmp_path, launches):
    """--wheels: installed into WORK/site with no index, a kernel registered there; two versions of one package stop
    the check in one line before anything runs."""
    from benchmarks.gpu_check.__main__ import setup
    wheels = tmp_path / "wheels"
    for version in ("1.0", "2.0"):
        pkg = tmp_path / f"src{version}"
        (pkg / "jdvae_probe").mkdir(parents=True)
        (pkg / "jdvae_probe" / "__init__.py").write_text(f"VERSION = '{version}'\n")
        (pkg / "pyproject.toml").write_text(f'[project]\nname = "jdvae-probe"\nversion = "{version}"\n'
                                            '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n')
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                        "-w", str(tmp_path / f"w{version}"), str(pkg)], check=True, capture_output=True, timeout=300)
    wheels.mkdir()
    for whl in (tmp_path / "w1.0").glob("*.whl"):
        whl.rename(wheels / whl.name)
    extra, did = setup(wheels, tmp_path / "work")
    assert did["installed"] == 1 and (tmp_path / "work" / "site" / "jdvae_probe").is_dir()
    assert (Path(extra["JUPYTER_PATH"]) / "kernels" / "python3" / "kernel.json").exists()
    for whl in (tmp_path / "w2.0").glob("*.whl"):
        whl.rename(wheels / whl.name)
    with pytest.raises(SystemExit, match="two wheels of jdvae_probe"):
        setup(wheels, tmp_path / "work2")
