"""SynthFaces: a procedural face renderer with glasses and beards and known ground truth.

Numpy only. Each image is a pure function of its factors, and the factors are a pure
function of (seed, index), so the same (seed, index) gives the same bytes on every
machine: per-pixel work uses only +, -, *, /, sqrt, abs, min and max on float32 (no
transcendental functions, no reductions), and the pixel noise comes from
`np.random.default_rng([seed, index, size])`.

Shapes are signed-distance fields with a one-pixel linear coverage ramp (anti-aliasing).
Coordinates are normalised: x to the right and y downwards, both in [-1, 1].
Layers, back to front: background, hair (back), shirt, neck, face, nose, eyes, brows,
beard, mouth, hair (front), glasses, pixel noise. Glasses and beard are drawn over the
face and the noise does not depend on them, so removing either changes pixels only
inside its region (`label_mask`; `region_mask` dilates it for the region errors of the metrics).
"""
from __future__ import annotations

import numpy as np

from jdvae.data.factors import (  # noqa: F401  (the factor API is part of this module's interface)
    VERSION, SIZES, LABELS, GLASSES_SHAPES, BEARD_STYLES, FACTORS,
    HAIR_STYLES, GLASSES_FEATURES, BEARD_FEATURES, FEATURES, sample_factors,
    labels_of, subset, with_label_of, without_label, with_glasses_of,
    without_glasses, with_beard_of, without_beard,
)

# ---------------------------------------------------------------- rendering

def render(factors: dict[str, np.ndarray], size: int = 64, chunk: int = 128) -> np.ndarray:
    """Render the images of `factors` as uint8 (N, size, size, 3)."""
    if size not in SIZES:
        raise ValueError(f"size {size} not in {SIZES}")
    n = len(factors["index"])
    out = np.empty((n, size, size, 3), np.uint8)
    for start in range(0, n, chunk):
        part = subset(factors, slice(start, start + chunk))
        out[start:start + chunk] = _Painter(part, size).draw()
    return out


def label_mask(factors: dict[str, np.ndarray], size: int = 64, label: str = "glasses") -> np.ndarray:
    """Bool (N, size, size): the pixels the label's shape covers (all False where it is absent)."""
    painter = _Painter(factors, size)
    mask = np.zeros((len(factors["index"]), size, size), bool)
    rows = np.flatnonzero(factors[label])
    if len(rows):
        layers = painter.glasses_coverage(rows) if label == "glasses" else painter.beard_coverage(rows)
        for (ys, xs), cov in layers:
            mask[rows, ys, xs] |= cov > 0
    return mask


