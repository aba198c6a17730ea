"""Closed-form checks of the loss terms (Eq. 4) and the Gumbel-softmax relaxation."""
import math

import torch
import torch.nn.functional as F

from jdvae.config import ModelConfig, TrainConfig
from jdvae.losses import eq4_loss, gaussian_kl, reconstruction, u_kl_per_class
from jdvae.model import build_model


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


def test_gumbel_softmax_sample_statistics():
    torch.manual_seed(0)
    logits = torch.log(torch.tensor([[0.2, 0.8]])).expand(20000, 2)
    samples = F.gumbel_softmax(logits, tau=0.66)
    assert torch.allclose(samples.sum(-1), torch.ones(20000))
    assert abs((samples.argmax(-1) == 1).float().mean().item() - 0.8) < 0.015
