"""Shared test settings: small, single-threaded, with a private data cache."""
import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test session builds SynthFaces into its own cache folder, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "jdvae-cache"
    monkeypatch.setenv("JDVAE_CACHE", str(cache))
    yield
