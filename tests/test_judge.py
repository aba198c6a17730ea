"""The judge: config, augmentation and schedule in closed form, save/load, determinism, and its cache."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from torchvision.models.resnet import BasicBlock, Bottleneck

from jdvae.config import DataConfig, profile
from jdvae.errors import JdvaeError
from jdvae.evaluate.judge import train as judge_module
from jdvae.evaluate.judge.inputs import (augment, averaged_label_images, bare_images, fade, gaussian_blur,
                                        training_subset, use_averaged)
from jdvae.vae.schedules import warmup_cosine as lr_at
from jdvae.evaluate.judge.store import WEIGHTS_FILE, load_judge, save_judge, stale_fields
from jdvae.evaluate.judge.model import Judge, JudgeConfig, judge_config
from jdvae.evaluate.judge.train import ensure_judge, train_judge


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No download and no user hub cache: every judge here starts from scratch."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("JDVAE_OFFLINE", "1")
    monkeypatch.delenv(judge_module.WEIGHTS_ENV, raising=False)


def tiny(**changes):
    return judge_config("smoke", **{"max_images": 64, "batch_size": 32, **changes})


def test_each_profile_builds_the_network_it_names():
    """paper: a ResNet-50 trunk (2048 features); quick: a ResNet-18 (512 features, 2 blocks a stage) whose first stage
    sees 16x16 maps at 32 px at base width 32 (256 features); width 64 is torchvision's layout (512)."""
    paper = Judge(judge_config("paper"), feature_head=False)
    assert isinstance(paper.trunk.layer1[0], Bottleneck) and paper.head.in_features == 2048
    quick = Judge(judge_config("quick"), feature_head=True).eval()
    assert isinstance(quick.trunk.layer1[0], BasicBlock) and quick.head.in_features == 256
    assert [len(getattr(quick.trunk, f"layer{i}")) for i in range(1, 5)] == [2, 2, 2, 2]
    assert quick.trunk.conv1.out_channels == 32
    wide = Judge(judge_config("quick", width=64), feature_head=True).eval()
    assert wide.trunk.conv1.out_channels == 64 and wide.head.in_features == 512
    assert wide(torch.zeros(2, 3, 32, 32))[0].shape == (2, 2)
    x = torch.zeros(2, 3, 32, 32)
    seen = []
    quick.trunk.layer1.register_forward_hook(lambda mod, inp, out: seen.append(out.shape[-1]))
    with torch.no_grad():
        logits, raw = quick(x)
    assert seen == [16]  # no stem max-pool: 32 / 2 (stride-2 conv) = 16, not 8
    assert logits.shape == (2, 2) and raw.shape == (2, 7)  # glasses, beard; shape (3) + colour (3) + tint


def test_celeba_judge_learns_every_label_of_the_study():
    data = DataConfig(source="celeba", celeba_root="/somewhere", image_size=32, labels=("glasses",))
    assert judge_config("smoke", data=data).data.labels == ("glasses", "beard")


def test_config_json_round_trip_and_foreign_keys():
    cfg = judge_config("smoke", epochs=3)
    assert JudgeConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(JdvaeError, match="retrain"):
        JudgeConfig.from_dict({**cfg.to_dict(), "colour": 1})


def test_learning_rate_schedule_at_its_boundaries():
    assert lr_at(0, 100, 1.0, 0.1) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 0.1) == pytest.approx(1.0)
    assert lr_at(10, 100, 1.0, 0.1) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 0.1) == pytest.approx(0.5)
    assert lr_at(100, 100, 1.0, 0.1) == pytest.approx(0.0)


