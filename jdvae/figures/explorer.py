"""Interactive exploration of a trained model's latents (y, z, u) in JupyterLab, and a static panel for headless runs.

The decoding is one pure function, `render_state`, so it is testable without a browser;
`Explorer` only maps ipywidgets values to a `State` and shows the rendered PNG.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
import torch
from matplotlib.figure import Figure

from jdvae.data.splits import Split
from jdvae.evaluate.swaps import encode_means
from jdvae.figures.common import CELL_INCHES, PanelFigure, labels_for, model_inputs, save_figure, to_uint8

SPAN = 3.0  # slider range: ±3 standard deviations of the N(0, I) priors of z and u (given y = 1)


@dataclass(frozen=True)
class State:
    """The decoder's inputs for one image: labels y (K,), face latent z (Z,), label features u (K, U)."""

    y: np.ndarray
    z: np.ndarray
    u: np.ndarray


def encode_state(model, cfg, split: Split, index: int) -> State:
    """Posterior means of test image `index` with its ground-truth labels: y, z = mu_z, u = mu_u."""
    x, y = model_inputs(model, cfg, split, [index])
    lat = encode_means(model, x, y)
    return State(y=lat.y[0].cpu().numpy().astype(np.float32), z=lat.z[0].cpu().numpy().astype(np.float32),
                 u=lat.u[0].cpu().numpy().astype(np.float32))


@torch.inference_mode()
def render_states(model, states: list[State]) -> np.ndarray:
    """Decode a list of states in one batch: uint8 (N, S, S, 3)."""
    dev = model.device
    y = torch.from_numpy(np.stack([s.y for s in states])).float().to(dev)  # (N, K)
    z = torch.from_numpy(np.stack([s.z for s in states])).float().to(dev)  # (N, Z)
    u = torch.from_numpy(np.stack([s.u for s in states])).float().to(dev)  # (N, K, U)
    return to_uint8(model.decode(y, z, u))


def render_state(model, state: State) -> np.ndarray:
    """The image the decoder draws from `state`: uint8 (S, S, 3)."""
    return render_states(model, [state])[0]


def to_png(images: list[np.ndarray], size: int = 256, gap: int = 8) -> bytes:
    """Images side by side, each upscaled to size x size (nearest neighbour), as PNG bytes."""
    from PIL import Image

    canvas = Image.new("RGB", (len(images) * size + (len(images) - 1) * gap, size), (255, 255, 255))
    for i, img in enumerate(images):
        canvas.paste(Image.fromarray(img).resize((size, size), Image.NEAREST), (i * (size + gap), 0))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------- static panel
def u_effects(model, cfg, split: Split, index: int, label: int = 0, span: float = SPAN) -> np.ndarray:
    """How much each component of u_label changes the image: mean |decode(u_j = +span) − decode(u_j = −span)|.

    With y_label = 1, the other latents at image `index`'s posterior means; float (U,) in 0–255 pixel units."""
    base = encode_state(model, cfg, split, index)
    y = base.y.copy()
    y[label] = 1.0
    states = []
    for j in range(base.u.shape[1]):
        for v in (-span, span):
            u = base.u.copy()
            u[label, j] = v
            states.append(replace(base, y=y, u=u))
    if not states:
        return np.zeros(0, np.float32)
    images = render_states(model, states).astype(np.float32).reshape(base.u.shape[1], 2, -1)  # (U, 2, S*S*3)
    return np.abs(images[:, 1] - images[:, 0]).mean(1)


def first_with_label(split: Split, k: int = 0) -> int:
    """Index of the first image of `split` that has label k (0 when none has it)."""
    hits = np.flatnonzero(np.asarray(split.labels)[:, k] == 1)
    return int(hits[0]) if len(hits) else 0


