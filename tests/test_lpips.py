"""LPIPS wiring: unavailable without AlexNet weights (a reason, never a number); local weights are loaded."""
import torch
import torchvision

from jdvae.evaluate import lpips_metric
from jdvae.evaluate.lpips_metric import ALEXNET_FILE, load_lpips, random_lpips


def test_unavailable_without_weights_gives_reason_not_number(tmp_path, monkeypatch):
    monkeypatch.delenv(lpips_metric.ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    lp = load_lpips()
    assert not lp.available and lp.net is None
    assert ALEXNET_FILE in lp.reason and lpips_metric.ENV in lp.reason


def test_missing_file_named_by_env_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv(lpips_metric.ENV, str(tmp_path / "nope.pth"))
    lp = load_lpips()
    assert not lp.available and "does not exist" in lp.reason


def test_local_alexnet_file_is_loaded_into_the_trunk(tmp_path, monkeypatch):
    features = torchvision.models.alexnet(weights=None).state_dict()  # stands in for the ImageNet file
    torch.save(features, tmp_path / ALEXNET_FILE)
    monkeypatch.setenv(lpips_metric.ENV, str(tmp_path / ALEXNET_FILE))
    lp = load_lpips()
    assert lp.available and lp.trunk == "alexnet-imagenet"
    assert torch.equal(lp.net.net.slice1[0].weight, features["features.0.weight"])
    assert torch.equal(getattr(lp.net.net.slice5, "10").bias, features["features.10.bias"])


def test_random_backbone_wiring_zero_for_identical_images():
    lp = random_lpips()  # wiring only: never reported
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(lp(x, x), torch.zeros(2), atol=1e-6)
    assert (lp(x, -x) > 0).all()
