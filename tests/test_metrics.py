"""Metrics with known answers: constructed worlds where the swap is the true counterfactual, or the identity."""
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from jdvae.evaluate.metrics import balanced_accuracy, evaluate_model, ridge_r2, ssim, success_rate
from jdvae.vae.losses import reconstruction as mse
from jdvae.report.stats import mean_std
from jdvae.evaluate.judge.model import GlassesRead

S, BAND = 16, slice(5, 8)  # image size and the rows the fake glasses cover


# ---------------------------------------------------------------- a fake world with a known truth
class Renderer:
    """A face is a flat colour; glasses are a band of rows in the frame colour (the synthfaces API)."""

    @staticmethod
    def subset(f, rows):
        return {k: v[rows] for k, v in f.items()}

    @staticmethod
    def with_label_of(f, donor, label, present=None):
        out = dict(f)
        for k in ("glasses_shape", "glasses_color", "glasses_tint"):
            out[k] = donor[k].copy()
        out["glasses"] = np.ones_like(f["glasses"])
        return out

    @staticmethod
    def without_label(f, label):
        return {**f, "glasses": np.zeros_like(f["glasses"])}

    @staticmethod
    def label_mask(f, size, label):
        mask = np.zeros((len(f["glasses"]), size, size), bool)
        mask[f["glasses"] == 1, BAND] = True
        return mask

    region_mask = label_mask

    @staticmethod
    def render(f, size):
        img = np.repeat(np.repeat(f["face"][:, None, None, :], size, 1), size, 2)  # (N, S, S, 3) in [0, 1]
        g = f["glasses"] == 1
        img[g, BAND] = f["glasses_color"][g][:, None, None, :]
        return np.round(img * 255).astype(np.uint8)


def world(n=40, seed=0):
    rng = np.random.default_rng(seed)
    f = {"index": np.arange(n), "face": rng.uniform(0.3, 0.7, (n, 3)), "glasses": (np.arange(n) % 3 == 0).astype(np.int64),
         "glasses_shape": np.zeros(n, np.int64), "glasses_color": rng.choice([0.0, 1.0], (n, 3)),
         "glasses_tint": np.zeros(n), "glasses_size": rng.uniform(size=n), "glasses_thickness": rng.uniform(size=n)}
    f["glasses_color"][:, 0] = 1.0  # a frame always differs from the face
    return f


@dataclass
class FakeSplit:
    images: np.ndarray
    labels: np.ndarray
    factors: dict


def split(n=40, seed=0):
    f = world(n, seed)
    return FakeSplit(Renderer.render(f, S), f["glasses"][:, None], f)


def _band_and_face(x):
    face = torch.cat([x[:, :, :BAND.start], x[:, :, BAND.stop:]], 2).mean((2, 3))  # (B, 3)
    return x[:, :, BAND].mean((2, 3)), face


class PaintModel:
    """z = face colour, u = band colour; decode paints the band with u where y=1: swaps are exact."""

    def eval(self):
        return self

    def encode(self, x, y=None):
        band, face = _band_and_face(x)
        return type("Enc", (), {"mu_z": face, "mu_u": band[:, None, :]})

    def decode(self, y, z, u):
        img = z[:, :, None, None].expand(-1, -1, S, S).clone()
        img[:, :, BAND] = torch.where(y[:, 0, None, None, None] > 0.5, u[:, 0, :, None, None], img[:, :, BAND])
        return img

    def classify(self, x):
        band, face = _band_and_face(x)
        return ((band - face).abs().amax(1, keepdim=True) > 0.05).float()  # (B, 1)


class IdentityModel(PaintModel):
    """Every 'swap' returns the original image: z is the whole image, u is empty."""

    def encode(self, x, y=None):
        return type("Enc", (), {"mu_z": x.flatten(1), "mu_u": x.new_zeros(len(x), 1, 0)})

    def decode(self, y, z, u):
        return z.reshape(-1, 3, S, S)


