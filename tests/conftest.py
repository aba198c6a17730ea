"""Shared test settings: small, single-threaded, with a private data cache."""
from urllib.error import URLError

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test session builds SynthFaces into its own cache folder, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "jdvae-cache"
    monkeypatch.setenv("JDVAE_CACHE", str(cache))
    yield


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A private torch hub cache, no JDVAE_* weights variables, and a download that fails like an offline machine.

    Returns the list of URLs a download was attempted for."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("JDVAE_OFFLINE", "JDVAE_RESNET_WEIGHTS", "JDVAE_ALEXNET_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise URLError("[Errno -3] Temporary failure in name resolution (test stub)")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return calls
