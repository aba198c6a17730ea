"""Table 1 metrics (paper section 3) and the SynthFaces-only measures (docs/synthfaces.md).

- SR(-) / SR(+): share of removals the judge classifies y=0 / additions classified y=1.
- BCA: (TPR + TNR) / 2 of the model's own classifier on the whole test split.
- LPIPS between the pair images and their reconstructions (see lpips_metric.py).
- Counterfactual error (SynthFaces): MSE and SSIM between each swap and the true
  counterfactual rendering, beside the same distances for a plain reconstruction.
- Validity: R(+) / R(-), the shares of plain reconstructions of the pair
  images with / without the label that the judge reads as such; on SynthFaces also the judge's
  read of the true counterfactuals (truth_add_read, truth_remove_read).
- Region error (SynthFaces): MSE of each swap to its true counterfactual
  inside the dilated label mask, and the share of the plain reconstruction's error there that
  the swap closes; and the donor match, the share of additions whose colour where the label goes
  is nearer the true donor's than another donor's (chance 50 %).
- Feature transfer (SynthFaces): are the glasses added to I_w those of I_g, read by the
  judge's feature head. Leakage: ridge-probe R^2 of the glasses features from mu_u and mu_z.
SR, R(±), the truth reads and BCA are returned in percent, as in the paper's table. With several judges
every judged rate is read by each (`{rate}@j{j}/{label}`, and per pair outcomes.JUDGED) and the plain
`{rate}/{label}` is their mean; the swaps are decoded once for all of them.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from jdvae.report import stats
from jdvae.report.outcomes import by_judge
from jdvae.vae.losses import reconstruction
from jdvae.evaluate.pairs import draw_pairs
from jdvae.evaluate.truth import counterfactual_factors, glasses_feature_matrix, glasses_targets
from jdvae.evaluate.swaps import Latents, decode, encode_means, exchanged, to_tensor


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """BCA = (TPR + TNR) / 2 of binary labels as a fraction, None when one class is absent (the definition is
    report/stats.py's, on one set of images)."""
    bca = float(stats.balanced_accuracy(np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)))
    return None if np.isnan(bca) else bca / 100


def success_rate(probs: Tensor | np.ndarray, target: int) -> float | None:
    """Share of images the judge classifies as `target` (P(y=1) > 0.5 means y=1); None for no image."""
    pred = np.asarray(probs).reshape(-1) > 0.5
    return float((pred == bool(target)).mean()) if len(pred) else None


