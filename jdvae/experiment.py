"""Naming and building the runs of the study, shared by the CLI, the notebooks and `reproduce`."""
from __future__ import annotations

from typing import Any

from .config import RunConfig, override, profile


def make_config(model: str, profile_name: str = "quick", labels: str | tuple[str, ...] = "glasses",
                seed: int = 0, data: str | None = None, celeba_root: str | None = None,
                adain: bool = True, tokens: bool = True, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The RunConfig of one run: a profile plus the study's choices plus any dotted-field overrides."""
    if isinstance(labels, str):
        labels = tuple(s.strip() for s in labels.split(",") if s.strip())
    changes: dict[str, Any] = {"model.name": model, "data.labels": tuple(labels), "model.n_labels": len(labels),
                               "train.seed": seed, "model.adain": adain, "model.tokens": tokens}
    if celeba_root:
        changes["data.celeba_root"] = celeba_root
        changes["data.source"] = "celeba"
    if data:
        changes["data.source"] = data
    changes.update(overrides or {})
    cfg = override(profile(profile_name), **changes)
    cfg = override(cfg, **{"model.image_size": cfg.data.image_size})
    cfg.validate()
    return cfg


def run_name(cfg: RunConfig) -> str:
    """Folder name of a run: {model}[-noadain][-notokens]-{labels joined by +}-s{seed}."""
    parts = [cfg.model.name]
    if not cfg.model.adain:
        parts.append("noadain")
    if not cfg.model.tokens:
        parts.append("notokens")
    parts.append("+".join(cfg.data.labels))
    parts.append(f"s{cfg.train.seed}")
    return "-".join(parts)


def study(profile_name: str, seeds: int = 1, data: str | None = None, celeba_root: str | None = None,
          overrides: dict[str, Any] | None = None) -> list[RunConfig]:
    """Every training run of the study: five models x seeds, the two PA1 ablations, PA1 with glasses and beard."""
    kw = dict(profile_name=profile_name, data=data, celeba_root=celeba_root, overrides=overrides)
    runs = [make_config(m, seed=s, **kw) for s in range(seeds) for m in ("PA1", "PA2", "M2", "CCVAE2", "CCVAE")]
    runs += [make_config("PA1", seed=s, adain=False, **kw) for s in range(seeds)]
    runs += [make_config("PA1", seed=s, tokens=False, **kw) for s in range(seeds)]
    runs.append(make_config("PA1", labels=("glasses", "beard"), seed=0, **kw))
    return runs


def check_parameters(values: dict[str, Any], types: dict[str, type | tuple[type, ...]]) -> None:
    """Refuse notebook parameters of the wrong type with one line naming the parameter and the fix."""
    for name, expected in types.items():
        value = values.get(name)
        if isinstance(value, bool) and expected in (int, float):
            ok = False
        else:
            ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not ok:
            want = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            from .errors import JdvaeError
            raise JdvaeError(f"notebook parameter {name}={value!r} should be {want}, not {type(value).__name__}; "
                             f"pass it with papermill -p {name} <{want}> (-r for raw Python values)")
