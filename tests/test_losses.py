"""Closed-form checks of the loss terms (Eq. 4) and of the model's Gumbel-softmax relaxation."""
import math

import pytest
import torch
import torch.nn.functional as F

from jdvae.config import ModelConfig, TrainConfig
from jdvae.vae.losses import eq4_loss, gaussian_kl, loss_for, reconstruction, u_kl_per_class
from jdvae.vae.model import build_model


def test_gaussian_kl_closed_form():
    # KL(N(1, 4) || N(0, 1)) = 0.5 * (4 + 1 - 1 - ln 4) per dimension
    mu, logvar = torch.ones(1, 3), torch.full((1, 3), math.log(4.0))
    expected = 3 * 0.5 * (4 + 1 - 1 - math.log(4))
    assert abs(gaussian_kl(mu, logvar).item() - expected) < 1e-5
    # KL(N(0, 1) || N(0, 0.1)) = 0.5 * (ln 0.1 + 1/0.1 - 1) per dimension
    kl = gaussian_kl(torch.zeros(1, 2), torch.zeros(1, 2), 0.0, math.log(0.1))
    assert abs(kl.item() - 2 * 0.5 * (math.log(0.1) + 10 - 1)) < 1e-4
    assert gaussian_kl(torch.zeros(1, 5), torch.zeros(1, 5)).item() == 0.0


def test_reconstruction_is_mean_over_pixels():
    x = torch.zeros(2, 3, 4, 4)
    x_hat = torch.ones(2, 3, 4, 4)
    x_hat[1] = 3
    assert reconstruction(x_hat, x).tolist() == [1.0, 9.0]


def _forward(name, y, sup, seed=0):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(name=name, image_size=32, width=0.125, z_dim=8, u_dim=4))
    x = torch.rand(len(y), 3, 32, 32) * 2 - 1
    return model, x, model(x, y, sup)


def test_pa1_u_term_vanishes_for_y0():
    y = torch.tensor([[0], [0], [1]])
    sup = torch.ones(3, dtype=torch.bool)
    model, x, out = _forward("PA1", y, sup)
    kl = u_kl_per_class(out)  # (B, K, 2)
    assert torch.equal(kl[..., 0], torch.zeros_like(kl[..., 0]))
    cfg = TrainConfig()
    _, terms = eq4_loss(out, x, y, sup, cfg)
    expected_u = cfg.u_kl_scale_y1 * gaussian_kl(out.mu_u[2, 0], out.logvar_u[2, 0]).item() / 3
    assert abs(terms["kl_u"] - expected_u) < 1e-6


def test_pa2_u_term_uses_narrow_prior_for_y0():
    y = torch.tensor([[0]])
    model, x, out = _forward("PA2", y, torch.ones(1, dtype=torch.bool))
    expected = gaussian_kl(out.mu_u[0, 0], out.logvar_u[0, 0], 0.0, math.log(0.1))
    torch.testing.assert_close(u_kl_per_class(out)[0, 0, 0], expected)


def test_labelled_loss_assembles_eq4():
    y = torch.tensor([[1], [0]])
    sup = torch.ones(2, dtype=torch.bool)
    model, x, out = _forward("PA2", y, sup)
    cfg = TrainConfig()
    total, _ = eq4_loss(out, x, y, sup, cfg)
    recon = reconstruction(out.x_hat, x)
    kl_z = gaussian_kl(out.mu_z, out.logvar_z)
    kl_u = torch.stack([cfg.u_kl_scale_y1 * gaussian_kl(out.mu_u[0, 0], out.logvar_u[0, 0]),
                        gaussian_kl(out.mu_u[1, 0], out.logvar_u[1, 0], 0.0, math.log(0.1))])
    nll = -F.log_softmax(out.logits_y[:, 0], -1)[torch.arange(2), y[:, 0]]
    expected = (recon + cfg.beta * (kl_z + kl_u) + cfg.alpha * nll + cfg.beta * math.log(2)).mean()
    torch.testing.assert_close(total, expected)


def test_unlabelled_rows_use_gumbel_sample_and_kl_to_uniform():
    y = torch.tensor([[1]])
    model, x, out = _forward("M2", y, torch.zeros(1, dtype=torch.bool))
    assert not torch.equal(out.y_soft, F.one_hot(y, 2).float())  # relaxed, not the hidden label
    cfg = TrainConfig()
    total, _ = eq4_loss(out, x, y, torch.zeros(1, dtype=torch.bool), cfg)
    q = out.logits_y.softmax(-1)
    kl_y = (q * (q.log() + math.log(2))).sum()
    expected = reconstruction(out.x_hat, x) + cfg.beta * (gaussian_kl(out.mu_z, out.logvar_z) + kl_y)
    torch.testing.assert_close(total, expected.mean())