def region_mask(factors: dict[str, np.ndarray], size: int = 64, label: str = "glasses",
                radius: int | None = None, chunk: int = 128) -> np.ndarray:
    """Bool (N, size, size): `label_mask` dilated by `radius` pixels (default size // 32: 1, 2, 4 px)."""
    radius = max(1, size // 32) if radius is None else radius
    n = len(factors["index"])
    out = np.empty((n, size, size), bool)
    for start in range(0, n, chunk):
        out[start:start + chunk] = dilate(label_mask(subset(factors, slice(start, start + chunk)), size, label), radius)
    return out


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of bool (N, H, W) masks by a (2 radius + 1)-pixel square (two separable passes)."""
    for axis in (1, 2):
        grown, n = mask.copy(), mask.shape[axis]
        for s in range(1, min(radius, n - 1) + 1):
            lo, hi = [slice(None)] * 3, [slice(None)] * 3
            lo[axis], hi[axis] = slice(0, n - s), slice(s, n)
            grown[tuple(lo)] |= mask[tuple(hi)]
            grown[tuple(hi)] |= mask[tuple(lo)]
        mask = grown
    return mask


def _f32(x) -> np.ndarray:
    return np.asarray(x, np.float32)


class _Painter:
    """Draws one chunk of images into a float32 (N, S, S, 3) canvas."""

    def __init__(self, f: dict[str, np.ndarray], size: int):
        self.f, self.size = f, size
        self.px = np.float32(2.0 / size)
        self.c = _f32((2 * np.arange(size) + 1) / size - 1)  # pixel centres
        self.fx, self.fy = _f32(f["position"][:, 0]), _f32(f["position"][:, 1] + 0.03)
        self.a, self.b = _f32(f["face_width"]), _f32(f["face_height"])

    # --- geometry helpers: per-image parameters p are (N,); windows are index ranges
    def window(self, lo, hi) -> slice:
        """Pixel index range covering normalised [min(lo), max(hi)] with a 2-pixel margin."""
        j0 = int(np.floor((np.min(lo) + 1) / self.px)) - 2
        j1 = int(np.ceil((np.max(hi) + 1) / self.px)) + 2
        return slice(max(j0, 0), min(max(j1, 0), self.size))

    def grid(self, ys: slice, xs: slice):
        return self.c[ys][None, :, None], self.c[xs][None, None, :]  # (1,h,1), (1,1,w)

    def cov(self, d):
        """Coverage of a signed distance d (negative inside), a one-pixel linear ramp."""
        return np.clip(0.5 - d / self.px, 0, 1)

    def ellipse(self, y, x, cx, cy, rx, ry):
        """Approximate signed distance to an ellipse: f / |grad f| with f = |p/r|^2 - 1."""
        dx, dy = (x - cx[:, None, None]) / rx[:, None, None], (y - cy[:, None, None]) / ry[:, None, None]
        gx, gy = dx / rx[:, None, None], dy / ry[:, None, None]
        return (dx * dx + dy * dy - 1) / (2 * np.sqrt(gx * gx + gy * gy) + 1e-6)

    def band(self, v, centre, half):
        """Coverage of |v - centre| <= half for a separable coordinate v."""
        return self.cov(np.abs(v - centre[:, None, None]) - half[:, None, None])

    @staticmethod
    def paint(view, cov, color):
        """Blend `color` (N,3) or planes (3,N,h,w) over `view` (3,N,h,w) in place with coverage cov (N,h,w)."""
        for k in range(3):
            plane = view[k]
            c = color[:, k, None, None] if color.ndim == 2 else color[k]
            plane += cov * (c - plane)

    def paint_rows(self, rows, ys, xs, cov, color):
        view = self.img[:, rows, ys, xs]
        self.paint(view, cov, color)
        self.img[:, rows, ys, xs] = view

    # --- layers
    def draw(self) -> np.ndarray:
        f, n, s = self.f, len(self.fx), self.size
        self.img = np.empty((3, n, s, s), np.float32)  # colour planes
        y, x = self.grid(slice(None), slice(None))
        g = _f32(f["bg_gradient"]) * np.float32(0.22)
        shade = g[:, 0, None, None] * x + g[:, 1, None, None] * y  # (N,S,S)
        for k in range(3):
            np.add(shade, _f32(f["background"])[:, k, None, None], out=self.img[k])
        self.hair(front=False)
        self.body()
        self.face()
        self.eyes()
        if f["beard"].any():
            for (ys, xs), cov in self.beard_coverage(rows := np.flatnonzero(f["beard"])):
                self.paint_rows(rows, ys, xs, cov, _f32(f["beard_color"][rows]))
        self.mouth()
        self.hair(front=True)
        if f["glasses"].any():
            self.glasses(np.flatnonzero(f["glasses"]))
        self.add_noise()
        out = np.clip(self.img, 0, 1, out=self.img)
        out *= np.float32(255)
        out += np.float32(0.5)
        return out.astype(np.uint8).transpose(1, 2, 3, 0)  # (N,S,S,3)

    def hair(self, front: bool):
        f, a, b = self.f, self.a, self.b
        style = f["hair_style"]
        rows = np.flatnonzero(style != 3)  # bald: no hair
        if not len(rows):
            return
        long = style[rows] == 1
        fx, fy, a, b = self.fx[rows], self.fy[rows], a[rows], b[rows]
        cy = fy + np.where(long, 0.3 * b, -0.1 * b)
        rx = a * np.where(long, 1.22, 1.1)
        ry = b * np.where(long, 1.35, 1.0)
        if front:
            hairline = fy - b * np.select([style[rows] == 2, long], [0.33, 0.55], 0.62)
            ys = self.window(cy - ry, hairline + 0.2 * a)
        else:
            ys = self.window(cy - ry, cy + ry)
        xs = self.window(fx - rx, fx + rx)
        yy, xx = self.grid(ys, xs)
        cov = self.cov(self.ellipse(yy, xx, fx, cy, rx, ry))
        if front:
            tilt = _f32(f["hair_part"][rows]) * np.float32(0.35)
            line = hairline[:, None, None] + tilt[:, None, None] * (xx - fx[:, None, None])
            cov *= self.cov(yy - line)
        self.paint_rows(rows, ys, xs, cov, _f32(f["hair_color"][rows]))

    def body(self):
        f, fx, fy, a, b = self.f, self.fx, self.fy, self.a, self.b
        ys, xs = self.window(fy + 0.75 * b, 1), slice(None)
        yy, xx = self.grid(ys, xs)
        top = fy + b + 0.08
        shirt = self.cov(self.ellipse(yy, xx, fx * 0.5, top + 0.38, np.full_like(a, 0.9), np.full_like(a, 0.42)))
        self.paint(self.img[:, :, ys, xs], shirt, _f32(f["shirt_color"]))
        neck = self.band(xx, fx, 0.42 * a) * self.cov(fy[:, None, None] + 0.6 * b[:, None, None] - yy)
        self.paint(self.img[:, :, ys, xs], neck, _f32(f["skin"]) * np.float32(0.78))

    def face(self):
        f, fx, fy, a, b = self.f, self.fx, self.fy, self.a, self.b
        ys, xs = self.window(fy - b, fy + b), self.window(fx - a, fx + a)
        yy, xx = self.grid(ys, xs)
        cov = self.cov(self.ellipse(yy, xx, fx, fy, a, b))
        xn, yn = (xx - fx[:, None, None]) / a[:, None, None], (yy - fy[:, None, None]) / b[:, None, None]
        light = _f32(f["light"]) * np.float32(0.3)
        shade = 1 + light[:, 0, None, None] * xn + light[:, 1, None, None] * yn - 0.12 * (xn * xn + yn * yn)
        skin = _f32(f["skin"])
        self.paint(self.img[:, :, ys, xs], cov, np.stack([skin[:, k, None, None] * shade for k in range(3)]))
        # nose: a slightly darker ellipse
        ny = fy + 0.12 * b
        nose = self.cov(self.ellipse(yy, xx, fx, ny, 0.07 * a, 0.13 * b)) * np.float32(0.5)
        self.paint(self.img[:, :, ys, xs], nose, _f32(f["skin"]) * np.float32(0.8))

    def eye_geometry(self, rows=slice(None)):
        return self.fx[rows], self.fy[rows] - 0.12 * self.b[rows], 0.45 * self.a[rows]

    def eyes(self):
        f, a, b = self.f, self.a, self.b
        fx, ey, ex = self.eye_geometry()
        ys, xs = self.window(ey - 0.3 * b, ey + 0.1 * b), self.window(fx - a, fx + a)
        yy, xx = self.grid(ys, xs)
        mx = np.abs(xx - fx[:, None, None])  # mirrored x: both eyes at once
        zero = np.zeros_like(fx)
        white = self.cov(self.ellipse(yy, mx, ex, ey, 0.17 * a, 0.075 * b))
        self.paint(self.img[:, :, ys, xs], white, np.full((len(fx), 3), 0.95, np.float32))
        iris = self.cov(self.ellipse(yy, mx, ex, ey, 0.075 * b, 0.075 * b)) * white
        self.paint(self.img[:, :, ys, xs], iris, _f32(f["eye_color"]))
        pupil = self.cov(self.ellipse(yy, mx, ex, ey, 0.03 * b, 0.03 * b)) * white
        self.paint(self.img[:, :, ys, xs], pupil, np.full((len(fx), 3), 0.03, np.float32))
        brow = self.band(mx, ex, 0.19 * a) * self.band(yy, ey - 0.17 * b, np.maximum(0.025 * b, 0.5 * self.px) + zero)
        self.paint(self.img[:, :, ys, xs], brow, _f32(f["hair_color"]) * np.float32(0.85))

    def mouth(self):
        f, fx, fy, a, b = self.f, self.fx, self.fy, self.a, self.b
        my, mw = fy + 0.45 * b, a * (0.22 + 0.2 * _f32(f["mouth_width"]))
        ys, xs = self.window(my - 0.1 * b, my + 0.1 * b), self.window(fx - mw, fx + mw)
        yy, xx = self.grid(ys, xs)
        dx = (xx - fx[:, None, None]) / mw[:, None, None]
        bend = (_f32(f["mouth_smile"]) * 0.07 * b)[:, None, None]
        centre = my[:, None, None] + bend * (1 - dx * dx)
        lip = np.maximum(0.022 * b, 0.55 * self.px)[:, None, None]
        cov = self.cov(np.abs(yy - centre) - lip) * self.cov((np.abs(dx) - 1) * mw[:, None, None])
        self.paint(self.img[:, :, ys, xs], cov, _f32(f["skin"]) * _f32([0.55, 0.25, 0.25]))

    def beard_coverage(self, rows):
        """[(window, coverage)] of the beards of `rows`, one entry per style present."""
        f, out = self.f, []
        for style in range(3):
            r = rows[f["beard_style"][rows] == style]
            if not len(r):
                continue
            fx, fy, a, b = self.fx[r], self.fy[r], self.a[r], self.b[r]
            length = _f32(f["beard_length"][r])
            ys = self.window(fy + 0.05 * b, fy + b * (1.05 + 0.35 * length))
            xs = self.window(fx - a, fx + a)
            yy, xx = self.grid(ys, xs)
            if style == 0:  # full: cheeks and jaw, longer below the chin
                cov = self.cov(self.ellipse(yy, xx, fx, fy, 1.03 * a, b * (1.02 + 0.3 * length)))
                cov *= self.cov(fy[:, None, None] + 0.15 * b[:, None, None] - yy)
            elif style == 1:  # goatee with moustache
                cy, ry = fy + b * (0.72 + 0.1 * length), b * (0.2 + 0.12 * length)
                chin = self.cov(self.ellipse(yy, xx, fx, cy, 0.28 * a, ry))
                tash = self.cov(self.ellipse(yy, xx, fx, fy + 0.36 * b, 0.3 * a, 0.06 * b))
                cov = np.maximum(chin, tash)
            else:  # chin strap: a ring along the jaw
                outer = self.cov(self.ellipse(yy, xx, fx, fy, 1.02 * a, b * (1.02 + 0.15 * length)))
                inner = self.cov(self.ellipse(yy, xx, fx, fy - 0.1 * b, 0.86 * a, 0.9 * b))
                cov = outer * (1 - inner) * self.cov(fy[:, None, None] + 0.1 * b[:, None, None] - yy)
            out.append(((r, ys, xs), cov))
        return self._merge(rows, out)

    def _merge(self, rows, parts):
        """One (window, coverage) for `rows` from per-subset parts (windows unioned)."""
        ys = slice(min(p[0][1].start for p in parts), max(p[0][1].stop for p in parts))
        xs = slice(min(p[0][2].start for p in parts), max(p[0][2].stop for p in parts))
        cov = np.zeros((len(rows), ys.stop - ys.start, xs.stop - xs.start), np.float32)
        where = {int(r): i for i, r in enumerate(rows)}
        for (r, pys, pxs), c in parts:
            i = np.array([where[int(k)] for k in r])
            cov[i, pys.start - ys.start:pys.stop - ys.start, pxs.start - xs.start:pxs.stop - xs.start] = c
        return [((ys, xs), cov)]

    def glasses_geometry(self, rows):
        f, a = self.f, self.a[rows]
        fx, ey, ex = self.eye_geometry(rows)
        shape = f["glasses_shape"][rows]
        r = a * (0.26 + 0.12 * _f32(f["glasses_size"][rows]))
        bx = r * np.select([shape == 1, shape == 2], [1.06, 1.12], 1.0).astype(np.float32)
        by = r * np.select([shape == 1, shape == 2], [0.78, 0.72], 1.0).astype(np.float32)
        rr = r * np.select([shape == 1, shape == 2], [0.22, 0.55], 1.0).astype(np.float32)
        rr = np.minimum(rr, np.minimum(bx, by))
        shear = np.where(shape == 2, 0.55, 0.0).astype(np.float32)
        t = np.maximum(0.03 + 0.06 * _f32(f["glasses_thickness"][rows]), self.px)
        return fx, ey, ex, bx, by, rr, shear, t, a

    def glasses_coverage(self, rows):
        """[(window, lens coverage), (window, frame coverage)] for the glasses of `rows`."""
        fx, ey, ex, bx, by, rr, shear, t, a = self.glasses_geometry(rows)
        ys = self.window(ey - by - t - 0.6 * shear * bx - 0.05, ey + by + t)
        xs = self.window(fx - a - t, fx + a + t)
        yy, xx = self.grid(ys, xs)
        e = lambda p: p[:, None, None]  # noqa: E731
        mx = np.abs(xx - e(fx)) - e(ex)  # (N,1,w), distance from the lens centre, positive outwards
        # cat-eye: the upper edge rises towards the temple
        lift = e(shear) * np.maximum(mx, 0) * (yy < e(ey))
        qx = np.abs(mx) - e(bx - rr)
        qy = np.abs(yy - e(ey) + lift) - e(by - rr)
        ox, oy = np.maximum(qx, 0), np.maximum(qy, 0)
        d = np.sqrt(ox * ox + oy * oy) + np.minimum(np.maximum(qx, qy), 0) - e(rr)  # rounded box
        lens = self.cov(d)
        frame = self.cov(np.abs(d) - e(t) / 2)
        bar_y = ey - 0.35 * by
        inner = np.maximum(ex - bx, 0)
        bridge = self.band(xx, fx, inner + 0.5 * t) * self.band(yy, bar_y, 0.4 * t)
        temple_half = np.maximum((a - ex - bx) / 2, 0)
        temple = self.band(mx, bx + temple_half, temple_half) * self.band(yy, bar_y, 0.4 * t)
        return [((ys, xs), lens), ((ys, xs), np.maximum(frame, np.maximum(bridge, temple)))]

    def glasses(self, rows):
        f = self.f
        ((ys, xs), lens), (_, frame) = self.glasses_coverage(rows)
        tint = _f32(f["glasses_tint"][rows])
        color = _f32(f["glasses_color"][rows])
        view = self.img[:, rows, ys, xs]
        # clear lenses add a faint white sheen; tinted ones darken towards a shade of the frame colour
        w = np.clip(tint * 3, 0, 1)[:, None]
        lens_color = (1 - w) + w * (0.04 + 0.22 * color)
        alpha = 0.15 + 0.8 * tint
        self.paint(view, lens * alpha[:, None, None], lens_color)
        self.paint(view, frame, color)
        self.img[:, rows, ys, xs] = view

    def add_noise(self):
        """Uniform pixel noise with std `noise`, from default_rng([seed, index, size])."""
        f, s = self.f, self.size
        for i, (seed, index, sd) in enumerate(zip(f["seed"], f["index"], f["noise"])):
            if sd > 0:
                raw = np.frombuffer(np.random.default_rng([int(seed), int(index), s]).bytes(3 * s * s), np.uint8)
                scale = np.float32(sd * np.sqrt(12.0) / 255.0)
                self.img[:, i] += (raw.reshape(3, s, s).astype(np.float32) - np.float32(127.5)) * scale
