"""Swaps and test pairs, on a fake model whose latents are readable and on a real M2."""
import numpy as np
import pytest
import torch

from jdvae.config import ModelConfig
from jdvae.evaluate.pairs import draw_pairs
from jdvae.evaluate.swaps import add, multi_swap, remove, swap
from jdvae.vae.model import build_model


class EchoModel:
    """x (B, Z + K*U) holds z then u; decode returns cat(y, z, u) so every latent can be read back."""

    def __init__(self, k=2, z=3, u=2):
        self.k, self.z, self.u = k, z, u

    def encode(self, x, y=None):
        b = len(x)
        mu_u = x[:, self.z:].reshape(b, self.k, self.u)
        return type("Enc", (), {"mu_z": x[:, :self.z], "mu_u": mu_u, "y": y})

    def decode(self, y, z, u):
        return torch.cat([y, z, u.flatten(1)], 1)  # (B, K + Z + K*U)

    def split(self, out):
        k, z = self.k, self.z
        return out[:, :k], out[:, k:k + z], out[:, k + z:].reshape(len(out), k, self.u)


def _images(model, n, seed):
    return torch.randn(n, model.z + model.k * model.u, generator=torch.Generator().manual_seed(seed))


def test_removal_and_addition_follow_the_rule():
    m = EchoModel()
    x_g, x_w = _images(m, 4, 0), _images(m, 4, 1)
    y_g, y_w = torch.tensor([[1.0, 1.0]] * 4), torch.tensor([[0.0, 1.0]] * 4)
    y, z, u = m.split(remove(m, x_g, y_g, x_w, y_w, k=0))
    assert torch.equal(y, torch.tensor([[0.0, 1.0]] * 4))  # y_k = 0, other label kept
    assert torch.equal(z, x_g[:, :3])  # z_g
    assert torch.equal(u[:, 0], m.encode(x_w).mu_u[:, 0]) and torch.equal(u[:, 1], m.encode(x_g).mu_u[:, 1])
    y, z, u = m.split(add(m, x_w, y_w, x_g, y_g, k=0))
    assert torch.equal(y[:, 0], torch.ones(4)) and torch.equal(z, x_w[:, :3])
    assert torch.equal(u[:, 0], m.encode(x_g).mu_u[:, 0]) and torch.equal(u[:, 1], m.encode(x_w).mu_u[:, 1])


def test_swap_without_override_takes_donor_label():
    m = EchoModel()
    x_a, x_b = _images(m, 2, 0), _images(m, 2, 1)
    y_a, y_b = torch.tensor([[0.0, 0.0]] * 2), torch.tensor([[1.0, 1.0]] * 2)
    y, _, _ = m.split(swap(m, x_a, y_a, x_b, y_b, k=1))
    assert torch.equal(y, torch.tensor([[0.0, 1.0]] * 2))


def test_m2_has_no_u_and_only_y_changes():
    """A real M2: removing I_g's glasses ignores the donor I_w and decodes I_g's z with y = 0."""
    torch.manual_seed(0)
    m2 = build_model(ModelConfig(name="M2", image_size=32, width=0.125, z_dim=8, u_dim=4)).eval()
    x_g, x_w1, x_w2 = (torch.rand(2, 3, 32, 32) * 2 - 1 for _ in range(3))
    y_g, y_w = torch.ones(2, 1), torch.zeros(2, 1)
    assert m2.encode(x_g, y_g).mu_u.shape == (2, 1, 0)  # no features to exchange
    removed = remove(m2, x_g, y_g, x_w1, y_w, k=0)
    torch.testing.assert_close(removed, remove(m2, x_g, y_g, x_w2, y_w, k=0))  # whichever donor
    with torch.no_grad():
        mu_z = m2.encode(x_g, y_g).mu_z
        torch.testing.assert_close(removed, m2.decode(y_w, mu_z, torch.zeros(2, 1, 0)))
        assert not torch.allclose(removed, m2.decode(y_g, mu_z, torch.zeros(2, 1, 0)))  # y did change the image


def test_multi_swap_takes_glasses_and_beard_from_two_donors():
    m = EchoModel()
    x, x_gl, x_bd = _images(m, 2, 0), _images(m, 2, 1), _images(m, 2, 2)
    y = torch.zeros(2, 2)
    y, z, u = m.split(multi_swap(m, x, y, (x_gl, torch.tensor([[1.0, 0.0]] * 2)), (x_bd, torch.tensor([[0.0, 1.0]] * 2))))
    assert torch.equal(y, torch.ones(2, 2)) and torch.equal(z, x[:, :3])
    assert torch.equal(u[:, 0], m.encode(x_gl).mu_u[:, 0]) and torch.equal(u[:, 1], m.encode(x_bd).mu_u[:, 1])


def test_pairs_are_distinct_without_replacement_and_reproducible():
    labels = (np.arange(100) % 3 == 0).astype(np.int64)  # 34 with, 66 without
    p = draw_pairs(labels, seed=7)
    assert len(p) == 34 and p.note is None
    assert sorted(p.g) == list(np.flatnonzero(labels == 1))  # every I_g used once
    assert len(set(p.w)) == 34 and (labels[p.w] == 0).all()  # distinct I_w
    q = draw_pairs(labels, seed=7)
    assert np.array_equal(p.g, q.g) and np.array_equal(p.w, q.w)
    assert not np.array_equal(p.w, draw_pairs(labels, seed=8).w)


def test_more_positives_than_negatives_pairs_as_many_as_possible():
    labels = np.array([1] * 7 + [0] * 3)
    p = draw_pairs(labels, seed=0)
    assert len(p) == 3 and len(set(p.g)) == 3 and sorted(p.w) == [7, 8, 9]
    assert "only 3 without" in p.note


@pytest.mark.parametrize("labels, word", [(np.zeros(5), "with"), (np.ones(5), "without")])
def test_absent_class_gives_undefined_empty_pairing(labels, word):
    p = draw_pairs(labels, seed=0)
    assert len(p) == 0 and not p.defined and p.note == f"undefined: no test image {word} glasses"
