"""Every run of a study evaluated on its own: in this process, or in `workers` processes side by side.

Each process loads the judges, LPIPS and the data splits once and keeps them for its next runs; results
come back in the order of `runs`, so the table does not depend on the number of workers.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

_CACHE: dict[str, Any] = {}


def evaluate_one(run: Path, judge_dirs: list[Path], device: str, pair_seed: int, split: str,
                 progress: bool) -> tuple[dict, dict, list, dict]:
    """(the run's config as a dict, its metrics, its notes, its per-pair outcomes) on `split`, read by every judge."""
    from jdvae.vae.checkpoint import load_run
    from jdvae.data import synthfaces
    from jdvae.data.splits import load_split
    from jdvae.evaluate.judge.store import check_judge, load_judge
    from jdvae.evaluate.lpips_metric import load_lpips
    from jdvae.evaluate.metrics import evaluate_model

    if _CACHE.get("judge_key") != (tuple(map(str, judge_dirs)), device):
        _CACHE.update(judge_key=(tuple(map(str, judge_dirs)), device),
                      judges=[load_judge(d, device) for d in judge_dirs], lpips=load_lpips(device))
    judges = _CACHE["judges"]
    model, cfg = load_run(run, device)
    for judge in judges:
        check_judge(judge, cfg, run)
    key = (cfg.data, split)
    if _CACHE.get("data_key") != key:  # one data set in memory at a time
        synth = cfg.data.source == "synthfaces"
        _CACHE.update(data_key=key, splits=(load_split(cfg.data, split, progress=progress),
                                            load_split(cfg.data, "train", progress=progress) if synth else None))
    test, train = _CACHE["splits"]
    renderer = synthfaces if cfg.data.source == "synthfaces" else None
    kept: dict = {}
    metrics, notes = evaluate_model(model, test, cfg.data.labels, judges, _CACHE["lpips"], pair_seed, train, renderer,
                                    device, progress=progress, outcomes=kept)
    return cfg.to_dict(), metrics, notes, kept


def _worker_init() -> None:
    torch.set_num_threads(1)  # one core each: the workers share the machine's cores


def evaluate_each(runs: list[Path], judge_dirs: list[Path], device: str, pair_seed: int, split: str, progress: bool,
                  workers: int = 1, judges=None, lpips=None) -> list[tuple[dict, dict, list, dict]]:
    """`evaluate_one` of every run, in the order of `runs`; `workers` > 1 runs them in that many processes (on CUDA
    they share the GPU, each on one CPU thread).

    `judges` and `lpips`, when the caller has loaded them from `judge_dirs`, serve this process's runs as they are."""
    from tqdm.auto import tqdm

    if workers <= 1 or len(runs) < 2:
        if judges is not None and lpips is not None:
            _CACHE.update(judge_key=(tuple(map(str, judge_dirs)), device), judges=list(judges), lpips=lpips)
        return [evaluate_one(run, judge_dirs, device, pair_seed, split, progress)
                for run in tqdm(runs, desc="models", disable=not progress)]
    context = multiprocessing.get_context("spawn")  # no forked OpenMP state
    with ProcessPoolExecutor(min(workers, len(runs)), mp_context=context, initializer=_worker_init) as pool:
        futures = {pool.submit(evaluate_one, run, judge_dirs, device, pair_seed, split, False): i
                   for i, run in enumerate(runs)}
        done = {}
        for future in tqdm(as_completed(futures), total=len(futures), desc="models", disable=not progress):
            done[futures[future]] = future.result()
    return [done[i] for i in range(len(runs))]