def static_panel(model, cfg, split: Split, index: int = 0, out=None, n_z: int = 4, steps: int = 7,
                 span: float = SPAN, n_u: int | None = None) -> Figure:
    """Traversals of one image: the u_k components (absolute, with y_k = 1), those that change the image most
    first (`n_u` of them, default all), then the first z components (offsets)."""
    base = encode_state(model, cfg, split, index)
    values = np.linspace(-span, span, steps, dtype=np.float32)
    rows: list[tuple[str, list[State]]] = []
    for k, name in enumerate(cfg.data.labels):
        y = base.y.copy()
        y[k] = 1.0  # u_k describes the label's features; show them with the label present
        effect = u_effects(model, cfg, split, index, k, span)  # (U,) mean pixel change over the row
        for j in np.argsort(-effect, kind="stable")[:n_u]:
            states = []
            for v in values:
                u = base.u.copy()
                u[k, j] = v
                states.append(replace(base, y=y, u=u))
            rows.append((f"u_{name}[{j}]\n({name}=1, Δ {effect[j]:.1f})", states))
    for j in range(min(n_z, base.z.shape[0])):
        states = []
        for v in values:
            z = base.z.copy()
            z[j] += v
            states.append(replace(base, z=z))
        rows.append((f"z[{j}] + Δ", states))

    ncols = steps + 2
    fig = PanelFigure(figsize=(ncols * CELL_INCHES * 0.8, (len(rows) + 0.4) * CELL_INCHES * 0.8), layout="constrained")
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    recon = render_state(model, base)
    for r, (label, states) in enumerate(rows):
        images = render_states(model, states)
        if r == 0:
            axes[r, 0].imshow(split.images[index], interpolation="nearest")
            axes[r, 0].set_title("original", fontsize=7)
            axes[r, 1].imshow(recon, interpolation="nearest")
            axes[r, 1].set_title("reconstruction", fontsize=7)
        else:
            axes[r, 0].set_visible(False)
            axes[r, 1].set_visible(False)
        for c, img in enumerate(images):
            axes[r, 2 + c].imshow(img, interpolation="nearest")
            if r == 0:
                axes[r, 2 + c].set_title(f"{values[c]:+.1f}", fontsize=7)
        axes[r, 2].set_ylabel(label, fontsize=6, rotation=0, ha="right", va="center")
    truth = ", ".join(f"{n}={int(v)}" for n, v in zip(cfg.data.labels, base.y))
    note = "" if base.u.shape[1] else f" ({cfg.model.name} has no u: only z is traversed)"
    fig.suptitle(f"{cfg.model.name} ({cfg.profile}): traversals of test image {index} ({truth}){note}", fontsize=9)
    if out is not None:
        save_figure(fig, out)
    return fig


