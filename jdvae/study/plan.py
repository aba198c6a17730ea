"""Naming and building the runs of the study, shared by the CLI, the notebooks and `reproduce`."""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any, Iterable

from jdvae.config import LABELS, MODEL_SETTINGS, RunConfig, field_type, override, profile, split_optional
from jdvae.errors import JdvaeError
from jdvae.io import PROJECT_ROOT
from jdvae.study import notebooks


# Fields each run of the study sets itself; a study-wide override may change any other.
STUDY_FIELDS = ("model.name", "model.adain", "model.tokens", "data.labels", "model.n_labels", "train.seed",
                "model.image_size")


def parse_value(text: str):
    """A Python literal when it is one (10, 0.5, True, None, ('a', 'b')), else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """Dotted-field overrides from FIELD=VALUE texts (`--set`); a text field keeps the text as typed (a folder
    named 2024 stays "2024"). Types are checked later, by `config.override`."""
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise JdvaeError(f"--set {item!r} is not FIELD=VALUE; write e.g. --set train.epochs=10")
        value = parse_value(text)
        hint, optional = split_optional(field_type(key))  # an unknown field fails here, with the valid names
        if hint is str and not isinstance(value, str) and not (optional and value is None):
            value = text
        overrides[key] = value
    return overrides


def parse_overrides(text: str) -> dict[str, Any]:
    """The notebooks' `overrides` parameter: a JSON object (what `reproduce` passes) or "FIELD=VALUE;FIELD=VALUE"."""
    if text.strip().startswith("{"):
        try:
            overrides = json.loads(text)
        except json.JSONDecodeError as e:
            raise JdvaeError(f"overrides {text!r} is not a JSON object ({e}); "
                             f'write e.g. {{"data.seed": 3}} or data.seed=3;train.lr=0.001') from None
        if not isinstance(overrides, dict):
            raise JdvaeError(f"overrides {text!r} is not a JSON object; write e.g. data.seed=3;train.lr=0.001")
        return overrides
    return parse_sets(item for item in text.split(";") if item.strip())


def format_overrides(overrides: dict[str, Any] | None) -> str:
    """The text `parse_overrides` reads back: a JSON object ("" when there is none)."""
    return json.dumps(overrides, sort_keys=True) if overrides else ""


def make_config(model: str, profile_name: str = "quick", labels: str | tuple[str, ...] = "glasses",
                seed: int = 0, data: str | None = None, celeba_root: str | None = None,
                adain: bool = True, tokens: bool = True, overrides: dict[str, Any] | None = None,
                data_root: str | None = None) -> RunConfig:
    """The RunConfig of one run: a profile, the profile's settings for `model` (config.MODEL_SETTINGS), the
    study's choices, then any dotted-field overrides."""
    if isinstance(labels, str):
        labels = tuple(s.strip() for s in labels.split(",") if s.strip())
    changes: dict[str, Any] = {**MODEL_SETTINGS.get(profile_name, {}).get(model, {}), "model.name": model, "data.labels": tuple(labels), "model.n_labels": len(labels),
                               "train.seed": seed, "model.adain": adain, "model.tokens": tokens}
    if celeba_root:
        changes["data.celeba_root"] = celeba_root
        changes["data.source"] = "celeba"
    if data_root:
        changes["data.data_root"] = data_root
        changes["data.source"] = "folder"
    if data:
        changes["data.source"] = data
    changes.update(overrides or {})
    cfg = override(profile(profile_name), **changes)
    cfg = override(cfg, **{"model.image_size": cfg.data.image_size, "model.n_labels": len(cfg.data.labels)})
    cfg.validate()
    return cfg


def run_name(cfg: RunConfig) -> str:
    """Folder name of a run: {model}[-noadain][-notokens]-{labels joined by +}-s{seed}."""
    return name_of(cfg.model.name, cfg.data.labels, cfg.train.seed, cfg.model.adain, cfg.model.tokens)


def name_of(model: str, labels: str | tuple[str, ...], seed: int = 0, adain: bool = True, tokens: bool = True) -> str:
    """The folder name `run_name` gives such a run; `labels` as a tuple or joined by + or ,."""
    if isinstance(labels, str):
        labels = tuple(s for s in labels.replace(",", "+").split("+") if s)
    return "-".join([model] + ["noadain"] * (not adain) + ["notokens"] * (not tokens) + ["+".join(labels), f"s{seed}"])


