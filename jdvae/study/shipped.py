"""The shipped study: pack a finished study's seed-0 runs into pretrained/<profile>/, verify it, use it.

A shipped folder is laid out like a runs folder, so every step that reads runs reads it unchanged:
one folder per run (config.json, model.safetensors, metrics.csv, done.json), the study's judges (judge/,
judge-s1/: judge_config.json, judge.safetensors), and manifest.json with the SHA-256 and size of every file, the commit and command that
made them, the CPU and torch version, and each job's wall time. Training state (state.pt, snapshots/) never ships.
"""
from __future__ import annotations

import csv
import json
import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from jdvae.vae import checkpoint as ckpt
from jdvae.errors import JdvaeError
from jdvae.evaluate.judge.store import CONFIG_FILE, STUDY_SEEDS, WEIGHTS_FILE, judge_differences, judge_folder
from jdvae.io import atomic_write_json, sha256
from jdvae.machine import cpu_model, git_commit
from jdvae.study import notebooks
from jdvae.study.plan import PROJECT_ROOT as ROOT, make_config, name_of, run_name, study
from jdvae.vae.train import result_differences

MANIFEST = "manifest.json"
RUN_FILES = (ckpt.CONFIG, ckpt.WEIGHTS, ckpt.METRICS, ckpt.DONE)
JUDGE_FILES = (CONFIG_FILE, WEIGHTS_FILE)
LIMIT_MB = 50.0
JUDGES = tuple(judge_folder(seed) for seed in STUDY_SEEDS)
COPIED = "copied_from.json"  # written beside a judge copied from the shipped study (--retrain-judges replaces it)
SEED = 0


def default_folder(profile_name: str) -> Path:
    """Where the repository ships a profile's study: pretrained/<profile>/."""
    return ROOT / "pretrained" / profile_name


