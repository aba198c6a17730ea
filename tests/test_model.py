"""Build, forward, backward, save and reload of every structure at 32 px with small widths."""
import pytest
import torch

from jdvae.vae.checkpoint import load_weights, save_weights
from jdvae.config import MODELS, ModelConfig, TrainConfig
from jdvae.vae.losses import loss_for
from jdvae.vae.model import build_model, one_hot
from jdvae.vae.nets.blocks import AdaIN


def small(name, K=1, **kw):
    return build_model(ModelConfig(name=name, image_size=32, width=0.125, n_labels=K, z_dim=8, u_dim=4, **kw))


@pytest.mark.parametrize("K", [1, 2])
@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_every_model(name, K):
    torch.manual_seed(0)
    model = small(name, K)
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    y = torch.randint(0, 2, (6, K))
    sup = torch.tensor([1, 0, 1, 0, 1, 0], dtype=torch.bool)
    out = model(x, y, sup)
    assert out.x_hat.shape == x.shape and out.logits_y.shape == (6, K, 2)
    total, terms = loss_for(model.structure.objective)(out, x, y, sup, TrainConfig())
    assert torch.isfinite(total) and set(terms) >= {"loss", "recon", "kl_z", "kl_u", "nll_y"}
    total.backward()
    grads = [p.grad for p in model.trunk.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    e = model.encode(x)
    assert e.probs_y.shape == (6, K) and e.mu_z.shape == (6, 8)
    assert model.sample(3).shape == (3, 3, 32, 32)
    assert model.resample_u(x, k=K - 1).shape == x.shape


@pytest.mark.parametrize("name", MODELS)
def test_save_load_round_trip(name, tmp_path):
    torch.manual_seed(1)
    a, b = small(name, 2).eval(), small(name, 2).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert not torch.equal(a.reconstruct(x), b.reconstruct(x))
    save_weights(a, tmp_path / "m.safetensors")
    load_weights(b, tmp_path / "m.safetensors")
    assert torch.equal(a.reconstruct(x), b.reconstruct(x))


def test_pa1_decoder_ignores_u_when_y_is_zero():
    torch.manual_seed(2)
    model = small("PA1").eval()
    z = torch.randn(4, 8)
    y0 = torch.zeros(4, 1)
    u1, u2 = torch.randn(4, 1, 4), 10 * torch.randn(4, 1, 4)
    assert torch.equal(model.decode(y0, z, u1), model.decode(y0, z, u2))
    y1 = torch.ones(4, 1)
    assert not torch.allclose(model.decode(y1, z, u1), model.decode(y1, z, u2))


def test_pa2_decoder_uses_u_for_both_labels():
    torch.manual_seed(2)
    model = small("PA2").eval()
    z, y0 = torch.randn(4, 8), torch.zeros(4, 1)
    assert not torch.allclose(model.decode(y0, z, torch.randn(4, 1, 4)), model.decode(y0, z, torch.randn(4, 1, 4)))


def test_prior_samples_follow_the_structure():
    torch.manual_seed(3)
    pa1, pa2 = small("PA1"), small("PA2")
    y = torch.cat([torch.zeros(4000, 1), torch.ones(4000, 1)])
    u1, u2 = pa1.sample_u(y), pa2.sample_u(y)
    assert torch.equal(u1[:4000], torch.zeros_like(u1[:4000]))  # Dirac at 0 for y = 0
    assert abs(u1[4000:].var().item() - 1.0) < 0.05
    assert abs(u2[:4000].var().item() - 0.1) < 0.01  # PA2: N(0, 0.1 I) for y = 0
    assert abs(u2[4000:].var().item() - 1.0) < 0.05


def test_adain_with_zeroed_map_equals_instance_norm():
    ada = AdaIN(style_dim=5, channels=3)
    torch.nn.init.zeros_(ada.fc.weight)
    torch.nn.init.zeros_(ada.fc.bias)
    x, s = torch.randn(2, 3, 8, 8), torch.randn(2, 5)
    torch.testing.assert_close(ada(x, s), torch.nn.functional.instance_norm(x))


def test_ablation_switches_change_what_the_decoder_output_depends_on():
    """adain=False: the output no longer depends on the style; tokens=False: y reaches it through the FC only."""
    torch.manual_seed(0)
    B, Z, U = 2, 8, 4
    y1, y0 = one_hot(torch.ones(B, 1)), one_hot(torch.zeros(B, 1))  # (B, 1, 2)
    z, u, s1, s2 = torch.randn(B, Z), torch.zeros(B, 1, U), torch.randn(B, Z), torch.randn(B, Z)
    changes = lambda a, b: not torch.allclose(a, b)
    with torch.no_grad():
        for adain in (True, False):
            m = small("PA1", adain=adain).eval()
            assert changes(m._decode(y1, z, u, style=s1), m._decode(y1, z, u, style=s2)) == adain
        for tokens in (True, False):
            m = small("PA1", tokens=tokens).eval()
            m.decoder.fc.weight[:, Z:m.decoder.fc.in_features - U] = 0  # the FC code is (z, y part, u): cut y out
            assert changes(m._decode(y1, z, u), m._decode(y0, z, u)) == tokens  # only the token images carry y


def test_channels_last_matches_contiguous():
    torch.manual_seed(4)
    model = small("PA1").eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    ref = model.reconstruct(x)
    model = model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(model.reconstruct(x.contiguous(memory_format=torch.channels_last)), ref,
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["PA1", "M2", "CCVAE2"])
@pytest.mark.parametrize("adain_style", ["sample", "mean"])
def test_training_style_is_the_sampled_z_or_mu_z(name, adain_style, monkeypatch):
    """Eq. 2: in training the AdaIN style is the sampled z that enters the FC ("sample"), or mu_z ("mean")."""
    torch.manual_seed(3)
    model = small(name, adain_style=adain_style)
    seen = {}
    decoder_forward = model.decoder.forward

    def spy(code, style, token_images=()):
        seen["z"], seen["style"] = code[:, :8].detach(), style.detach()
        return decoder_forward(code, style, token_images)

    monkeypatch.setattr(model.decoder, "forward", spy)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    out = model(x, torch.randint(0, 2, (4, 1)), torch.ones(4, dtype=torch.bool))
    expected = seen["z"] if adain_style == "sample" else out.mu_z.detach()
    assert torch.equal(seen["style"], expected)
    assert not torch.equal(seen["z"], out.mu_z.detach())  # z is a sample, not the mean


def test_unknown_adain_style_is_refused():
    from jdvae.errors import JdvaeError
    with pytest.raises(JdvaeError, match="adain_style"):
        ModelConfig(adain_style="noise").validate()
