"""`jdvae reproduce`: the whole study through the numbered notebooks, resumable at every step.

Order: 00_data; then every training run of the study and its two judges unless the shipped ones serve
(01_judge and 02_train, handed to a launcher: jdvae/study/local.py runs them side by side here, the cheapest last;
jdvae/study/slurm.py as the tasks of a SLURM job array); then 03_table1 (evaluation and claims), 04 (Fig. 2),
05 (Fig. 3) and 06 (explorer panel), through the same launcher; their names are in jdvae/study/notebooks.py. A complete run is skipped, a partial one resumed.
Executed notebooks are written to RUNS/notebooks/.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jdvae.vae import checkpoint as ckpt
from jdvae.config import LABELS, RunConfig
from jdvae.errors import JdvaeError
from jdvae.evaluate.judge.store import STUDY_SEEDS, judge_differences, judge_folder
from jdvae.study import notebooks
from jdvae.study.jobs import Job, execute as _execute
from jdvae.study.local import LocalLauncher
from jdvae.study.plan import PROJECT_ROOT, format_overrides, run_name, study
from jdvae.study.scheduler import side_by_side
from jdvae.io import check_writable
from jdvae.machine import resolve_device
from jdvae.vae.train import result_differences
from jdvae.study.committed import compare_with_committed
from jdvae.study.watch import StudyWatch, fmt_duration


def widest(configs: list[RunConfig]) -> RunConfig:
    """The run with the most labels: its data is the judge's (every label of the study)."""
    return max(configs, key=lambda cfg: len(cfg.data.labels))


def check_reusable(runs: Path, configs: list[RunConfig], profile_name: str) -> None:
    """Refuse, before anything runs, a run folder or judge in `runs` made on other settings than this study's.

    A judge that differs only in its budget (not its data) is retrained by the judge step instead."""
    stale = []
    for cfg in configs:
        folder = runs / run_name(cfg)
        if (folder / ckpt.CONFIG).exists():
            differs = result_differences(ckpt.read_config(folder), cfg)
            if differs:
                stale.append(f"{folder} ({'; '.join(differs[:3])})")
    for seed in STUDY_SEEDS:
        folder = runs / judge_folder(seed)
        judge_data = [d for d in judge_differences(folder, profile_name, widest(configs), seed) or []
                      if d.startswith("data.")]
        if judge_data:
            stale.append(f"{folder} ({'; '.join(judge_data[:3])})")
    if stale:
        raise JdvaeError(f"{len(stale)} folder(s) in {runs} were made with other settings (stored != asked), first "
                         f"{stale[0]}; give this setting its own --runs (its figures go to RUNS/figures), or delete them to retrain")


def figure_jobs(runs: Path, figures: Path, device: str, profile_name: str, executed: Path,
                labels: tuple[str, ...] = LABELS, workers: int | None = None) -> list[Job]:
    """Notebooks 03-06 on the runs in `runs`: Table 1 and claims, Fig. 2, Fig. 3 (with two labels), the explorer
    panel; Fig. 2 and the explorer show the study's first label.

    Table 1 evaluates the runs side by side (jdvae/study/scheduler.py: on a CPU one process per core, up to two; on CUDA
    what the GPU and the cores allow); the table is the same."""
    params = (("runs", str(runs)), ("out", str(figures)), ("device", device), ("profile", profile_name))
    table = params + (("workers", workers or side_by_side(device)),)
    jobs = [Job("Table 1 and claims", notebooks.TABLE, table, executed / notebooks.TABLE),
            Job("Fig. 2 swaps", notebooks.FIG2, params + (("label", labels[0]),), executed / notebooks.FIG2)]
    if len(labels) > 1:
        jobs.append(Job(f"Fig. 3 {labels[0]} and {labels[1]}", notebooks.FIG3,
                        params + (("labels", ",".join(labels)),), executed / notebooks.FIG3))
    return jobs + [Job("explorer panel", notebooks.EXPLORE, params + (("labels", labels[0]),),
                       executed / notebooks.EXPLORE)]


