"""JupyterLab end to end: run notebooks/06_explore.ipynb in headless Chromium, move a u slider, see the image change.

Needs the Debian package `chromium` (/usr/bin/chromium) and the Python package `playwright`
(its own browser downloads are not used); skipped with the reason when either is absent.
"""
import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from jdvae.figures import paper as plots
from jdvae.study import notebooks
from jdvae.study import shipped as pretrained
from jdvae.config import override, profile
from jdvae.data.splits import load_split
from jdvae.vae.train import train

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("JDVAE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer {url} within {timeout:.0f} s")


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int16)


@pytest.fixture(params=["tiny run", "shipped PA1"])
def lab(request, tmp_path, trains, launches):
    """A JupyterLab server on a free localhost port, serving a folder with the explorer notebook and either a tiny
    PA1 run trained here or no run at all, so that the notebook opens on the shipped quick PA1 (pretrained/quick)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    root = tmp_path / "lab"
    runs = root / "runs"
    if request.param == "tiny run":
        cfg = override(profile("smoke"), **{"model.name": "PA1", "train.threads": 1, "train.max_steps": 3})
        train(cfg, runs / plots.run_name("PA1", "glasses", 0), progress=False)
        labels = load_split(cfg.data, "test", progress=False).labels[:, 0]
        index = int(np.flatnonzero(labels == 1)[0])  # a face with glasses: PA1's u acts only where y = 1
        params = {"profile": "smoke", "index": index}
    else:
        if not (pretrained.default_folder("quick") / pretrained.MANIFEST).is_file():
            pytest.skip("no shipped quick study in pretrained/quick (`jdvae ship` writes it)")
        runs.mkdir(parents=True)  # empty: the notebook must fall back to the shipped run, training nothing
        params = {"profile": "quick", "index": -1}
    nb = load_notebook_node(str(notebooks.FOLDER / notebooks.EXPLORE))
    nb = parameterize_notebook(nb, {"runs": str(runs), "model": "PA1", "out": str(root / "figs"), **params})
    nbformat.write(nb, root / "explore.ipynb")

    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path / "jupyter"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "IPYTHONDIR": str(home / "ipython")}
    log = open(tmp_path / "jupyter.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
         "--ServerApp.terminals_enabled=False", "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", proc)
        yield f"http://127.0.0.1:{port}/lab/tree/explore.ipynb?token={token}", root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


STARTED = "() => [...document.querySelectorAll('.jp-InputArea-prompt')].some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"


def _run_all_cells(page, tries: int = 4) -> None:
    """Run > Run All Cells once the kernel is idle; click again if no cell starts (a click during kernel start-up is lost)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.wait_for_function("() => /\\|\\s*Idle/.test(document.querySelector('.jp-StatusBar-Widget, .jp-StatusBar')"
                           "?.parentElement?.innerText || '')", timeout=120_000)
    for _ in range(tries):
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(STARTED, timeout=20_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"JupyterLab did not start running the notebook after {tries} clicks on Run All Cells")


def test_explorer_slider_changes_the_image(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    url, root = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(url, timeout=120_000)
            page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
            _run_all_cells(page)

            image = page.locator("img.jdvae-explorer-image").first
            image.wait_for(state="visible", timeout=60_000)
            page.wait_for_function("() => { const i = document.querySelector('img.jdvae-explorer-image');"
                                   " return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
            image.scroll_into_view_if_needed()
            before = _pixels(image.screenshot(path=str(tmp_path / "before.png")))

            slider = page.locator(".widget-slider", has=page.locator(".widget-label", has_text="u_glasses[0]")).first
            handle = slider.locator(".noUi-handle").first
            handle.focus()
            for _ in range(40):  # 40 steps of 0.05: u_glasses[0] moves by +2 (or to the slider's end)
                handle.press("ArrowRight")
            changed, after = False, before
            for _ in range(60):
                time.sleep(0.5)
                after = _pixels(image.screenshot())
                if after.shape == before.shape and np.abs(after - before).max() > 0:
                    changed = True
                    break
            image.screenshot(path=str(tmp_path / "after.png"))
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)  # kept for a person to look at
            assert changed, f"the decoded image did not change after moving the slider (page: {tmp_path / 'page.png'})"
            assert (root / "figs" / "explore_panel.png").exists()  # the notebook's static panel ran too
        except Exception:
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)  # what the browser showed
            raise
        finally:
            browser.close()