# ----------------------------------------------------------------- Explorer
class Explorer:
    """ipywidgets UI: pick a test image, move sliders for u (per label) and z, toggle y, sample z or u; the image follows."""

    def __init__(self, model, cfg, split: Split, index: int = 0, n_z: int = 8, span: float = SPAN,
                 size: int = 256, seed: int = 0):
        import ipywidgets as W

        self.model, self.cfg, self.split, self.size = model, cfg, split, size
        self.generator = torch.Generator().manual_seed(seed)
        self._hold = False
        U = model.u_dim
        self.n_z = min(n_z, model.z_dim)
        self.base_z = np.zeros(model.z_dim, np.float32)  # the face latent the z offsets move around

        self.index = W.IntSlider(value=index, min=0, max=len(split) - 1, description="test image",
                                 continuous_update=False, style={"description_width": "initial"})
        self.y = [W.ToggleButtons(options=[("no", 0.0), ("yes", 1.0)], description=name,
                                  style={"button_width": "48px"}) for name in cfg.data.labels]
        slider = dict(min=-span, max=span, step=0.05, continuous_update=True, readout_format=".2f",
                      layout=W.Layout(width="360px"), style={"description_width": "100px"})
        self.u = [[W.FloatSlider(value=0.0, description=f"u_{name}[{j}]", **slider) for j in range(U)]
                  for name in cfg.data.labels]
        self.dz = [W.FloatSlider(value=0.0, description=f"Δz[{j}]", **slider) for j in range(self.n_z)]
        self.sample_button = W.Button(description="Sample new face", tooltip="z from the prior N(0, I); keeps y and u")
        self.resample_buttons = [W.Button(description=f"Resample u_{name}", tooltip=f"u_{name} ~ p(u | y)",
                                          disabled=U == 0) for name in cfg.data.labels]
        self.reset_button = W.Button(description="Back to the image", tooltip="posterior means of the test image")
        self.image = W.Image(format="png", layout=W.Layout(width=f"{2 * size + 8}px", height=f"{size}px"))
        self.image.add_class("jdvae-explorer-image")
        self.info = W.HTML()

        self.index.observe(lambda _: self.set_index(self.index.value), names="value")
        for w in self.y + [s for row in self.u for s in row] + self.dz:
            w.observe(self._changed, names="value")
        self.sample_button.on_click(lambda _: self.sample_face())
        for k, b in enumerate(self.resample_buttons):
            b.on_click(lambda _, k=k: self.resample_u(k))
        self.reset_button.on_click(lambda _: self.set_index(self.index.value))

        u_columns = [W.VBox([W.HTML(f"<b>features of {name}</b>")] + self.u[k])
                     for k, name in enumerate(cfg.data.labels) if U]
        self.widget = W.VBox([
            W.HTML(f"<b>{cfg.model.name}</b> ({cfg.profile} profile): original (left) and decoded (right)"),
            self.index, self.image, self.info,
            W.HBox(self.y),
            W.HBox([self.sample_button, *self.resample_buttons, self.reset_button]),
            W.HBox(u_columns + [W.VBox([W.HTML("<b>face latent z</b> (offsets from the current face)")] + self.dz)]),
        ])
        self.widget.add_class("jdvae-explorer")
        self.set_index(index)

    # state <-> widgets
    @property
    def state(self) -> State:
        """The decoder inputs the widgets describe now."""
        z = self.base_z.copy()
        z[:self.n_z] += np.array([s.value for s in self.dz], np.float32)
        u = np.array([[s.value for s in row] for row in self.u], np.float32).reshape(len(self.u), self.model.u_dim)
        return State(y=np.array([t.value for t in self.y], np.float32), z=z, u=u)

    def _set(self, y=None, u=None, dz=None) -> None:
        """Move widgets without re-rendering for each one, then render once."""
        self._hold = True
        try:
            if y is not None:
                for t, v in zip(self.y, y):
                    t.value = float(v)
            if u is not None:
                for row, vals in zip(self.u, u):
                    for s, v in zip(row, vals):
                        s.value = float(np.clip(v, s.min, s.max))
            if dz is not None:
                for s, v in zip(self.dz, dz):
                    s.value = float(v)
        finally:
            self._hold = False
        self.render()

    def _changed(self, _change=None) -> None:
        if not self._hold:
            self.render()

    # actions
    def set_index(self, index: int) -> None:
        """Load the posterior means of test image `index` (ground-truth y)."""
        if self.index.value != index:
            self.index.value = index  # its observer calls back here
            return
        s = encode_state(self.model, self.cfg, self.split, index)
        self.base_z = s.z
        self._set(y=s.y, u=s.u, dz=np.zeros(self.n_z))

    def sample_face(self) -> None:
        """A new face: z ~ N(0, I); y and u stay."""
        self.base_z = torch.randn(self.model.z_dim, generator=self.generator).numpy().astype(np.float32)
        self._set(dz=np.zeros(self.n_z))

    def resample_u(self, k: int) -> None:
        """New features for label k: u_k ~ p(u_k | y_k) (zero for PA1 with y_k = 0)."""
        y = torch.from_numpy(self.state.y[None])  # (1, K)
        with torch.inference_mode():
            u_k = self.model.sample_u(y.to(self.model.device), self.generator)[0, k].cpu().numpy()
        u = self.state.u.copy()
        u[k] = u_k
        self._set(u=u)

    def render(self) -> np.ndarray:
        """Decode the current state and show it beside the original."""
        decoded = render_state(self.model, self.state)
        self.image.value = to_png([self.split.images[self.index.value], decoded], self.size)
        y = labels_for(self.cfg, self.split, [self.index.value])[0]
        truth = ", ".join(f"{n}={int(v)}" for n, v in zip(self.cfg.data.labels, y))
        gated = [n for n, v in zip(self.cfg.data.labels, self.state.y) if v == 0 and self.model.structure.u_gated]
        note = f" &nbsp; ({self.cfg.model.name} multiplies u by y: u_{', u_'.join(gated)} has no effect while its y is no)" \
            if gated and self.model.u_dim else ""
        self.info.value = f"test image {self.index.value}: {truth}{note}"
        return decoded

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