def reproduce_pretrained(profile_name: str = "quick", pretrained: str | Path | None = None,
                         figures: str | Path | None = None, device: str = "cpu", runs: str | Path | None = None,
                         log=None) -> Path:
    """Table 1, claims.md, Fig. 2, Fig. 3 and the explorer panel from the shipped study, without training.

    Every shipped file is checked against its SHA-256 first; executed notebooks go to RUNS/notebooks and the
    figures to RUNS/figures unless `figures` says otherwise (RUNS: default runs/<profile>-pretrained/), never into
    the shipped folder, nor by default into paper_figures/, whose tables hold every seed of the study. The seed-0
    rates drawn are then compared with paper_figures/metrics.json's, and the outcome said in one line."""
    from jdvae.study.shipped import default_folder, verify

    log = log or (lambda line: print(line, flush=True))
    folder = Path(pretrained) if pretrained else default_folder(profile_name)
    if folder.resolve().is_relative_to(Path.cwd()):  # metrics.json names the runs as pretrained/quick/..., not /home/...
        folder = folder.resolve().relative_to(Path.cwd())
    manifest = verify(folder)
    profile_name = manifest["profile"]
    runs = Path(runs or Path("runs") / f"{profile_name}-pretrained")
    figures, executed = check_writable(figures or runs / "figures"), check_writable(runs / "notebooks")
    device = str(resolve_device(device))
    t_start = time.perf_counter()
    log(f"jdvae reproduce --pretrained: the shipped {profile_name} study in {folder} ({len(manifest['files'])} "
        f"files, SHA-256 verified; jdvae {manifest.get('jdvae_commit', 'unknown')[:10]}), figures in {figures}")
    for job in figure_jobs(folder, figures, device, profile_name, executed):
        log(f"  done  {job.title:<32} {fmt_duration(_execute(job, None))}   (elapsed {fmt_duration(time.perf_counter() - t_start)})")
    log(f"jdvae reproduce --pretrained: finished in {fmt_duration(time.perf_counter() - t_start)}; see {figures}/ "
        f"(executed notebooks in {executed})")
    log(compare_with_committed(figures / "metrics.json", PROJECT_ROOT / "paper_figures" / "metrics.json"))
    return figures


