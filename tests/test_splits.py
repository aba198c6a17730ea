"""Splits: cache round trip, corrupt cache, disjoint ranges, supervision mask, counterfactual helper."""
import time

import numpy as np

from jdvae.config import DataConfig
from jdvae.data import synthfaces as sf
from jdvae.data.splits import counterfactual_images, load_split, supervision_mask

CFG = DataConfig(image_size=32, labels=("glasses", "beard"), n_train=40, n_val=12, n_test=12, supervision=0.25, seed=7)


def test_split_contents_and_cache_round_trip(tmp_path):
    train = load_split(CFG, "train", cache_dir=tmp_path, progress=False)
    assert train.images.shape == (40, 32, 32, 3) and train.images.dtype == np.uint8
    assert train.labels.shape == (40, 2) and train.labels.dtype == np.int64
    assert train.supervised.sum() == 10
    assert np.array_equal(train.images, sf.render(sf.sample_factors(7, train.index), 32))
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = load_split(CFG, "train", cache_dir=tmp_path, progress=False)
    assert files[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert np.array_equal(again.images, train.images) and np.array_equal(again.labels, train.labels)
    assert set(again.factors) == set(sf.FACTORS)


def test_splits_are_disjoint_and_val_test_fully_supervised(tmp_path):
    parts = {s: load_split(CFG, s, cache_dir=tmp_path, progress=False) for s in ("train", "val", "test")}
    idx = [set(p.index.tolist()) for p in parts.values()]
    assert not (idx[0] & idx[1] or idx[0] & idx[2] or idx[1] & idx[2])
    assert parts["val"].supervised.all() and parts["test"].supervised.all()
    bigger = load_split(DataConfig(**{**CFG.__dict__, "n_train": 50}), "val", cache_dir=tmp_path, progress=False)
    assert np.array_equal(bigger.images, parts["val"].images)  # val faces do not depend on n_train


def test_corrupt_cache_is_rebuilt(tmp_path, capsys):
    first = load_split(CFG, "val", cache_dir=tmp_path, progress=False)
    path = next(tmp_path.glob("*.npz"))
    path.write_bytes(path.read_bytes()[:100])
    again = load_split(CFG, "val", cache_dir=tmp_path, progress=False)
    assert np.array_equal(first.images, again.images)
    assert "rebuilding" in capsys.readouterr().err


def test_cache_env_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("JDVAE_CACHE", str(tmp_path / "env"))
    load_split(CFG, "test", progress=False)
    assert list((tmp_path / "env").glob("*.npz"))


def test_supervision_mask_rate_and_stability():
    for n, rate in [(100, 0.2), (37, 0.5), (1000, 0.013), (10, 1.0)]:
        mask = supervision_mask(n, rate, seed=3)
        assert mask.dtype == bool and mask.shape == (n,) and mask.sum() == round(rate * n)
    a, b = supervision_mask(500, 0.2, 3), supervision_mask(500, 0.2, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, supervision_mask(500, 0.2, 4))
    # a higher rate keeps the images of a lower one
    assert (supervision_mask(500, 0.4, 3) | a).sum() == supervision_mask(500, 0.4, 3).sum()


def test_counterfactual_images(tmp_path):
    split = load_split(CFG, "train", cache_dir=tmp_path, progress=False)
    rows = np.arange(6)
    assert np.array_equal(counterfactual_images(split, rows, rows), split.images[rows])
    removed = counterfactual_images(split, rows, label="glasses")
    had = split.factors["glasses"][rows] == 1
    assert (removed[~had] == split.images[rows][~had]).all()
    assert (removed[had] != split.images[rows][had]).any()


def test_second_load_is_fast(tmp_path):
    cfg = DataConfig(image_size=64, n_train=1000, n_val=10, n_test=10)
    load_split(cfg, "train", cache_dir=tmp_path, progress=False)
    t = time.perf_counter()
    load_split(cfg, "train", cache_dir=tmp_path, progress=False)
    assert time.perf_counter() - t < 2.0