class FakeJudge:
    """Says 'glasses' when the band differs from the face, or (false positives) when face red > `red` in [-1, 1]."""

    labels, has_features = ("glasses",), True

    def __init__(self, false_positive_red=None):
        self.red = false_positive_red

    def prob(self, x, label):
        band, face = _band_and_face(x)
        p = ((band - face).abs().amax(1) > 0.05).float()
        if self.red is not None:
            p = torch.maximum(p, (face[:, 0] > self.red).float())
        return p

    def features(self, x):
        band, _ = _band_and_face(x)
        return GlassesRead(torch.zeros(len(x), 3).index_fill(1, torch.tensor([0]), 1.0), (band + 1) / 2, torch.zeros(len(x)))


# ---------------------------------------------------------------- tests
def test_swap_equal_to_counterfactual_has_zero_error_and_full_success():
    test, train = split(60, 0), split(90, 1)
    m, notes = evaluate_model(PaintModel(), test, ("glasses",), FakeJudge(), None, pair_seed=3, train=train,
                              renderer=Renderer)
    assert m["sr_minus/glasses"] == 100.0 and m["sr_plus/glasses"] == 100.0 and m["bca/glasses"] == 100.0
    assert m["pairs/glasses"] == 20
    for kind in ("add", "remove"):
        assert m[f"cf_{kind}_mse/glasses"] < 1e-4  # up to uint8 rounding of the renderings
        assert m[f"cf_{kind}_ssim/glasses"] > 0.999
    assert m["transfer_shape_acc/glasses"] == 100.0 and m["transfer_colour_mae/glasses"] < 0.01
    assert m["lpips"] is None and "unavailable" in notes["lpips"]
    assert m["r2_u/glasses"] > m["r2_z/glasses"]  # the frame colour lives in u
    assert m["r_plus/glasses"] == m["r_minus/glasses"] == 100.0  # exact reconstructions, read right
    assert m["truth_add_read/glasses"] == m["truth_remove_read/glasses"] == 100.0
    assert m["donor_match/glasses"] == 100.0  # the exact swap wears its own donor's colour
    for kind in ("add", "remove"):  # exact swaps close the whole region error
        assert m[f"region_{kind}_mse/glasses"] < 1e-6
        assert m[f"region_{kind}_closed/glasses"] == pytest.approx(1.0, abs=1e-6)


def test_identity_swap_closes_no_region_error_and_r_minus_is_the_judge_true_negative_rate():
    test = split(90, 2)
    judge = FakeJudge(false_positive_red=0.0)
    m, _ = evaluate_model(IdentityModel(), test, ("glasses",), judge, None, pair_seed=0, renderer=Renderer)
    assert m["region_add_closed/glasses"] == pytest.approx(0.0, abs=1e-9)  # the addition is the plain recon
    assert m["region_remove_closed/glasses"] == pytest.approx(0.0, abs=1e-9)
    assert m["sr_plus/glasses"] == pytest.approx(100.0 - m["r_minus/glasses"])  # same images, opposite target
    assert 0 < m["r_minus/glasses"] < 100 and m["r_plus/glasses"] == 100.0


def test_identity_swap_gives_sr_plus_equal_to_judge_false_positive_rate():
    test = split(90, 2)
    judge = FakeJudge(false_positive_red=0.0)  # faces with red > 0.5 in [0, 1]
    m, _ = evaluate_model(IdentityModel(), test, ("glasses",), judge, None, pair_seed=0)
    from jdvae.evaluate.pairs import draw_pairs
    w = draw_pairs(test.labels[:, 0], 0).w
    x_w = torch.from_numpy(test.images[w]).permute(0, 3, 1, 2).float() / 127.5 - 1
    fpr = 100.0 * float(judge.prob(x_w, "glasses").mean())
    assert 0 < fpr < 100 and m["sr_plus/glasses"] == pytest.approx(fpr)


