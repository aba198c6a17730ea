"""Shared test settings: small, single-threaded, with a private data cache; slow work marked by the fixture it asks.

A test (or a fixture it uses) that trains asks for `trains`; one that starts papermill, torchrun, JupyterLab, a
Jupyter kernel, the GPU check, `python -m jdvae` or a nested pytest asks for `launches`. Either marks the test
slow, so that `pytest -m "not slow"` stays quick. A test not marked slow that steps a torch optimiser or starts
one of those processes fails, naming the fixture to ask for, so the rule cannot silently go stale."""
from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import traceback
from urllib.error import URLError

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

torch.set_num_threads(1)

SLOW_FIXTURES = ("trains", "launches")
# what `python -m MODULE` (or MODULE.sub) and the console scripts start: notebooks, process groups, servers, kernels,
# the GPU check, the CLI and nested test sessions
LAUNCHED_MODULES = ("papermill", "torch.distributed.run", "torch.distributed.launch", "jupyter", "jupyterlab",
                    "jupyter_server", "notebook", "ipykernel", "ipykernel_launcher", "benchmarks.gpu_check", "jdvae",
                    "pytest")
LAUNCHED_SCRIPTS = ("papermill", "torchrun", "jupyter", "jupyter-lab", "jupyter-server", "jdvae", "pytest")
PYTHON_OPTIONS_WITH_VALUE = ("-W", "-X", "--check-hash-based-pycs")
PYTHON = sys.executable  # read now: a test may point sys.executable elsewhere


@pytest.fixture(scope="session")
def trains():
    """Ask for this in a test, or in a fixture, that steps a torch optimiser (the VAE trainer, the judge, the
    bench): the test is marked slow."""


@pytest.fixture(scope="session")
def launches():
    """Ask for this in a test, or in a fixture, that starts papermill, torchrun, JupyterLab, a Jupyter kernel, the
    GPU check, `python -m jdvae` or a nested pytest in a subprocess: the test is marked slow."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark slow every test whose fixtures (its own and those of its fixtures) include `trains` or `launches`,
    before `-m` selects on the marker."""
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)


def launched(args) -> str | None:
    """What a subprocess command line starts when it is slow work a quick test must not start, else None."""
    argv = shlex.split(args) if isinstance(args, str) else [os.fsdecode(a) for a in
                                                            ([args] if isinstance(args, (bytes, os.PathLike)) else args)]
    if not argv:
        return None
    program = os.path.basename(argv[0])
    if program in LAUNCHED_SCRIPTS:
        return program
    if argv[0] != PYTHON and not program.startswith("python"):
        return None
    options = iter(argv[1:])
    for option in options:  # Python's own options, up to `-m MODULE`, `-c CODE` or a script
        if option in PYTHON_OPTIONS_WITH_VALUE:
            next(options, None)
        elif option == "-m":
            module = next(options, "")
            return f"python -m {module}" if any(module == m or module.startswith(m + ".")
                                                 for m in LAUNCHED_MODULES) else None
        elif not option.startswith("-") or option == "-c":
            return None
    return None


class _Guard:
    """While a test not marked slow runs: stepping an optimiser or launching slow work fails the test."""

    def __init__(self, item):
        self.item, self.seen, self.reported = item, [], False

    def fail(self, what: str, fixture: str):
        here = os.path.dirname(__file__)
        calls = [f for f in traceback.extract_stack() if os.path.dirname(f.filename) == here and f.filename != __file__]
        where = f" (at {os.path.basename(calls[-1].filename)}:{calls[-1].lineno})" if calls else ""
        message = (f"{self.item.nodeid} {what}{where} but is not marked slow: ask for the `{fixture}` fixture "
                   f"(tests/conftest.py) in the test or in the fixture that does it, so that `pytest -m 'not slow'` "
                   f"stays quick")
        self.seen.append(message)
        pytest.fail(message, pytrace=False)  # a BaseException: an `except Exception` in the code under test lets it by

    def __enter__(self):
        guard = self

        def step_pre_hook(optimizer, args, kwargs):
            guard.fail(f"steps torch.optim.{type(optimizer).__name__}", "trains")

        class GuardedPopen(_Popen):
            def __new__(cls, *args, **kwargs):  # refused before a Popen exists: nothing half-made to clean up
                what = launched(args[0] if args else kwargs.get("args", ()))
                if what:
                    guard.fail(f"starts `{what}` in a subprocess", "launches")
                return super().__new__(cls)

        self.handle = register_optimizer_step_pre_hook(step_pre_hook)
        subprocess.Popen = GuardedPopen
        return self

    def __exit__(self, *exc):
        self.handle.remove()
        subprocess.Popen = _Popen

    @contextlib.contextmanager
    def lifted(self):
        """The guard off for a while: for a test of the guard that runs a guarded session of its own."""
        self.__exit__()
        try:
            yield
        finally:
            self.__enter__()


_Popen = subprocess.Popen
GUARDS = pytest.StashKey[_Guard]()  # the guard of a running test not marked slow


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Guard setup, call and teardown of every test not marked slow (its fixtures of any scope included)."""
    if item.get_closest_marker("slow"):
        yield
        return
    with _Guard(item) as guard:
        item.stash[GUARDS] = guard
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A guarded step or launch fails the test even when the code under test caught the failure."""
    outcome = yield
    report = outcome.get_result()
    guard = item.stash.get(GUARDS, None)
    if guard is not None and guard.seen and not guard.reported:
        guard.reported = True  # once: in the phase that stepped or launched
        if report.passed:
            report.outcome, report.longrepr = "failed", guard.seen[0]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test session builds SynthFaces into its own cache folder, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "jdvae-cache"
    monkeypatch.setenv("JDVAE_CACHE", str(cache))
    yield


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A private torch hub cache, no JDVAE_* weights variables, and a download that fails like an offline machine.

    Returns the list of URLs a download was attempted for."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("JDVAE_OFFLINE", "JDVAE_RESNET_WEIGHTS", "JDVAE_ALEXNET_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise URLError("[Errno -3] Temporary failure in name resolution (test stub)")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return calls