def test_training_subset_size_share_and_seed():
    labels = (np.random.default_rng(0).random((1000, 2)) < 0.3).astype(np.int64)  # (N, K): glasses, beard
    rows = training_subset(labels, ("glasses", "beard"), 200, 0.5, seed=0)
    assert len(set(rows)) == 200 and labels[rows, 0].mean() == 0.5 and (np.diff(rows) > 0).all()
    assert np.array_equal(rows, training_subset(labels, ("glasses", "beard"), 200, 0.5, seed=0))
    assert len(training_subset(labels, ("glasses", "beard"), None, None, seed=0)) == 1000
    few = training_subset(labels[:100], ("glasses", "beard"), 100, 0.9, seed=0)  # not enough glasses: all of them
    assert len(few) == 100 and labels[few, 0].sum() == labels[:100, 0].sum()


def test_gaussian_blur_closed_form():
    x = torch.rand(2, 3, 9, 9)
    assert torch.equal(gaussian_blur(x, torch.zeros(2), radius=3), x)  # sigma 0 leaves the image alone
    flat = torch.full((1, 3, 9, 9), 0.3)
    assert torch.allclose(gaussian_blur(flat, torch.tensor([1.0])), flat)  # weights sum to one
    impulse = torch.zeros(1, 1, 21, 21)
    impulse[0, 0, 10, 10] = 1.0
    out = gaussian_blur(impulse, torch.tensor([1.5]), radius=9)[0, 0]  # (21, 21)
    d2 = (torch.arange(21.0) - 10) ** 2
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float((out.sum(0) * d2).sum()) == pytest.approx(1.5 ** 2, rel=1e-3)  # variance = sigma^2


def test_augmentation_is_a_function_of_the_generator():
    x = torch.rand(8, 3, 32, 32) * 2 - 1
    a, blurred = augment(x, torch.Generator().manual_seed(3), 0.5, 1.2, 0.03)
    b, _ = augment(x, torch.Generator().manual_seed(3), 0.5, 1.2, 0.03)
    assert torch.equal(a, b) and not torch.equal(a, x) and a.abs().max() <= 1 and blurred.dtype == torch.bool
    plain, blurred = augment(x, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0)  # no blur, no noise: flips only
    assert not blurred.any()
    flipped = [torch.equal(p, xi.flip(-1)) for p, xi in zip(plain, x)]
    assert all(f or torch.equal(p, xi) for f, p, xi in zip(flipped, plain, x)) and 0 < sum(flipped) < 8


def test_fade_blends_toward_the_bare_image_and_targets_the_strength():
    gen = torch.Generator().manual_seed(0)
    x, bare = torch.ones(64, 3, 4, 4), -torch.ones(64, 3, 4, 4)
    y = torch.tensor([[1.0, 0.0]] * 32 + [[0.0, 0.0]] * 32)  # label 0 on the first half only
    out, target, faded = fade(x, y, [bare, None], gen, share=1.0, threshold=0.3)
    assert faded[:32].any() and not faded[32:].any()  # only present labels with a bare image fade
    a = (out[faded, 0, 0, 0] + 1) / 2  # a·1 + (1 − a)·(−1) = 2a − 1, the same at every pixel
    assert torch.allclose(out[faded], out[faded, :1, :1, :1].expand(-1, 3, 4, 4))
    assert (0 <= a).all() and (a <= 1).all() and (a < 0.3).any() and (a >= 0.3).any()
    assert torch.equal(target[faded, 0], (a >= 0.3).float()) and (target[:, 1] == 0).all()
    assert torch.equal(out[~faded], x[~faded]) and torch.equal(target[~faded], y[~faded])
    assert torch.equal(x, torch.ones(64, 3, 4, 4))  # the inputs are not changed in place
    _, _, none = fade(x, y, [bare, None], gen, share=0.0, threshold=0.3)
    assert not none.any()


