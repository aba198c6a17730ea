"""Pretrained weights through torchvision's weights API, without network: a failing download and a filled hub cache."""
import hashlib
import os

import pytest
import torch
import torchvision

from jdvae.evaluate import imagenet as weights
from jdvae.evaluate.judge import train as judge_module
from jdvae.evaluate.judge.model import judge_config
from jdvae.evaluate.judge.store import load_judge
from jdvae.evaluate.judge.train import train_judge


def place_in_cache(arch):
    """A randomly initialised `arch` state dict saved where torchvision looks: checkpoints/<basename of the URL>."""
    state = getattr(torchvision.models, arch)(weights=None).state_dict()
    path = weights.cache_path(arch)
    assert path.name == os.path.basename(torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url)
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return state, path


def test_failed_download_falls_back_with_the_reason(hub):
    found = weights.load_pretrained("resnet18", env=judge_module.WEIGHTS_ENV)
    assert not found.available and hub == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url]
    assert "cannot download" in found.reason and "URLError" in found.reason
    assert weights.cache_path("resnet18").name in found.reason and judge_module.WEIGHTS_ENV in found.reason


def test_offline_setting_does_not_try_the_network(hub, monkeypatch):
    monkeypatch.setenv(weights.OFFLINE_ENV, "1")
    found = weights.load_pretrained("resnet50")
    assert not found.available and hub == []
    assert weights.OFFLINE_ENV in found.reason


@pytest.mark.parametrize("offline", ["", "1"])
def test_file_in_the_hub_cache_is_loaded_without_network(hub, monkeypatch, offline):
    monkeypatch.setenv(weights.OFFLINE_ENV, offline)
    state, path = place_in_cache("resnet18")
    found = weights.load_pretrained("resnet18")
    assert found.available and hub == []
    assert all(torch.equal(found.state[k], v) for k, v in state.items())
    assert found.record == {"weights": "ResNet18_Weights.IMAGENET1K_V1", "file": path.name, "source": "hub cache",
                            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_corrupt_cached_file_is_a_reason_not_a_crash(hub):
    path = weights.cache_path("resnet18")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    found = weights.load_pretrained("resnet18")
    assert not found.available and f"cannot read {path.name} in torch's hub cache" in found.reason
    assert str(path.parent) not in found.reason  # no folder of this machine in a reason that reaches a table


def test_file_named_by_the_environment_comes_first(hub, tmp_path, monkeypatch):
    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, tmp_path / "mine.pth")
    monkeypatch.setenv(judge_module.WEIGHTS_ENV, str(tmp_path / "mine.pth"))
    found = weights.load_pretrained("resnet18", env=judge_module.WEIGHTS_ENV)
    assert found.available and found.record["file"] == "mine.pth" and hub == []
    monkeypatch.setenv(judge_module.WEIGHTS_ENV, str(tmp_path / "missing.pth"))
    assert "does not exist" in weights.load_pretrained("resnet18", env=judge_module.WEIGHTS_ENV).reason


def test_judge_starts_from_cached_weights_and_records_them(hub, tmp_path, trains):
    state, path = place_in_cache("resnet18")
    cfg = judge_config("smoke", max_images=32, batch_size=32, lr=0.0)  # lr 0: the trunk keeps the loaded weights
    judge = train_judge(cfg, tmp_path / "judge", progress=False)
    assert judge.report["init"].startswith("imagenet: ResNet18_Weights.IMAGENET1K_V1 " + path.name)
    assert torch.equal(judge.trunk.conv1.weight, state["conv1.weight"])
    saved = load_judge(tmp_path / "judge").report["weights"]
    assert saved["file"] == path.name and saved["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_judge_without_weights_trains_from_scratch_and_says_why(hub, tmp_path, trains):
    judge = train_judge(judge_config("smoke", max_images=32, batch_size=32), None, progress=False)
    assert judge.report["init"].startswith("none: trained from scratch (cannot download")
    assert judge.report["weights"]["file"] is None and hub
