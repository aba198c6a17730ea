"""Figures (Fig. 2, Fig. 3, helpers), the explorer's pure rendering, and the figure notebooks, on smoke runs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jdvae.figures import paper as plots
from jdvae.figures import training as training_plots
from jdvae.figures import explorer as widgets
from jdvae.figures.common import save_figure
from jdvae.study import notebooks
from jdvae.config import override, profile
from jdvae.data.splits import counterfactual_images, load_split
from jdvae.errors import JdvaeError
from jdvae.vae.train import train

ROOT = Path(__file__).resolve().parents[1]
RUNS = [("PA1", ("glasses",)), ("CCVAE2", ("glasses",)), ("M2", ("glasses",)), ("PA1", ("glasses", "beard"))]


def smoke_config(name, labels):
    return override(profile("smoke"), **{"model.name": name, "train.threads": 1, "train.max_steps": 3,
                                         "data.labels": labels, "model.n_labels": len(labels)})


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory, trains):
    """Smoke runs laid out like runs/<profile>/: PA1, CCVAE2, M2 on glasses and PA1 on glasses+beard."""
    folder = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:  # the same private cache as conftest's per-test fixture
        mp.setenv("JDVAE_CACHE", str(tmp_path_factory.getbasetemp() / "jdvae-cache"))
        for name, labels in RUNS:
            train(smoke_config(name, labels), folder / plots.run_name(name, labels, 0), progress=False)
    return folder


@pytest.fixture(scope="session")
def glasses_runs(runs_dir):
    return plots.load_runs(runs_dir, ["M2", "PA1", "CCVAE2"], "glasses", seed=0)


@pytest.fixture(scope="session")
def two_label(runs_dir):
    return plots.load_one(runs_dir, "PA1", "glasses,beard", seed=0)


def grid_shape(fig):
    return fig.axes[0].get_subplotspec().get_gridspec().get_geometry()


def test_run_name_matches_the_layout():
    assert plots.run_name("PA1", "glasses+beard", 0) == "PA1-glasses+beard-s0"
    assert plots.run_name("PA1", ("glasses",), 2, adain=False) == "PA1-noadain-glasses-s2"
    assert plots.run_name("PA1", "glasses", 0, tokens=False) == "PA1-notokens-glasses-s0"


def test_load_runs_skips_missing_with_a_note(runs_dir, capsys):
    found = plots.load_runs(runs_dir, ["PA2", "PA1"], "glasses")
    assert list(found) == ["PA1"]
    assert "PA2-glasses-s0" in capsys.readouterr().out
    with pytest.raises(JdvaeError, match="PA2-glasses-s0"):
        plots.load_one(runs_dir, "PA2", "glasses")


def test_fig2_grid_columns_and_files(glasses_runs, tmp_path):
    split = plots.test_split_of(glasses_runs)
    fig = plots.fig2(glasses_runs, split, n_pairs=3, seed=0, out=tmp_path / "fig2")
    # I_g, I_w, three additions, truth, three removals, truth
    assert grid_shape(fig) == (3, 10)
    titles = [ax.get_title() for ax in fig.axes[:10]]
    assert [t.split("\n")[0] for t in titles[2:6]] == ["PA1", "CCVAE2", "M2", "truth"]  # paper order, not dict order
    assert [t.split("\n")[0] for t in titles[6:10]] == ["PA1", "CCVAE2", "M2", "truth"]
    for suffix in ("png", "pdf"):
        assert (tmp_path / f"fig2.{suffix}").stat().st_size > 0
    assert Image.open(tmp_path / "fig2.png").size[0] > Image.open(tmp_path / "fig2.png").size[1]
    # the truth columns are the renderer's counterfactuals of the drawn pairs
    from jdvae.evaluate.pairs import draw_pairs
    pairing = draw_pairs(split.labels[:, 0], 0)
    shown = fig.axes[5].get_images()[0].get_array()
    assert np.array_equal(np.asarray(shown), counterfactual_images(split, pairing.w[:1], pairing.g[:1])[0])


def test_fig2_with_one_model_and_no_runs(glasses_runs):
    split = plots.test_split_of(glasses_runs)
    fig = plots.fig2({"M2": glasses_runs["M2"]}, split, n_pairs=2)
    assert grid_shape(fig) == (2, 6)
    with pytest.raises(JdvaeError, match="at least one"):
        plots.fig2({}, split)


def test_fig3_grid_and_files(two_label, tmp_path):
    model, cfg = two_label
    split = load_split(cfg.data, "test", progress=False)
    fig = plots.fig3(model, cfg, split, n=3, seed=0, out=tmp_path / "fig3")
    assert grid_shape(fig) == (4, 10)  # donors row + 3 faces; (face, 3 cells, beard donor) for model and truth
    assert (tmp_path / "fig3.png").exists() and (tmp_path / "fig3.pdf").exists()
    assert grid_shape(plots.fig3(model, cfg, split, n=2, truth=False)) == (3, 4)
    faces, glasses, beards = plots.fig3_draw(split.labels, split.label_names, 3, seed=0)
    caption = fig._supxlabel.get_text()
    assert "default_rng(0)" in caption and f"faces {', '.join(map(str, faces))};" in caption
    assert f"beard donors {', '.join(map(str, beards))}." in caption and f"training seed {cfg.train.seed}" in caption


def test_fig3_draw_is_seeded_and_follows_its_rule():
    labels = np.array([[g, b] for g in (0, 1) for b in (0, 1)] * 10)  # 10 of each combination
    first = plots.fig3_draw(labels, ["glasses", "beard"], 3, seed=5)
    again = plots.fig3_draw(labels, ["glasses", "beard"], 3, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert any(not np.array_equal(a, b) for a, b in zip(first, plots.fig3_draw(labels, ["glasses", "beard"], 3, 6)))
    faces, glasses, beards = first
    assert (labels[faces] == 0).all() and (labels[glasses] == [1, 0]).all() and (labels[beards] == [0, 1]).all()


def test_fig3_needs_two_labels(glasses_runs):
    model, cfg = glasses_runs["PA1"]
    with pytest.raises(JdvaeError, match="glasses,beard"):
        plots.fig3(model, cfg, plots.test_split_of(glasses_runs))


def test_sample_grid_and_training_curves(glasses_runs, runs_dir, tmp_path):
    model, _ = glasses_runs["PA1"]
    assert grid_shape(training_plots.sample_grid(model, n=6)) == (2, 3)  # ceil(sqrt(6)) columns
    fig = training_plots.training_curves([runs_dir / "PA1-glasses-s0", runs_dir / "M2-glasses-s0"], out=tmp_path / "curves")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "recon", "val_bca"]
    assert len(fig.axes[0].lines) == 2
    assert (tmp_path / "curves.png").exists()
    with pytest.raises(JdvaeError, match="metrics.csv"):
        training_plots.training_curves([tmp_path / "nothing"])


def test_render_state_follows_u_and_pa1_gates_it_by_y(glasses_runs):
    model, cfg = glasses_runs["PA1"]
    split = plots.test_split_of(glasses_runs)
    base = widgets.encode_state(model, cfg, split, 0)
    assert widgets.render_state(model, base).shape == (32, 32, 3)
    on = widgets.State(y=np.ones_like(base.y), z=base.z, u=np.zeros_like(base.u))
    moved = widgets.State(y=on.y, z=on.z, u=on.u + 3.0)
    assert not np.array_equal(widgets.render_state(model, on), widgets.render_state(model, moved))
    off = widgets.State(y=np.zeros_like(base.y), z=base.z, u=on.u)  # PA1 decodes u * y: no effect while y = 0
    off_moved = widgets.State(y=off.y, z=off.z, u=moved.u)
    assert np.array_equal(widgets.render_state(model, off), widgets.render_state(model, off_moved))


def test_explorer_updates_its_image(glasses_runs):
    model, cfg = glasses_runs["PA1"]
    split = plots.test_split_of(glasses_runs)
    ex = widgets.Explorer(model, cfg, split, index=0, size=64)
    ex.y[0].value = 1.0
    before = ex.image.value
    ex.u[0][0].value = 2.5  # the slider's observer re-renders
    assert ex.image.value != before
    z_before = ex.state.z.copy()
    ex.resample_u(0)
    assert np.array_equal(ex.state.z, z_before)
    ex.sample_face()
    assert not np.array_equal(ex.state.z, z_before) and ex.state.y[0] == 1.0
    ex.index.value = 1
    assert np.allclose(ex.state.z, widgets.encode_state(model, cfg, split, 1).z)


def test_static_panel_writes_png(glasses_runs, tmp_path):
    for name in ("PA1", "M2"):
        model, cfg = glasses_runs[name]
        fig = widgets.static_panel(model, cfg, plots.test_split_of(glasses_runs), 0, out=tmp_path / name, n_z=2,
                                   steps=5)
        assert grid_shape(fig) == (model.u_dim + 2, 7)
        assert Image.open(tmp_path / f"{name}.png").size[1] > 0


@pytest.mark.parametrize("notebook, figure, extra", [
    (notebooks.FIG2, "fig2", []),
    (notebooks.FIG3, "fig3", []),
    (notebooks.EXPLORE, "explore_panel", ["-p", "model", "CCVAE2"]),
])
def test_notebook_runs_headless(notebook, figure, extra, runs_dir, tmp_path, launches):
    nb = notebooks.FOLDER / notebook
    cells = json.loads(nb.read_text())["cells"]
    assert all(not c.get("outputs") for c in cells if c["cell_type"] == "code"), "commit notebooks without outputs"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "papermill", str(nb), str(tmp_path / "out.ipynb"), "-p", "runs",
                    str(runs_dir), "-p", "out", str(tmp_path / "figs"), *extra, "--no-progress-bar", "--log-level",
                    "WARNING", "--cwd", str(tmp_path)], check=True, env=env, timeout=300)
    assert (tmp_path / "figs" / f"{figure}.png").stat().st_size > 0


def test_u_effects_measure_the_change_each_u_component_makes(glasses_runs):
    model, cfg = glasses_runs["PA1"]
    split = plots.test_split_of(glasses_runs)
    effect = widgets.u_effects(model, cfg, split, 0)
    assert effect.shape == (model.u_dim,) and (effect >= 0).all()
    base = widgets.encode_state(model, cfg, split, 0)
    y = base.y.copy()
    y[0] = 1.0
    lo, hi = (base.u.copy(), base.u.copy())
    lo[0, 1], hi[0, 1] = -widgets.SPAN, widgets.SPAN
    a, b = widgets.render_states(model, [widgets.State(y, base.z, lo), widgets.State(y, base.z, hi)])
    assert effect[1] == pytest.approx(np.abs(b.astype(np.float32) - a.astype(np.float32)).mean(), rel=1e-5)
    m2, m2_cfg = glasses_runs["M2"]
    assert widgets.u_effects(m2, m2_cfg, split, 0).shape == (0,)  # M2 has no u


def test_a_redrawn_figure_gives_the_same_pdf_bytes(tmp_path):
    """`make figures` from the shipped study must leave the committed PDFs unchanged: no creation date inside."""
    import time

    import matplotlib.pyplot as plt

    written = []
    for name in ("a", "b"):
        fig, ax = plt.subplots()
        ax.imshow(np.arange(16).reshape(4, 4))
        written.append(save_figure(fig, tmp_path / name, formats=("pdf",))[0].read_bytes())
        plt.close(fig)
        time.sleep(1.1)  # a creation date would now differ by a second
    assert written[0] == written[1]