def test_bare_images_remove_only_the_label(tmp_path):
    from jdvae.data import synthfaces
    f = synthfaces.sample_factors(0, np.arange(40))
    images, labels = synthfaces.render(f, 32), synthfaces.labels_of(f, ("glasses", "beard"))
    keep = np.arange(0, 40, 2)
    bare = bare_images(images[keep], labels[keep], f, keep, ("glasses", "beard"), 32)
    for k, name in enumerate(("glasses", "beard")):
        has = labels[keep, k] == 1
        assert has.any() and (~has).any()
        assert np.array_equal(bare[name][~has], images[keep][~has])
        want = synthfaces.render(synthfaces.without_label(synthfaces.subset(f, keep[has]), name), 32)
        assert np.array_equal(bare[name][has], want) and not np.array_equal(want, images[keep][has])
    assert bare_images(images, labels, None, keep, ("glasses",), 32) == {}


def test_averaged_labels_mix_the_donors_glasses_and_keep_the_face():
    from jdvae.data import synthfaces
    f = synthfaces.sample_factors(0, np.arange(60))
    labels = synthfaces.labels_of(f, ("glasses",))
    has = np.flatnonzero(labels[:, 0] == 1)
    assert len(has) >= 3
    one = np.sort(np.concatenate([has[:1], np.flatnonzero(labels[:, 0] == 0)[:5]]))  # a single face with glasses
    alone = averaged_label_images(labels[one], f, one, ("glasses",), 32, n_donors=3, seed=0)["glasses"]
    row = int(np.flatnonzero(labels[one, 0] == 1)[0])
    own = synthfaces.render(synthfaces.subset(f, one[row:row + 1]), 32)[0]
    assert np.array_equal(alone[row], own)  # its only donor is itself: the mean of three copies of its glasses
    assert not alone[labels[one, 0] == 0].any()  # faces without the label are never filled
    many = averaged_label_images(labels, f, np.arange(60), ("glasses",), 32, n_donors=8, seed=0)["glasses"]
    bare = synthfaces.render(synthfaces.without_label(synthfaces.subset(f, has), "glasses"), 32).astype(int)
    diff = np.abs(many[has].astype(int) - bare).sum(-1)  # (N, S, S): where the averaged glasses change the face
    assert (diff > 0).any(axis=(1, 2)).all()  # every face gains something
    assert not np.array_equal(many[has], synthfaces.render(synthfaces.subset(f, has), 32))  # not its own glasses


def test_use_averaged_swaps_in_the_averaged_version_of_present_labels_only():
    x, avg = torch.ones(64, 3, 4, 4), -torch.ones(64, 3, 4, 4)
    y = torch.tensor([[1.0]] * 32 + [[0.0]] * 32)
    out = use_averaged(x, y, [avg], torch.Generator().manual_seed(0), share=1.0)
    assert torch.equal(out[:32], avg[:32]) and torch.equal(out[32:], x[32:])
    half = use_averaged(x, y, [avg], torch.Generator().manual_seed(0), share=0.5)
    assert 0 < int((half[:32, 0, 0, 0] < 0).sum()) < 32 and torch.equal(half[32:], x[32:])
    assert torch.equal(use_averaged(x, y, [None], torch.Generator().manual_seed(0), share=1.0), x)
    assert torch.equal(x, torch.ones(64, 3, 4, 4))  # not changed in place


