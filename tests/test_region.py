"""Glasses- and beard-region counterfactual error on the real SynthFaces renderer at 32 px."""
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from jdvae.data import synthfaces as sf
from jdvae.evaluate.metrics import closed_share, donor_match, evaluate_model, region_mse
from jdvae.evaluate.truth import counterfactual_factors
from jdvae.evaluate.pairs import draw_pairs
from jdvae.evaluate.swaps import to_tensor

S = 32


def faces(n=12, seed=7):
    f = sf.sample_factors(seed, np.arange(n), prevalence=0.5)
    f["glasses"][:] = np.arange(n) % 2  # half with, half without
    f["beard"][:] = (np.arange(n) // 2) % 2
    return f


def blurred(x):
    """A plain 3x3 box blur: what a model that cannot draw fine detail returns."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


@pytest.mark.parametrize("label", ["glasses", "beard"])
def test_region_mask_is_the_label_mask_dilated_and_covers_every_changed_pixel(label):
    f = faces()
    f[label][:] = 1
    exact, region = sf.label_mask(f, S, label), sf.region_mask(f, S, label)
    assert region.shape == (len(f["index"]), S, S) and region.dtype == bool
    assert (region >= exact).all() and region.sum() > exact.sum()
    assert np.array_equal(region, sf.dilate(exact, 1))  # one pixel at 32 px
    changed = (sf.render(f, S) != sf.render(sf.without_label(f, label), S)).any(-1)
    assert not (changed & ~region).any()
    assert not sf.region_mask(sf.without_label(f, label), S, label).any()


def test_dilation_by_a_known_radius():
    m = np.zeros((1, 9, 9), bool)
    m[0, 4, 4] = True
    assert sf.dilate(m, 2)[0].sum() == 25 and sf.dilate(m, 2)[0, 2:7, 2:7].all()


@pytest.mark.parametrize("kind", ["add", "remove"])
@pytest.mark.parametrize("label", ["glasses", "beard"])
def test_truth_closes_all_plain_reconstruction_none_blur_with_right_label_between(kind, label):
    f = faces()
    pairing = draw_pairs(f[label], 0, label)
    f_add, f_g, f_remove = counterfactual_factors(sf, f, pairing.g, pairing.w, label)
    f_truth, f_plain, f_region = (f_add, sf.subset(f, pairing.w), f_add) if kind == "add" else (f_remove, f_g, f_g)
    truth, plain = to_tensor(sf.render(f_truth, S)), to_tensor(sf.render(f_plain, S))
    mask = torch.from_numpy(sf.region_mask(f_region, S, label))
    # the right label pasted exactly onto a blurred face (for removal: the bare face pasted where it was)
    drawn = torch.from_numpy(sf.label_mask(f_region, S, label))[:, None]  # (P, 1, S, S)
    pasted = torch.where(drawn, truth, blurred(plain))
    base = region_mse(plain, truth, mask)
    assert (base > 0).all()
    assert closed_share(region_mse(truth, truth, mask), base)[0] == 1.0
    assert closed_share(base, base)[0] == 0.0
    share, se = closed_share(region_mse(pasted, truth, mask), base)
    assert 0.0 < share < 1.0 and se > 0


@dataclass
class Split:
    images: np.ndarray
    labels: np.ndarray
    factors: dict


class Oracle:
    """Latents are image indices; decode renders face z with the label features of u, present as y."""

    def __init__(self, split, label, draws_label=True):
        self.f, self.label, self.draws = split.factors, label, draws_label
        self.bank = to_tensor(split.images).flatten(1)  # (N, 3 S S)

    def eval(self):
        return self

    def _index(self, x):
        return torch.cdist(x.flatten(1), self.bank).argmin(1).float()  # (B,)

    def encode(self, x, y=None):
        i = self._index(x)
        return type("Enc", (), {"mu_z": i[:, None], "mu_u": i[:, None, None]})

    def decode(self, y, z, u):
        fz = sf.subset(self.f, z[:, 0].round().long().numpy())
        if self.draws:
            fz = sf.with_label_of(fz, sf.subset(self.f, u[:, 0, 0].round().long().numpy()), self.label)
            fz[self.label] = (y[:, 0] > 0.5).long().numpy()
        return to_tensor(sf.render(fz, S))

    def classify(self, x):
        return torch.from_numpy(self.f[self.label][self._index(x).long().numpy()]).float()[:, None]


class BlindJudge:
    labels, has_features = ("glasses", "beard"), False

    def prob(self, x, label):
        return torch.zeros(len(x))


@pytest.mark.parametrize("label", ["glasses", "beard"])
def test_evaluate_model_scores_the_oracle_one_and_the_label_blind_model_zero(label):
    f = faces(16, 3)
    test = Split(sf.render(f, S), f[label][:, None].astype(np.int64), f)
    exact, _ = evaluate_model(Oracle(test, label), test, (label,), BlindJudge(), renderer=sf)
    blind, _ = evaluate_model(Oracle(test, label, draws_label=False), test, (label,), BlindJudge(), renderer=sf)
    for kind in ("add", "remove"):
        assert exact[f"region_{kind}_mse/{label}"] == 0.0
        assert exact[f"region_{kind}_closed/{label}"] == 1.0
        assert blind[f"region_{kind}_mse/{label}"] > 0
        assert blind[f"region_{kind}_closed/{label}"] == pytest.approx(0.0, abs=1e-12)
    assert exact[f"donor_match/{label}"] == 100.0
    assert exact[f"r_plus/{label}"] == 0.0 and exact[f"r_minus/{label}"] == 100.0  # the judge never says yes
    assert exact[f"truth_add_read/{label}"] == 0.0 and exact[f"truth_remove_read/{label}"] == 100.0


@pytest.mark.parametrize("label", ["glasses", "beard"])
def test_donor_match_tells_the_donors_label_from_another_donors(label):
    f = faces(16, 5)
    pairing = draw_pairs(f[label], 0, label)
    g, w = pairing.g, pairing.w
    f_w = sf.subset(f, w)
    f_own = sf.with_label_of(f_w, sf.subset(f, g), label, present=True)
    f_other = sf.with_label_of(f_w, sf.subset(f, np.roll(g, 1)), label, present=True)
    own, other = to_tensor(sf.render(f_own, S)), to_tensor(sf.render(f_other, S))
    masks = torch.from_numpy(sf.label_mask(f_own, S, label)), torch.from_numpy(sf.label_mask(f_other, S, label))
    assert donor_match(own, own, masks[0], other, masks[1]) == 100.0
    assert donor_match(other, own, masks[0], other, masks[1]) == 0.0
    assert donor_match(blurred(own), own, masks[0], other, masks[1]) >= 50.0  # blur keeps most of the colour