def test_unlabelled_rows_condition_on_a_relaxed_sample_of_q_y_given_x():
    """The model's y~ on unlabelled rows is a Gumbel-softmax sample of its own q(y|x); labelled rows keep y."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="PA1", image_size=32, width=0.125, z_dim=8, u_dim=4))
    n = 400
    x = (torch.rand(1, 3, 32, 32) * 2 - 1).expand(n, -1, -1, -1)  # one image: every row has the same q(y|x)
    y, sup = torch.ones(n, 1, dtype=torch.long), torch.arange(n) < 100
    with torch.no_grad():
        model.head_y.bias.copy_(torch.tensor([0.0, math.log(3.0)]))  # q(y=1|x) near 3/4 whatever the trunk says
        model.head_y.weight.mul_(1e-3)
        out = model(x, y, sup, tau=0.05)
    assert torch.equal(out.y_soft[sup], F.one_hot(y[sup], 2).float())
    relaxed = out.y_soft[~sup]  # (300, 1, 2)
    torch.testing.assert_close(relaxed.sum(-1), torch.ones(300, 1))
    assert ((relaxed > 0) & (relaxed < 1)).any()  # relaxed, not one-hot
    p1 = out.logits_y[0, 0].softmax(-1)[1].item()
    share = (relaxed[:, 0].argmax(-1) == 1).float().mean().item()
    assert abs(share - p1) < 4 * math.sqrt(p1 * (1 - p1) / 300)  # not the hidden label (all ones), not argmax q


@pytest.mark.parametrize("name, expected", [
    # one label, U = 1, mu_u = 1, var_u = 1, y~ = (0.25, 0.75), c_1 = 0.01:
    # PA1: 0.25 * 0 (Dirac, no KL term) + 0.75 * 0.01 * KL(N(1,1)||N(0,1)) = 0.75 * 0.01 * 0.5
    ("PA1", 0.75 * 0.01 * 0.5),
    # PA2: 0.25 * KL(N(1,1)||N(0,0.1)) + the same y = 1 term; KL = 0.5 * (ln 0.1 + (1 + 1) / 0.1 - 1)
    ("PA2", 0.25 * 0.5 * (math.log(0.1) + 20.0 - 1.0) + 0.75 * 0.01 * 0.5),
])
def test_u_kl_under_a_relaxed_label_matches_eq4_by_hand(name, expected):
    """Eq. 4's u term on an unlabelled row: sum_c y~_c c_c KL(q(u|x,y~) || p(u|c)), with the model's own priors."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, image_size=32, width=0.125, z_dim=8, u_dim=1))
    x, y, sup = torch.rand(1, 3, 32, 32) * 2 - 1, torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, dtype=torch.bool)
    out = model(x, y, sup)._replace(y_soft=torch.tensor([[[0.25, 0.75]]]), mu_u=torch.ones(1, 1, 1),
                                    logvar_u=torch.zeros(1, 1, 1))
    _, terms = eq4_loss(out, x, y, sup, TrainConfig(u_kl_scale_y1=0.01))
    assert float(terms["kl_u"]) == pytest.approx(expected, rel=1e-5)


def test_an_overflowing_labelled_term_never_reaches_an_unlabelled_row():
    """CCVAE2's w = q(y|u)/q(y|x) is computed for labelled rows only: a row without a label whose
    q(y|x) of the (unused) label is e^-1e4 gives a finite loss and finite gradients."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(name="CCVAE2", image_size=32, width=0.125, z_dim=8, u_dim=4))
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([[1], [0]])  # unlabelled rows carry y = 0 (zeroed)
    sup = torch.tensor([True, False])
    out = model(x, y, sup, n_class_samples=3)
    samples = out.logits_y_samples.detach().clone()
    samples[:, 1, 0] = torch.tensor([0.0, 1e4])  # log q(y=0|x) = -1e4 for the unlabelled row
    samples.requires_grad_(True)
    total, _ = loss_for("ccvae")(out._replace(logits_y_samples=samples), x, y, sup, TrainConfig())
    assert torch.isfinite(total)
    total.backward()
    assert torch.isfinite(samples.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_ccvae_keeps_the_laplace_constant_inside_the_w_weighted_term():
    """Joy et al.'s bound with log 2 per pixel kept (their code keeps it): on a labelled row it enters multiplied by
    w = q(y|u)/q(y|x), so it changes the loss by w log 2 there and by log 2 on an unlabelled row, and it pulls on w."""
    from jdvae.vae.losses import LOG2, _ccvae_bound, _label_log_probs, laplace_reconstruction

    torch.manual_seed(0)
    model = build_model(ModelConfig(name="CCVAE", image_size=32, width=0.125, z_dim=8))
    x, y = torch.rand(3, 3, 32, 32) * 2 - 1, torch.tensor([[1], [0], [0]])
    sup = torch.tensor([True, True, False])
    out = model(x, y, sup, n_class_samples=4)
    total, terms = loss_for("joy")(out, x, y, sup, TrainConfig())
    n = x[0].numel()
    without, terms0 = _ccvae_bound(out, x, y, sup, laplace_reconstruction(out.x_hat, x), 1.0 / n, 1.0 / n)
    with torch.no_grad():
        log_qyu = _label_log_probs(out.logits_y, y).sum(-1)
        log_qyx = (torch.logsumexp(_label_log_probs(out.logits_y_samples, y), 0) - math.log(4)).sum(-1)
        w = torch.where(sup, (log_qyu - log_qyx).exp(), torch.ones(3))
    assert (total - without).item() == pytest.approx((w * LOG2).mean().item(), rel=1e-5)
    assert terms["recon"] == terms0["recon"]  # the logged reconstruction stays the mean |x - x̂| / 2
    grad = torch.autograd.grad(total - without, out.logits_y_samples, retain_graph=True)[0]
    assert grad[:, :2].abs().sum() > 0 and grad[:, 2].abs().sum() == 0  # through w, on labelled rows only
