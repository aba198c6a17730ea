"""The judge: config round trip, safetensors save/load, and a tiny training run on smoke data."""
import json

import pytest
import torch

from jdvae.errors import JdvaeError
from jdvae.evaluate.judge import Judge, JudgeConfig, judge_config, load_judge, save_judge, train_judge


def test_profiles_pick_resnet50_for_paper_and_resnet18_on_cpu():
    assert judge_config("paper").arch == "resnet50"
    assert judge_config("quick").arch == "resnet18" and judge_config("quick").data.image_size == 64
    assert judge_config("smoke").data.labels == ("glasses", "beard")


def test_config_json_round_trip():
    cfg = judge_config("smoke", epochs=3)
    assert JudgeConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_save_load_round_trip_gives_same_predictions(tmp_path):
    judge = Judge(judge_config("smoke"), feature_head=True).eval()
    judge.report = {"arch": "resnet18"}
    save_judge(judge, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["judge.safetensors", "judge_config.json"]
    back = load_judge(tmp_path)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    assert torch.allclose(judge.predict(x), back.predict(x))
    assert torch.allclose(judge.features(x).colour, back.features(x).colour)
    assert back.report == {"arch": "resnet18"}


def test_missing_judge_is_a_user_error(tmp_path):
    with pytest.raises(JdvaeError, match="jdvae judge"):
        load_judge(tmp_path)


def test_tiny_training_run_reports_accuracies_and_saves(tmp_path):
    cfg = judge_config("smoke", max_images=64, batch_size=32)
    judge = train_judge(cfg, tmp_path, progress=False)
    r = judge.report
    assert r["train_images"] == 64 and "from scratch" in r["init"]
    assert set(r["test_bca"]) == {"glasses", "beard"} and r["feature_head"]
    assert load_judge(tmp_path).labels == ("glasses", "beard")
    assert judge.prob(torch.zeros(2, 3, 32, 32), "glasses").shape == (2,)
    with pytest.raises(JdvaeError):
        judge.prob(torch.zeros(1, 3, 32, 32), "hat")