def _papermill_seconds(notebook: Path) -> float | None:
    try:
        return float(json.loads(notebook.read_text())["metadata"]["papermill"]["duration"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _metrics_seconds(metrics: Path, batch_size: int) -> float | None:
    """Training time from metrics.csv: each epoch row's steps x batch / images_per_s (validation not counted)."""
    try:
        with open(metrics) as f:
            rows = list(csv.DictReader(f))
        total, step = 0.0, 0
        for row in rows:
            total += (int(row["step"]) - step) * batch_size / float(row["images_per_s"])
            step = int(row["step"])
        return total if rows else None
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        return None


def wall_seconds(runs: Path, name: str) -> dict[str, Any]:
    """A job's wall time: its executed notebook's papermill duration (under the name this study or an earlier one
    gave it, notebooks.executed_names), else what metrics.csv (or the judge) says."""
    for file in notebooks.executed_names(name, judge=name in JUDGES):
        notebook = runs / "notebooks" / file
        seconds = _papermill_seconds(notebook)
        if seconds is not None:
            return {"seconds": round(seconds, 1), "source": f"papermill duration of {notebook.relative_to(runs)}"}
    if name in JUDGES:
        report = json.loads((runs / name / JUDGE_FILES[0]).read_text()).get("report", {})
        seconds, source = report.get("train_seconds"), "judge report train_seconds (training only)"
    else:
        seconds = _metrics_seconds(runs / name / ckpt.METRICS, ckpt.read_config(runs / name).train.batch_size)
        source = "metrics.csv: steps x batch / images_per_s (training steps only)"
    return {"seconds": None if seconds is None else round(float(seconds), 1), "source": source if seconds else "not found"}


def _float_dtypes(path: Path) -> set[str]:
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    return {t["dtype"] for k, t in header.items() if k != "__metadata__" and t["dtype"].startswith(("F", "BF"))}


def study_command(runs: Path, profile_name: str) -> str:
    """The `jdvae reproduce` command that makes these runs, read back from PA1's stored config."""
    stored = ckpt.read_config(runs / run_name(make_config("PA1", profile_name)))
    asked = make_config("PA1", profile_name)
    sets = [d.split(":")[0] for d in result_differences(stored, asked)]
    flat = {f"{part}.{k}": v for part, d in stored.to_dict().items() if isinstance(d, dict) for k, v in d.items()}
    return " ".join([f"jdvae reproduce --profile {profile_name} --runs {runs}"] + [f"--set {k}={flat[k]}" for k in sets])


def _check_study(runs: Path) -> tuple[str, list[str]]:
    """The study's profile and its seed-0 run names; refuse a missing, unfinished or damaged run or judge."""
    if not runs.is_dir():
        raise JdvaeError(f"{runs} is not a folder; pass the runs folder of a finished study, e.g. --runs runs/quick")
    profiles = sorted({ckpt.read_config(c.parent).profile for c in runs.glob(f"*-s{SEED}/{ckpt.CONFIG}")})
    if len(profiles) != 1:
        raise JdvaeError(f"{runs} holds {'no seed-0 run' if not profiles else 'runs of profiles ' + ', '.join(profiles)}"
                         f"; pass the runs folder of one finished study (`jdvae reproduce --profile quick`)")
    profile_name = profiles[0]
    names = [run_name(cfg) for cfg in study(profile_name, 1)]
    finish = f"finish the study with `jdvae reproduce --profile {profile_name} --runs {runs}`, then ship it"
    for name in names:
        folder = runs / name
        if not ckpt.is_complete(folder):
            raise JdvaeError(f"{folder} is missing or unfinished (no {ckpt.DONE}); {finish}")
        if problem := ckpt.weights_problem(folder / ckpt.WEIGHTS):
            raise JdvaeError(f"{folder / ckpt.WEIGHTS} is {problem}; {ckpt.weights_fix(folder)}")
        if (dtypes := _float_dtypes(folder / ckpt.WEIGHTS) - {"F32"}):
            raise JdvaeError(f"{folder / ckpt.WEIGHTS} holds {', '.join(sorted(dtypes))} tensors; ship fp32 weights "
                             f"(train with --set train.precision=fp32 or save the fp32 master weights)")
        if not (folder / ckpt.METRICS).is_file():
            raise JdvaeError(f"{folder / ckpt.METRICS} is missing; {finish}")
    for judge in JUDGES:
        for file in JUDGE_FILES:
            if not (runs / judge / file).is_file():
                raise JdvaeError(f"{runs / judge / file} is missing: the study's judge {judge} is unfinished; {finish}")
    return profile_name, names


def ship(runs: str | Path, out: str | Path, command: str | None = None, limit_mb: float = LIMIT_MB,
         log=print) -> dict[str, Any]:
    """Copy the seed-0 runs and the judges of the finished study in `runs` into `out`, with manifest.json."""
    runs, out = Path(runs), Path(out)
    profile_name, names = _check_study(runs)
    files = [f"{name}/{file}" for name in names for file in RUN_FILES] + [f"{j}/{f}" for j in JUDGES for f in JUDGE_FILES]
    total = sum((runs / f).stat().st_size for f in files)
    if total > limit_mb * 1e6:
        raise JdvaeError(f"the {len(files)} files to ship from {runs} hold {total / 1e6:.1f} MB, over the "
                         f"{limit_mb:g} MB limit; ship a smaller profile, or raise --max-mb knowingly")
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise JdvaeError(f"{out} exists and is not a shipped folder (no {MANIFEST}); choose an empty or new --out")
    staging = out.parent / f".{out.name}.shipping"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for f in files:
            (staging / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(runs / f, staging / f)
        manifest = _manifest(runs, staging, profile_name, names, files, total, command)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"jdvae ship: {len(names)} runs and the {len(JUDGES)} judges of {runs} ({profile_name}, seed {SEED}), "
        f"{total / 1e6:.1f} MB, into {out}")
    return manifest


def _manifest(runs: Path, staging: Path, profile_name: str, names: list[str], files: list[str], total: int,
              command: str | None) -> dict[str, Any]:
    """manifest.json of the files copied into `staging`, written there."""
    import torch

    manifest = {
        "profile": profile_name, "seed": SEED, "runs": names,
        "jdvae_commit": git_commit(), "command": command or study_command(runs, profile_name),
        "command_source": "given with --command" if command else "read back from the runs' config.json",
        "cpu": cpu_model(), "torch": torch.__version__, "python": platform.python_version(),
        "shipped_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_seconds": {name: wall_seconds(runs, name) for name in names + list(JUDGES)},
        "total_bytes": total,
        "files": {f: {"sha256": sha256(staging / f), "bytes": (staging / f).stat().st_size} for f in files},
    }
    atomic_write_json(staging / MANIFEST, manifest)
    return manifest


def verify(folder: str | Path) -> dict[str, Any]:
    """Check every file of a shipped folder against its manifest (size, then SHA-256); return the manifest."""
    folder = Path(folder)
    restore = f"restore it with `git checkout -- {folder}`, or train the study yourself (`jdvae reproduce`)"
    if not folder.is_dir():
        raise JdvaeError(f"no shipped study in {folder}; this checkout ships none there: train the study with "
                         f"`jdvae reproduce` (or pack a finished one with `jdvae ship`)")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        listed = manifest["files"]
    except FileNotFoundError:
        raise JdvaeError(f"{folder / MANIFEST} is missing: {folder} is not a shipped study; {restore}") from None
    except (ValueError, KeyError, TypeError):
        raise JdvaeError(f"{folder / MANIFEST} is damaged (not the JSON `jdvae ship` writes); {restore}") from None
    for name, entry in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            raise JdvaeError(f"{path} is missing from the shipped study; {restore}")
        size = path.stat().st_size
        if size != entry["bytes"]:
            what = "truncated" if size < entry["bytes"] else "changed"
            raise JdvaeError(f"{path} is {what} ({size} bytes, {entry['bytes']} shipped); {restore}")
        if sha256(path) != entry["sha256"]:
            raise JdvaeError(f"{path} was changed: its SHA-256 is not the one in {MANIFEST}; {restore}")
    return manifest


def resolve_runs(runs: str, profile: str = "quick", models: Iterable[str] | None = None,
                 labels: str = "glasses", seed: int = SEED, pretrained: str = "") -> str:
    """The runs folder a notebook reads: `runs` when it holds the finished runs `models` on `labels` of `seed` (None:
    the seed-0 study), else the verified shipped study of `profile` (saying so in one line), else `runs` as it is."""
    names = [run_name(cfg) for cfg in study(profile, 1)] if models is None else \
        [name_of(m, labels, seed) for m in models]
    missing = [name for name in names if not ckpt.is_complete(Path(runs) / name)]
    if not missing:
        for name in names:
            folder = Path(runs) / name
            if problem := ckpt.weights_problem(folder / ckpt.WEIGHTS):
                raise JdvaeError(f"{folder / ckpt.WEIGHTS} of a finished run is {problem}; {ckpt.weights_fix(folder)}")
        return str(runs)
    shipped = Path(pretrained) if pretrained else default_folder(profile)
    if not (shipped / MANIFEST).is_file():
        return str(runs)
    manifest = verify(shipped)
    if manifest.get("profile") != profile or not set(names) <= set(manifest.get("runs", ())):
        return str(runs)
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    print(f"note: {Path(runs) / missing[0]}{more} is missing or unfinished; using the shipped {profile} study in "
          f"{shipped} (SHA-256 verified, jdvae {manifest.get('jdvae_commit', 'unknown')[:10]})")
    return str(shipped)


def seed_study(runs: str | Path, configs: Iterable, profile_name: str, pretrained: str | Path | None = None,
               log=print) -> list[str]:
    """Copy into `runs` each shipped run of `profile_name` that `runs` lacks and whose stored config equals the
    study's (a run folder already there, finished or not, is left as it is); return what was copied.

    The shipped folder's SHA-256 are verified first. A run made on other settings (another --set, another data
    seed) is never copied: the study trains it as usual. Copies land under a temporary name, then are renamed.
    The judges come from `shipped_judges`."""
    runs, configs = Path(runs), list(configs)
    folder = Path(pretrained) if pretrained else default_folder(profile_name)
    if not (folder / MANIFEST).is_file():
        raise JdvaeError(f"{folder / MANIFEST} is missing: no shipped {profile_name} study to start from; "
                         f"drop --from-shipped to train every run")
    verify(folder)
    wanted = [run_name(cfg) for cfg in configs if not (runs / run_name(cfg)).exists()
              and ckpt.is_complete(folder / run_name(cfg))
              and not result_differences(ckpt.read_config(folder / run_name(cfg)), cfg)]  # threads etc. do not count
    for name in wanted:
        _copy(folder / name, runs / name, RUN_FILES)
        log(f"  copy  {name:<32} from {folder} (shipped, SHA-256 verified)")
    return wanted


def shipped_judges(runs: str | Path, cfg, profile_name: str, pretrained: str | Path | None = None,
                   retrain: bool = False, log=print) -> list[str]:
    """Copy into `runs` each of the study's judges that `runs` lacks and that the shipped study of `profile_name`
    holds with the same settings as this study's judge of that seed on `cfg.data`; return what was copied.

    The judges are instruments, like LPIPS's network: trained once, shipped, SHA-256 verified before use. With
    `retrain`, judges copied here earlier are removed instead, so that the study trains its own (judges it
    trained itself are kept, so an interrupted study resumes)."""
    runs = Path(runs)
    if retrain:
        for judge in JUDGES:
            if (runs / judge / COPIED).is_file():
                shutil.rmtree(runs / judge)
        return []
    folder = Path(pretrained) if pretrained else default_folder(profile_name)
    wanted = [(judge, seed) for judge, seed in zip(JUDGES, STUDY_SEEDS) if not (runs / judge).exists()
              and judge_differences(folder / judge, profile_name, cfg, seed) == []]
    if not wanted or not (folder / MANIFEST).is_file():
        return []
    verify(folder)
    for judge, _ in wanted:
        _copy(folder / judge, runs / judge, JUDGE_FILES)
        atomic_write_json(runs / judge / COPIED, {"from": str(folder),
                                                  "sha256": {f: sha256(runs / judge / f) for f in JUDGE_FILES}})
        log(f"  copy  {judge:<32} from {folder} (shipped, SHA-256 verified; --retrain-judges trains it instead)")
    return [judge for judge, _ in wanted]


def _copy(source: Path, target: Path, files: Iterable[str]) -> None:
    """Copy `files` of `source` into `target` under a temporary name, then rename it: never half a folder."""
    staging = target.parent / f".{target.name}.copying"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file in files:
        shutil.copy2(source / file, staging / file)
    staging.rename(target)
