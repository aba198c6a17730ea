"""LPIPS wiring: torchvision's AlexNet weights from the hub cache; without them a reason, never a number."""
import os

import pytest
import torch
import torchvision

from jdvae.evaluate import imagenet as weights
from jdvae.evaluate import lpips_metric
from jdvae.evaluate.lpips_metric import load_lpips, random_lpips


def test_failed_download_gives_a_reason_not_a_number(hub, capfd):
    lp = load_lpips()
    assert not lp.available and lp.net is None and hub == [torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url]
    assert "cannot download" in lp.reason and weights.cache_path("alexnet").name in lp.reason
    assert lpips_metric.ENV in lp.reason and lp.weights["file"] is None
    # one short line without this machine's folders or the URL; torch's "Downloading: URL to PATH" is not printed
    assert "\n" not in lp.reason and len(lp.reason) < 250 and "http" not in lp.reason
    assert str(weights.cache_path("alexnet").parent) not in lp.reason and os.environ["TORCH_HOME"] not in lp.reason
    assert capfd.readouterr() == ("", "")
    with pytest.raises(RuntimeError, match="unavailable"):
        lp(torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32))


def test_offline_setting_gives_a_reason_without_trying(hub, monkeypatch):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    lp = load_lpips()
    assert not lp.available and weights.OFFLINE_ENV in lp.reason and hub == []


def test_alexnet_in_the_hub_cache_is_loaded_into_the_trunk(hub):
    features = torchvision.models.alexnet(weights=None).state_dict()  # stands in for the ImageNet file
    path = weights.cache_path("alexnet")
    path.parent.mkdir(parents=True)
    torch.save(features, path)
    lp = load_lpips()
    assert lp.available and lp.trunk == "alexnet-imagenet" and hub == []
    assert lp.weights["file"] == path.name and len(lp.weights["sha256"]) == 64
    assert torch.equal(lp.net.net.slice1[0].weight, features["features.0.weight"])
    assert torch.equal(getattr(lp.net.net.slice5, "10").bias, features["features.10.bias"])


def test_file_named_by_env_missing_or_foreign(hub, tmp_path, monkeypatch):
    monkeypatch.setenv(lpips_metric.ENV, str(tmp_path / "nope.pth"))
    assert "does not exist" in load_lpips().reason
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet.pth")
    monkeypatch.setenv(lpips_metric.ENV, str(tmp_path / "resnet.pth"))
    lp = load_lpips()
    assert not lp.available and "is not torchvision AlexNet weights" in lp.reason and hub == []


def test_random_backbone_wiring_zero_for_identical_images():
    lp = random_lpips()  # wiring only: never reported
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(lp(x, x), torch.zeros(2), atol=1e-6)
    assert (lp(x, -x) > 0).all()