def test_undefined_when_no_test_image_with_glasses():
    test = split(30, 0)
    test = FakeSplit(test.images, np.zeros_like(test.labels), test.factors)
    m, notes = evaluate_model(PaintModel(), test, ("glasses",), FakeJudge(), None)
    assert m["sr_plus/glasses"] is None and m["bca/glasses"] is None
    assert notes["pairs/glasses"] == "undefined: no test image with glasses"


def test_balanced_accuracy_on_known_confusion_matrix():
    y_true = np.array([1] * 10 + [0] * 90)
    y_pred = np.array([1] * 8 + [0] * 2 + [0] * 60 + [1] * 30)  # TPR 0.8, TNR 2/3
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(0.5 * (0.8 + 2 / 3))
    assert balanced_accuracy(np.ones(4), np.ones(4)) is None


def test_success_rate_thresholds_at_one_half():
    assert success_rate(np.array([0.2, 0.7, 0.9, 0.4]), 1) == 0.5
    assert success_rate(np.array([0.2, 0.7, 0.9, 0.4]), 0) == 0.5
    assert success_rate(np.zeros(0), 1) is None


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    assert (ssim(x, (x + 0.5 * torch.randn_like(x)).clamp(-1, 1)) < 0.9).all()
    assert torch.equal(mse(x, x), torch.zeros(2))


def test_ridge_probe_recovers_known_r2():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40000, 3))
    t = x[:, :1] + rng.normal(size=(40000, 1))  # var(signal) = var(noise) = 1: R^2 = 0.5
    assert ridge_r2(x[:20000], t[:20000], x[20000:], t[20000:]) == pytest.approx(0.5, abs=0.02)
    t2 = np.concatenate([x @ np.array([[1.0], [2.0], [0.5]]), rng.normal(size=(40000, 1))], 1)  # R^2 1 and 0
    assert ridge_r2(x[:20000], t2[:20000], x[20000:], t2[20000:]) == pytest.approx(0.5, abs=0.02)
    assert ridge_r2(x[:10, :0], t[:10], x[10:20, :0], t[10:20]) is None  # no latent (M2 has no u)


def test_mean_std_ignores_undefined():
    assert mean_std([1.0, 3.0, None]) == (2.0, 1.0)
    assert mean_std([None]) == (None, None)


def test_two_judges_read_the_same_swaps_and_each_rate_is_their_mean():
    test = split(90, 2)
    strict, blind = FakeJudge(false_positive_red=0.0), FakeJudge(false_positive_red=0.0)
    blind.prob = lambda x, name: torch.zeros(len(x))  # reads no glasses anywhere
    kept: dict = {}
    m, _ = evaluate_model(IdentityModel(), test, ("glasses",), [strict, blind], None, pair_seed=0, renderer=Renderer,
                          outcomes=kept)
    one, _ = evaluate_model(IdentityModel(), test, ("glasses",), strict, None, pair_seed=0, renderer=Renderer)
    assert m["sr_plus@j0/glasses"] == one["sr_plus/glasses"] and m["sr_plus@j1/glasses"] == 0.0
    assert m["sr_minus@j1/glasses"] == m["r_minus@j1/glasses"] == m["truth_remove_read@j1/glasses"] == 100.0
    for rate in ("sr_plus", "sr_minus", "r_plus", "r_minus", "truth_add_read", "truth_remove_read"):
        assert m[f"{rate}/glasses"] == pytest.approx((m[f"{rate}@j0/glasses"] + m[f"{rate}@j1/glasses"]) / 2)
        assert kept[f"{rate}@j1|glasses"].shape == kept[f"{rate}|glasses"].shape
    assert "sr_plus@j0/glasses" not in one and "donor_match@j1|glasses" not in kept  # judge-free measures once
    assert m["region_add_closed/glasses"] == one["region_add_closed/glasses"]