def test_save_load_round_trip_gives_same_predictions(tmp_path):
    judge = Judge(judge_config("smoke"), feature_head=True).eval()
    judge.report = {"arch": "resnet18"}
    save_judge(judge, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["judge.safetensors", "judge_config.json"]
    state = torch.random.get_rng_state()
    back = load_judge(tmp_path)
    assert torch.equal(torch.random.get_rng_state(), state)  # loading draws no number from the caller's RNG
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    assert torch.allclose(judge.predict(x), back.predict(x))
    assert torch.allclose(judge.features(x).colour, back.features(x).colour)
    assert back.report == {"arch": "resnet18"}


def test_missing_judge_is_a_user_error(tmp_path):
    with pytest.raises(JdvaeError, match="jdvae judge"):
        load_judge(tmp_path)


def test_tiny_training_run_reports_accuracies_and_saves(tmp_path, trains):
    judge = train_judge(tiny(), tmp_path, progress=False)
    r = judge.report
    assert r["train_images"] == 64 and "from scratch" in r["init"] and "JDVAE_OFFLINE" in r["init"]
    assert set(r["test_bca"]) == {"glasses", "beard"} and r["feature_head"]
    assert set(r["test_bca_blurred"]) == {"0.6px", "1.2px"} and set(r["test_features"]) >= {"shape_acc", "tint_mae"}
    assert load_judge(tmp_path).labels == ("glasses", "beard")
    assert judge.prob(torch.zeros(2, 3, 32, 32), "glasses").shape == (2,)
    with pytest.raises(JdvaeError):
        judge.prob(torch.zeros(1, 3, 32, 32), "hat")


def test_a_fading_judge_trains_and_differs_from_a_plain_one(tmp_path, trains):
    plain = train_judge(tiny(fade_share=0.0), tmp_path / "plain", progress=False)
    faded = train_judge(tiny(), tmp_path / "fade", progress=False)  # every profile's judge fades
    with pytest.raises(JdvaeError, match="fade_share"):
        train_judge(tiny(fade_share=1.5), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()
    assert set(faded.report["test_bca"]) == {"glasses", "beard"}
    assert (tmp_path / "fade" / WEIGHTS_FILE).read_bytes() != (tmp_path / "plain" / WEIGHTS_FILE).read_bytes()
    assert plain.cfg.fade_share == 0.0 and load_judge(tmp_path / "fade").cfg.fade_share == 0.5


def test_same_config_same_weights_whatever_the_callers_threads(tmp_path, trains):
    rng = torch.random.get_rng_state()
    weights = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            train_judge(tiny(), tmp_path / f"t{threads}", progress=False)
            assert torch.get_num_threads() == threads  # restored after training
        finally:
            torch.set_num_threads(1)
        weights.append((tmp_path / f"t{threads}" / WEIGHTS_FILE).read_bytes())
    assert weights[0] == weights[1]
    assert torch.equal(torch.random.get_rng_state(), rng)  # the caller's global RNG is untouched
    train_judge(tiny(seed=1), tmp_path / "s1", progress=False)
    assert (tmp_path / "s1" / WEIGHTS_FILE).read_bytes() != weights[0]  # the seed does matter


def test_cache_reuses_a_matching_judge_and_retrains_a_stale_one(tmp_path, monkeypatch, capsys):
    cfg = tiny()
    assert stale_fields(tmp_path, cfg) is None
    save_judge(Judge(cfg, feature_head=True), tmp_path)
    assert stale_fields(tmp_path, cfg) == []
    trained = []
    monkeypatch.setattr(judge_module, "train_judge", lambda c, out, **kw: trained.append(c) or "new judge")
    assert isinstance(ensure_judge(cfg, tmp_path), Judge) and trained == []  # reused
    other = judge_config("smoke", data=replace(profile("smoke").data, image_size=64), max_images=64, batch_size=32)
    assert stale_fields(tmp_path, other) == ["data.image_size: 32 -> 64"]
    assert ensure_judge(other, tmp_path) == "new judge" and trained == [other]
    assert "another config (data.image_size: 32 -> 64)" in capsys.readouterr().err


def test_a_judge_saved_before_a_field_existed_counts_it_at_its_default(tmp_path):
    cfg = tiny()
    save_judge(Judge(cfg, feature_head=True), tmp_path)
    meta = json.loads((tmp_path / "judge_config.json").read_text())
    del meta["config"]["fade_share"], meta["config"]["fade_threshold"]  # as written before fading existed
    (tmp_path / "judge_config.json").write_text(json.dumps(meta))
    assert stale_fields(tmp_path, cfg) == ["fade_share: 0.0 -> 0.5"]  # it was trained without fading
    assert stale_fields(tmp_path, replace(cfg, fade_share=0.0)) == []