def study_labels(labels: str | tuple[str, ...] | None, data: str | None = None,
                 data_root: str | None = None) -> tuple[str, ...]:
    """The study's labels: glasses and beard, or on one's own images (data "folder", or a data_root) the one or
    two given."""
    if isinstance(labels, str):
        labels = tuple(s.strip() for s in labels.split(",") if s.strip())
    if data != "folder" and not (data is None and data_root):
        if labels and tuple(labels) != LABELS:
            raise JdvaeError(f"--labels {','.join(labels)}: the study on SynthFaces and CelebA uses "
                             f"{','.join(LABELS)}; choose labels with --data folder --data-root DIR")
        return LABELS
    if not labels or len(labels) > 2:
        raise JdvaeError(f"the study on your own images takes one or two labels, not {len(labels or ())}; "
                         "pass --labels A or --labels A,B (0/1 columns of labels.csv)")
    return tuple(labels)


def study(profile_name: str, seeds: int = 1, data: str | None = None, celeba_root: str | None = None,
          overrides: dict[str, Any] | None = None, data_root: str | None = None,
          labels: str | tuple[str, ...] | None = None) -> list[RunConfig]:
    """Every training run of the study, each on every seed: the five models, the two PA1 ablations on the first
    label, two-label PA1 (on one's own images: when two labels are given; `study_labels`).

    `overrides` (dotted fields, as `--set`) apply to every run; the fields the study sets per run are refused."""
    fixed = [key for key in overrides or {} if key in STUDY_FIELDS]
    if fixed:
        hint = "; set data.image_size instead" if "model.image_size" in fixed else ""
        raise JdvaeError(f"{fixed[0]} cannot be overridden: the study sets it for each of its runs, as it does "
                         f"{', '.join(STUDY_FIELDS)}{hint}; any other field can, e.g. data.supervision=0.1")
    labels = study_labels(labels, data, data_root)
    kw = dict(profile_name=profile_name, data=data, celeba_root=celeba_root, overrides=overrides,
              data_root=data_root, labels=labels[:1])
    runs = [make_config(m, seed=s, **kw) for s in range(seeds) for m in ("PA1", "PA2", "M2", "CCVAE2", "CCVAE")]
    runs += [make_config("PA1", seed=s, adain=False, **kw) for s in range(seeds)]
    runs += [make_config("PA1", seed=s, tokens=False, **kw) for s in range(seeds)]
    if len(labels) > 1:
        runs += [make_config("PA1", seed=s, **{**kw, "labels": labels}) for s in range(seeds)]
    return runs


def accepted_types(default: Any) -> tuple[type, ...] | None:
    """The types a notebook parameter takes, from its default: an int takes int, a float int or float, a bool
    bool, a str str (never a bool for a number); a None default takes anything (None)."""
    if default is None:
        return None
    if isinstance(default, float):
        return int, float
    return (type(default),)


def check_parameters(values: dict[str, Any], notebook: str | Path) -> None:
    """Refuse notebook parameters of the wrong type with one line naming the parameter and the fix; each type is
    its default's in the notebook's cell tagged `parameters` (notebooks.parameters), so it is declared once."""
    for name, default in notebooks.parameters(notebook).items():
        value, types = values.get(name), accepted_types(default)
        if types is None or (isinstance(value, types) and not (isinstance(value, bool) and bool not in types)):
            continue
        want = types[-1].__name__
        raise JdvaeError(f"notebook parameter {name}={value!r} should be {want}, not {type(value).__name__}; "
                         f"pass it with papermill -p {name} <{want}> (-r for raw Python values)")


def work_in_project_root() -> Path:
    """Make a notebook's relative paths ("runs/quick", "paper_figures") the project's: JupyterLab starts the
    kernel in notebooks/, papermill where it is called; from notebooks/, move to the project root."""
    if Path.cwd().resolve() == PROJECT_ROOT / "notebooks":
        os.chdir(PROJECT_ROOT)
        print(f"working in {PROJECT_ROOT}: relative paths name the project's folders")
    return Path.cwd()