def _gaussian_window(size: int, sigma: float) -> Tensor:
    g = torch.exp(-((torch.arange(size) - (size - 1) / 2) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]  # (size, size)


def ssim(a: Tensor, b: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Per-image SSIM (B,) (Wang et al. 2004; gaussian window, valid region) of images in [-1, 1]."""
    a, b = (a.float() + 1) / 2, (b.float() + 1) / 2  # data range 1
    c = a.shape[1]
    window = min(window, a.shape[-1], a.shape[-2])
    w = _gaussian_window(window, sigma).to(a).expand(c, 1, window, window)  # (C, 1, k, k)
    blur = lambda t: F.conv2d(t, w, groups=c)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a ** 2, blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


def ridge_r2(x_train: np.ndarray, t_train: np.ndarray, x_test: np.ndarray, t_test: np.ndarray,
             lam: float = 1.0) -> float | None:
    """R^2 on test of a closed-form ridge probe t = x W + b fit on train (uniform mean over target columns)."""
    if x_train.shape[1] == 0 or len(x_train) < 2 or len(x_test) < 2:
        return None
    mx, sx = x_train.mean(0), x_train.std(0) + 1e-8
    mt = t_train.mean(0)
    xs = (x_train - mx) / sx  # (N, D)
    w = np.linalg.solve(xs.T @ xs + lam * np.eye(xs.shape[1]), xs.T @ (t_train - mt))  # (D, F)
    pred = (x_test - mx) / sx @ w + mt
    ss_tot = ((t_test - t_test.mean(0)) ** 2).sum(0)
    ok = ss_tot > 1e-12
    if not ok.any():
        return None
    return float(np.mean(1 - ((t_test - pred) ** 2).sum(0)[ok] / ss_tot[ok]))


def region_mse(a: Tensor, b: Tensor, mask: Tensor) -> Tensor:
    """Per-image MSE (B,) over the pixels of bool masks (B, H, W), channels averaged; NaN for an empty mask."""
    se = ((a.float() - b.float()) ** 2).mean(1)  # (B, H, W)
    m = mask.to(se)
    return (se * m).flatten(1).sum(1) / m.flatten(1).sum(1)


def closed_share(err_swap: Tensor, err_base: Tensor) -> tuple[float | None, float | None]:
    """1 − Σ err(swap, truth) / Σ err(recon, truth) over the pairs, and its delta-method SE."""
    ok = ~(err_swap.isnan() | err_base.isnan())
    e_s, e_r = err_swap[ok].double(), err_base[ok].double()
    if len(e_s) == 0 or float(e_r.mean()) <= 0:
        return None, None
    ratio = e_s.mean() / e_r.mean()
    se = (e_s - ratio * e_r).std(unbiased=False) / (e_r.mean() * len(e_s) ** 0.5) if len(e_s) > 1 else None
    return float(1 - ratio), (None if se is None else float(se))


def masked_colour(x: Tensor, mask: Tensor) -> Tensor:
    """Mean colour (B, 3) of images (B, 3, H, W) over bool masks (B, H, W); NaN for an empty mask."""
    m = mask.to(x.dtype)[:, None]  # (B, 1, H, W)
    return (x.float() * m).flatten(2).sum(2) / m.flatten(2).sum(2)


def donor_outcomes(swap: Tensor, truth: Tensor, mask: Tensor, other: Tensor, mask_other: Tensor) -> np.ndarray:
    """Per pair (B,): 1 when the swap's colour where the label goes is nearer the true donor's than another
    donor's, 0 when not, NaN when not scored (the two donors look alike there, or a mask is empty).

    `truth` is the face wearing its donor's label (its pixels in `mask`), `other` the same face wearing
    another donor's (in `mask_other`); chance is 50 %, the true counterfactual scores 1 on every scored pair."""
    c_other = masked_colour(other, mask_other)  # (B, 3)
    d_own = (masked_colour(swap, mask) - masked_colour(truth, mask)).norm(dim=1)
    d_other = (masked_colour(swap, mask_other) - c_other).norm(dim=1)
    apart = (masked_colour(truth, mask_other) - c_other).norm(dim=1) > 1e-3
    ok = apart & ~(d_own.isnan() | d_other.isnan())
    return np.where(ok.numpy(), (d_own < d_other).double().numpy(), np.nan)


def donor_match(swap: Tensor, truth: Tensor, mask: Tensor, other: Tensor, mask_other: Tensor) -> float | None:
    """Percent of the scored pairs (donor_outcomes not NaN) whose swap wears the true donor's colour."""
    hits = donor_outcomes(swap, truth, mask, other, mask_other)
    return _pct(float(np.nanmean(hits))) if (~np.isnan(hits)).any() else None


# ---------------------------------------------------------------- one model
@torch.inference_mode()
def _encode_all(model, images: np.ndarray, y: Tensor, device, batch_size: int, progress: bool = False) -> Latents:
    from tqdm.auto import tqdm

    starts = tqdm(range(0, len(images), batch_size), desc="encode", leave=False, disable=not progress)
    parts = [encode_means(model, to_tensor(images[i:i + batch_size], device), y[i:i + batch_size].to(device))
             for i in starts]
    return Latents(*(torch.cat([getattr(p, f).cpu() for p in parts]) for f in Latents._fields))


@torch.inference_mode()
def _decode_all(model, lat: Latents, device, batch_size: int) -> Tensor:
    return torch.cat([decode(model, Latents(*(t[i:i + batch_size].to(device) for t in lat))).cpu()
                      for i in range(0, len(lat.z), batch_size)])


@torch.inference_mode()
def _classify_all(model, images: np.ndarray, device, batch_size: int) -> np.ndarray:
    return torch.cat([model.classify(to_tensor(images[i:i + batch_size], device)).cpu()
                      for i in range(0, len(images), batch_size)]).numpy()


def _pct(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


def evaluate_model(model, test, labels: tuple[str, ...], judge, lpips=None, pair_seed: int = 0, train=None,
                   renderer=None, device="cpu", batch_size: int = 128, probe_max: int = 2000,
                   progress: bool = False, outcomes: dict | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Every metric of one trained model on the test split: ({'sr_minus/glasses': ..., ...}, notes).

    `judge` is one judge or a sequence of them (the first also reads the glasses features). `outcomes`, when
    given, receives the per-pair arrays behind the rates and errors as {'sr_plus|glasses': array, ...} (their
    names: report/outcomes.py)."""
    keep = outcomes if outcomes is not None else {}
    judges = list(judge) if isinstance(judge, (list, tuple)) else [judge]
    judge = judges[0]
    model.eval()
    images = test.images  # uint8 (N, S, S, 3); converted batch by batch
    y = torch.from_numpy(test.labels).float()  # (N, K)
    lat = _encode_all(model, images, y, device, batch_size, progress)  # on CPU
    probs = _classify_all(model, images, device, batch_size)  # (N, K)
    factors = test.factors
    m: dict[str, Any] = {"lpips": None}
    notes: dict[str, str] = {}
    if lpips is None or not lpips.available:
        notes["lpips"] = "unavailable: " + (lpips.reason if lpips is not None else "not computed")
    elif test.labels[:, 0].all() or not test.labels[:, 0].any():
        notes["lpips"] = f"undefined: no pairs for {labels[0]}"
    for k, name in enumerate(labels):
        m[f"bca/{name}"] = _pct(balanced_accuracy(test.labels[:, k], probs[:, k] > 0.5))
        keep[f"bca_true|{name}"], keep[f"bca_pred|{name}"] = test.labels[:, k] > 0.5, probs[:, k] > 0.5
        pairing = draw_pairs(test.labels[:, k], pair_seed, name)
        m[f"pairs/{name}"] = len(pairing)
        if pairing.note:
            notes[f"pairs/{name}"] = pairing.note
        if not pairing.defined:
            for key in ("sr_minus", "sr_plus", "r_plus", "r_minus"):
                m[f"{key}/{name}"] = None
            continue
        g, w = pairing.g, pairing.w
        removal = _decode_all(model, exchanged(lat.take(g), lat.take(w), k, 0.0), device, batch_size)  # (P, 3, S, S)
        addition = _decode_all(model, exchanged(lat.take(w), lat.take(g), k, 1.0), device, batch_size)
        keep[f"g|{name}"], keep[f"w|{name}"] = g, w
        _read_by(judges, removal, name, 0, "sr_minus", keep)
        _read_by(judges, addition, name, 1, "sr_plus", keep)
        pair_idx = np.concatenate([g, w])
        originals = to_tensor(images[pair_idx])  # (2P, 3, S, S)
        recon = _decode_all(model, lat.take(pair_idx), device, batch_size)  # I_g then I_w
        for j, jd in enumerate(judges):  # one reading of all 2P reconstructions per judge
            probs_recon = jd.prob(recon, name)
            keep[f"{by_judge('r_plus', j)}|{name}"] = _reads(probs_recon[:len(g)], 1)  # faces with the label
            keep[f"{by_judge('r_minus', j)}|{name}"] = _reads(probs_recon[len(g):], 0)
        keep[f"recon_mse|{name}"] = reconstruction(recon, originals).numpy()  # (2P,)
        keep[f"recon_ssim|{name}"] = ssim(recon, originals).numpy()
        if k == 0 and lpips is not None and lpips.available:  # LPIPS on the pair images of the first label
            keep[f"lpips|{name}"] = torch.cat([lpips(originals[i:i + batch_size].to(device),
                                                     recon[i:i + batch_size].to(device)).cpu().reshape(-1)
                                               for i in range(0, len(pair_idx), batch_size)]).numpy()
            m["lpips"] = float(keep[f"lpips|{name}"].mean())
        if renderer is not None and factors is not None:
            m.update(_synthfaces_measures(renderer, factors, pairing, name, judges, addition, removal, recon,
                                          originals, keep))
        for key in ("recon_mse", "recon_ssim"):
            m[f"{key}/{name}"] = _mean_pct(keep[f"{key}|{name}"], False)
        for key in ("sr_minus", "sr_plus", "r_plus", "r_minus"):
            m.update(_judged_means(keep, key, name, len(judges)))
        if name == "glasses" and train is not None and factors is not None and train.factors is not None:
            m.update(_leakage(model, train, lat, factors, test.labels[:, k], k, device, batch_size, probe_max, notes))
    return m, notes


def _reads(probs, target: int) -> np.ndarray:
    """Per image 1 when the judge reads it as `target` (P(y=1) > 0.5 means y=1), else 0."""
    return ((np.asarray(probs).reshape(-1) > 0.5) == bool(target)).astype(np.int8)


def _read_by(judges, images: Tensor, name: str, target: int, measure: str, keep: dict) -> None:
    """Every judge's per-image reading of `images` as `target`, into keep under the measure's judged names."""
    for j, judge in enumerate(judges):
        keep[f"{by_judge(measure, j)}|{name}"] = _reads(judge.prob(images, name), target)


def _judged_means(keep: dict, measure: str, name: str, n_judges: int) -> dict[str, float | None]:
    """`measure/name` in percent as the mean over the judges, and with several judges each one's own."""
    each = [_mean_pct(keep[f"{by_judge(measure, j)}|{name}"], True) for j in range(n_judges)]
    out = {f"{measure}/{name}": None if None in each else float(np.mean(each))}
    if n_judges > 1:
        out.update({f"{measure}@j{j}/{name}": v for j, v in enumerate(each)})
    return out


def _mean_pct(values, percent: bool) -> float | None:
    """The mean of per-pair values (in percent for 0/1 outcomes); None for no pair."""
    v = np.asarray(values, dtype=np.float64)
    return None if not len(v) else float(v.mean()) * (100.0 if percent else 1.0)


def _synthfaces_measures(renderer, factors, pairing, name: str, judges, addition: Tensor, removal: Tensor,
                         recon: Tensor, originals: Tensor, keep: dict | None = None) -> dict[str, float | None]:
    """Every swap against its true counterfactual (docs/synthfaces.md): whole-image and region errors, the donor's
    colour, the judges' read of the true counterfactuals, the feature transfer read by the first judge."""
    keep = keep if keep is not None else {}
    judges = list(judges) if isinstance(judges, (list, tuple)) else [judges]
    judge = judges[0]
    g, w, size = pairing.g, pairing.w, originals.shape[-1]
    f_add, f_g, f_remove = counterfactual_factors(renderer, factors, g, w, name)
    added, removed = to_tensor(renderer.render(f_add, size)), to_tensor(renderer.render(f_remove, size))
    # the judge on perfect swaps: can it see the label appear and vanish at all?
    _read_by(judges, added, name, 1, "truth_add_read", keep)
    _read_by(judges, removed, name, 0, "truth_remove_read", keep)
    m = {f"cf_add_mse/{name}": float(reconstruction(addition, added).mean()),
         f"cf_add_ssim/{name}": float(ssim(addition, added).mean()),
         f"cf_remove_mse/{name}": float(reconstruction(removal, removed).mean()),
         f"cf_remove_ssim/{name}": float(ssim(removal, removed).mean()),
         **_judged_means(keep, "truth_add_read", name, len(judges)),
         **_judged_means(keep, "truth_remove_read", name, len(judges))}
    recon_g, recon_w = recon[:len(g)], recon[len(g):]
    for kind, swapped, truth, plain, f_region in (("add", addition, added, recon_w, f_add),
                                                  ("remove", removal, removed, recon_g, f_g)):
        mask = torch.from_numpy(renderer.region_mask(f_region, size, name))  # (P, S, S): where the label is or goes
        err_swap, err_plain = region_mse(swapped, truth, mask), region_mse(plain, truth, mask)
        keep[f"region_{kind}_swap|{name}"], keep[f"region_{kind}_plain|{name}"] = err_swap.numpy(), err_plain.numpy()
        m[f"region_{kind}_mse/{name}"] = float(err_swap.nanmean())
        m[f"region_{kind}_closed/{name}"], m[f"region_{kind}_closed_se/{name}"] = closed_share(err_swap, err_plain)
    # whose label was added: the donor's, or any other's? Against the same face wearing the next pair's donor's.
    f_other = renderer.with_label_of(renderer.subset(factors, w), renderer.subset(factors, np.roll(g, 1)), name,
                                     present=True)
    other = to_tensor(renderer.render(f_other, size))
    hits = donor_outcomes(addition, added, torch.from_numpy(renderer.label_mask(f_add, size, name)),
                          other, torch.from_numpy(renderer.label_mask(f_other, size, name)))
    keep[f"donor_match|{name}"] = hits
    scored = int((~np.isnan(hits)).sum())  # the n of the donor-colour rate: pairs whose donors differ there
    m[f"donor_match/{name}"] = _pct(float(np.nanmean(hits))) if scored else None
    m[f"donor_scored/{name}"] = scored
    if name == "glasses" and getattr(judge, "has_features", False):
        m.update(_feature_transfer(judge, addition, factors, g, "transfer"))  # the model's additions
        m.update(_feature_transfer(judge, added, factors, g, "transfer_ref"))  # the true ones: the judge's ceiling
    return m


def _feature_transfer(judge, images: Tensor, factors, g: np.ndarray, prefix: str) -> dict[str, float]:
    """Are the glasses in `images` those of I_g: frame-shape accuracy, colour and tint mean absolute errors."""
    read = judge.features(images)
    shape, colour, tint = glasses_targets(factors, g)
    return {f"{prefix}_shape_acc/glasses": 100.0 * float((read.shape_logits.argmax(1).numpy() == shape).mean()),
            f"{prefix}_colour_mae/glasses": float(np.abs(read.colour.numpy() - colour).mean()),
            f"{prefix}_tint_mae/glasses": float(np.abs(read.tint.numpy() - tint).mean())}


def _leakage(model, train, test_lat: Latents, test_factors, test_labels_k, k, device, batch_size, probe_max, notes):
    """Ridge-probe R^2 of the glasses features from mu_u[k] and from mu_z (fit on train, scored on test)."""
    tr = np.flatnonzero(train.labels[:, k] == 1)
    tr = np.sort(np.random.default_rng(0).choice(tr, size=min(probe_max, len(tr)), replace=False))
    te = np.flatnonzero(test_labels_k == 1)
    if len(tr) < 2 or len(te) < 2:
        notes["r2_u/glasses"] = notes["r2_z/glasses"] = "undefined: too few images with glasses"
        return {"r2_u/glasses": None, "r2_z/glasses": None}
    lat_tr = _encode_all(model, train.images[tr], torch.from_numpy(train.labels[tr]).float(), device, batch_size)
    t_tr, t_te = glasses_feature_matrix(train.factors, tr), glasses_feature_matrix(test_factors, te)
    u_tr, u_te = lat_tr.u[:, k].numpy(), test_lat.u[te, k].numpy()  # (n, U)
    if u_tr.shape[1] == 0:
        notes["r2_u/glasses"] = "undefined: the model has no u"
    return {"r2_u/glasses": ridge_r2(u_tr, t_tr, u_te, t_te),
            "r2_z/glasses": ridge_r2(lat_tr.z.numpy(), t_tr, test_lat.z[te].numpy(), t_te)}
