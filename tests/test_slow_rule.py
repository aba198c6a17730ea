"""The slow rule of tests/conftest.py: asking for `trains` or `launches` marks a test slow, and a test not marked
slow that steps an optimiser or starts slow work in a subprocess fails, naming the fixture to ask for."""
import sys
from pathlib import Path

import pytest
import torch

from conftest import GUARDS, PYTHON, launched

pytest_plugins = ["pytester"]


@pytest.mark.parametrize("argv, what", [
    ([PYTHON, "-m", "papermill", "nb.ipynb", "out.ipynb"], "python -m papermill"),
    (["python3", "-u", "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "jdvae"],
     "python -m torch.distributed.run"),
    ([PYTHON, "-X", "dev", "-m", "jdvae", "train"], "python -m jdvae"),
    ([PYTHON, "-m", "benchmarks.gpu_check", "--device", "cpu"], "python -m benchmarks.gpu_check"),
    ([PYTHON, "-m", "jupyterlab", "--no-browser"], "python -m jupyterlab"),
    ([PYTHON, "-m", "ipykernel_launcher", "-f", "kernel.json"], "python -m ipykernel_launcher"),
    ([PYTHON, "-m", "pytest", "-q"], "python -m pytest"),
    ("torchrun --standalone --nproc_per_node 2 train.py", "torchrun"),
    ([Path("/usr/local/bin/jdvae"), "reproduce"], "jdvae"),
    (["git", "rev-parse", "HEAD"], None),
    (["/bin/sh", "-m", "papermill"], None),  # not Python: its -m is the shell's
    ([PYTHON, "script.py", "-m", "papermill"], None),  # the script's own arguments
    ([PYTHON, "-c", "print(1)", "-m", "jdvae"], None),
    ([PYTHON, "-m", "pip", "list"], None),
    ([PYTHON, "-m", "jdvae_tools"], None),
])
def test_launched_names_the_slow_work_a_command_line_starts(argv, what):
    assert launched(argv) == what


INNER = """
import subprocess
import sys

import torch


def step():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    p.sum().backward()
    opt.step()


def test_steps():
    step()


def test_steps_and_asks(trains):
    step()


def test_steps_and_swallows_the_failure():
    try:
        step()
    except Exception:
        pass


def test_builds_an_optimiser_without_stepping_it():
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


def test_launches():
    subprocess.run([sys.executable, "-m", "papermill", "--help"], capture_output=True)


def test_runs_a_quick_subprocess():
    assert subprocess.run([sys.executable, "-c", "pass"]).returncode == 0
"""


def test_a_quick_test_that_trains_or_launches_fails_and_asking_marks_it_slow(pytester, request):
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(test_inner=INNER)
    with request.node.stash[GUARDS].lifted():  # this test's own guard would catch the inner steps first
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))]).step()  # what a step imports lazily, imported once:
        # each inner session puts sys.modules back as it found them, and torch registers some modules only once
        quick = pytester.runpytest_inprocess("-m", "not slow", "-p", "no:cacheprovider")
        slow = pytester.runpytest_inprocess("-m", "slow", "-p", "no:cacheprovider")
    quick.assert_outcomes(passed=2, failed=3, deselected=1)
    quick.stdout.fnmatch_lines_random([
        "*test_inner.py::test_steps steps torch.optim.SGD (at test_inner.py:*) but is not marked slow: ask for the "
        "`trains` fixture*",
        "*test_inner.py::test_steps_and_swallows_the_failure steps torch.optim.SGD*`trains` fixture*",
        "*test_inner.py::test_launches starts `python -m papermill` in a subprocess*`launches` fixture*",
    ])
    slow.assert_outcomes(passed=1, deselected=5)
    assert sys.modules["subprocess"].Popen.__name__ == "GuardedPopen"  # this test's guard is back
