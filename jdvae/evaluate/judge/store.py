"""Where a judge lives and how it is read back: the study's judge folders, save and load (config JSON beside
safetensors, nothing unpickled), the fields where a stored judge differs from the one asked for, and whether a
judge can read a given run (same source, size and labels)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from jdvae.config import RunConfig
from jdvae.errors import JdvaeError
from jdvae.evaluate.judge.model import Judge, JudgeConfig, judge_config
from jdvae.io import atomic_path, atomic_write_json


CONFIG_FILE, WEIGHTS_FILE = "judge_config.json", "judge.safetensors"


# A study reads every swap with two judges that differ only in their seed; their disagreement is part of
# every interval (report/stats.py). Judge seed s lives in RUNS/judge (s = 0) or RUNS/judge-s{s}.
STUDY_SEEDS = (0, 1)


def judge_folder(seed: int) -> str:
    """The folder name, inside a runs folder, of the study's judge of seed `seed`."""
    return "judge" if seed == 0 else f"judge-s{seed}"


def judges_in(runs: str | os.PathLike) -> list[Path]:
    """The judge folders a runs folder holds (judge, then judge-s1, judge-s2, ...), by seed."""
    runs = Path(runs)
    found = [p for p in runs.glob("judge*") if p.is_dir() and (p / CONFIG_FILE).is_file() and
             (p.name == "judge" or (p.name.startswith("judge-s") and p.name[7:].isdigit()))]
    return sorted(found, key=lambda p: 0 if p.name == "judge" else int(p.name[7:]))


def save_judge(judge: Judge, out: str | os.PathLike) -> Path:
    """Write judge_config.json (config, weights record, report) and judge.safetensors into `out`, atomically."""
    from safetensors.torch import save_file

    out = Path(out)
    state = {k: v.detach().cpu().contiguous() for k, v in judge.state_dict().items()}
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    atomic_write_json(out / CONFIG_FILE, {"config": judge.cfg.to_dict(), "feature_head": judge.has_features,
                                          "pretrained": judge.report.get("weights"), "report": judge.report})
    return out


def load_judge(path: str | os.PathLike, device: str = "cpu") -> Judge:
    """Rebuild a judge from its folder (config JSON + safetensors; nothing is unpickled)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise JdvaeError(f"no judge in {path} (needs {CONFIG_FILE} and {WEIGHTS_FILE}); train one with `jdvae judge`")
    meta = json.loads((path / CONFIG_FILE).read_text())
    with torch.random.fork_rng(devices=[]):  # building the trunk draws random numbers: keep the caller's RNG
        judge = Judge(JudgeConfig.from_dict(meta["config"]), meta["feature_head"])
    judge.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
    judge.report = meta.get("report", {})
    return judge.to(device).eval()


def stale_fields(path: str | os.PathLike, cfg: JudgeConfig) -> list[str] | None:
    """None when `path` holds no judge; else the config fields where its judge differs from `cfg` ([] = current)."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        return None
    saved = json.loads((path / CONFIG_FILE).read_text()).get("config", {})
    # a field added since the judge was saved counts at its default, which keeps the former behaviour
    a = _flat({**{k: v for k, v in JudgeConfig().to_dict().items() if k != "data"}, **saved})
    b = _flat(json.loads(json.dumps(cfg.to_dict())))  # tuples as JSON lists, as saved
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def check_judge(judge: Judge, cfg: RunConfig, run: Path) -> None:
    """A judge trained on another source, size or labels than the run's is a JdvaeError naming both."""
    j = judge.cfg.data
    if (j.source, j.image_size) != (cfg.data.source, cfg.data.image_size) or not set(cfg.data.labels) <= set(j.labels):
        raise JdvaeError(f"the judge was trained on {j.source} {j.image_size} px {list(j.labels)} but {run} uses "
                         f"{cfg.data.source} {cfg.data.image_size} px {list(cfg.data.labels)}; pass a matching --judge")


def judge_differences(judge_dir: Path, profile_name: str, cfg: RunConfig, seed: int = 0) -> list[str] | None:
    """How the judge stored in `judge_dir` differs from the study's judge of `seed` on `cfg.data` (None: none there)."""
    return stale_fields(judge_dir, judge_config(profile_name, cfg.data, seed=seed))