def reproduce(profile_name: str = "quick", data: str | None = None, celeba_root: str | None = None,
              seeds: int = 1, device: str = "auto", runs: str | Path | None = None,
              figures: str | Path | None = None, overrides: dict[str, Any] | None = None, log=None,
              from_shipped: bool = False, retrain_judges: bool = False, data_root: str | None = None,
              labels: str | tuple[str, ...] | None = None, launcher=None) -> Path:
    """Train what is missing, evaluate, and draw every figure of the study into `figures` (default RUNS/figures;
    RUNS: default runs/<profile>); returns the figures folder. paper_figures/, the committed three-seed study, is
    written only when named (`make reproduce SEEDS=3` names it).

    `overrides` (dotted fields, as `--set`) reach every training and the judge's data; they are checked here,
    before any notebook runs, and a run folder or judge made with other settings is refused, never reused.
    The study's two judges are instruments: the shipped ones are copied in (SHA-256 verified) when their settings
    equal this study's, unless `retrain_judges`, which trains them from scratch as the shipped ones were.
    `from_shipped`: first copy in the shipped study's runs whose settings equal this study's (seed 0 of the
    default data), so that only the rest trains, e.g. seeds 1 and 2 of `--seeds 3`. `launcher` runs the trainings,
    the judges and the closing notebooks: jdvae/study/local.py's (the default: side by side here) or
    jdvae/study/slurm.py's (tasks of a SLURM job array)."""
    log = log or (lambda line: print(line, flush=True))  # progress shows at once, even in a log file
    launcher = launcher or LocalLauncher()
    configs = study(profile_name, seeds, data=data, celeba_root=celeba_root, overrides=overrides, data_root=data_root,
                    labels=labels)
    labels = widest(configs).data.labels  # the study's, in its order
    runs = Path(runs or Path("runs") / profile_name)
    figures = Path(figures or runs / "figures")
    check_writable(runs)
    check_writable(figures)
    check_reusable(runs, configs, profile_name)
    executed = check_writable(runs / "notebooks")
    place = launcher.place(device, configs[0])  # the local launcher resolves the device here, SLURM's on the node
    common = (("profile", profile_name), ("data", data or configs[0].data.source), ("celeba_root", celeba_root or ""),
              ("data_root", data_root or ""), ("device", place.device), ("overrides", format_overrides(overrides)))
    t_start = time.perf_counter()
    log(f"jdvae reproduce: profile {profile_name}, {len(configs)} training runs and {len(STUDY_SEEDS)} judges, "
        f"{launcher.describe()}; runs in {runs}, figures in {figures}"
        + "".join(f"; --set {k}={v}" for k, v in (overrides or {}).items()))
    if from_shipped:
        from jdvae.study.shipped import seed_study
        seed_study(runs, configs, profile_name, log=log)
    from jdvae.study.shipped import shipped_judges
    shipped_judges(runs, widest(configs), profile_name, retrain=retrain_judges, log=log)

    def step(job: Job, threads: int | None = None, share_file: Path | None = None,
             watch: StudyWatch | None = None, gpu: str | None = None) -> None:
        if watch is not None:
            watch.start(job.title)
        ok = False
        try:
            seconds = _execute(job, threads, share_file, watch.progress_file(job.title) if watch else None, gpu)
            ok = True
        finally:
            if watch is not None:
                watch.finish(job.title, ok)
        (watch.log if watch else log)(f"  done  {job.title:<32} {fmt_duration(seconds)}   (elapsed {fmt_duration(time.perf_counter() - t_start)})")

    study_labels = (("labels", ",".join(labels)),)
    dry_run = getattr(launcher, "dry_run", False)  # SLURM's --dry-run: say what would be submitted, run nothing
    if not dry_run:
        step(Job("data overview", notebooks.DATA, common[:4] + study_labels + (("out", str(figures)),),
                 executed / notebooks.DATA))

    pending = []
    for cfg in configs:
        name = run_name(cfg)
        if ckpt.is_complete(runs / name) and not ckpt.weights_problem(runs / name / ckpt.WEIGHTS):
            log(f"  skip  {name:<32} complete")  # damaged weights: 02_train's resume rewrites them from state.pt
            continue
        params = (("model", cfg.model.name), ("labels", ",".join(cfg.data.labels)), ("seed", cfg.train.seed),
                  ("adain", cfg.model.adain), ("tokens", cfg.model.tokens), ("threads", place.threads or 0),
                  ("out", str(runs / name))) + common
        pending.append(Job(f"train {name}", notebooks.TRAIN, params, executed / notebooks.executed_training(name)))
    # Joy et al.'s CCVAE goes last: alone at the end it takes the freed core too (3 600-step study on 2 cores:
    # about 280 images/s beside another training, 345-405 alone on two threads; its metrics.csv)
    pending.sort(key=lambda job: dict(job.parameters)["model"] == "CCVAE")
    for seed in reversed(STUDY_SEEDS):
        folder = runs / judge_folder(seed)
        if judge_differences(folder, profile_name, widest(configs), seed) != []:
            # a judge is among the longest jobs: first in the queue, so it never runs alone after the trainings
            pending.insert(0, Job(f"train {folder.name}", notebooks.JUDGE,
                                  common + study_labels + (("seed", seed), ("out", str(folder)),
                                                           ("threads", place.threads or 0)),
                                  executed / notebooks.executed_judge(folder.name)))
    launcher.run(pending, step, place.threads, executed, log)
    launcher.close(figure_jobs(runs, figures, place.device, profile_name, executed, labels, workers=place.workers),
                   step, log)
    log("jdvae reproduce: dry run, nothing ran and nothing was submitted" if dry_run else
        f"jdvae reproduce: finished in {fmt_duration(time.perf_counter() - t_start)}; see {figures}/ "
        f"(executed notebooks in {executed})")
    return figures
