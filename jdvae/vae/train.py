"""The trainer: Adam on Eq. 4 (or Joy et al.'s bound), resumable, atomic, one process or torchrun.

The trainer knows the model only through `forward` and the structure's objective name. The
data order of epoch e is a permutation seeded by (seed, e), and the checkpoint holds the
optimiser, the RNG state and the step, so a resumed run continues exactly where it stopped.
"""
from __future__ import annotations

import copy
import csv
import io
import os
import time
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm.auto import tqdm

from jdvae.vae import checkpoint as ckpt
from jdvae.config import RunConfig, diff
from jdvae.data.tensors import to_model_input
from jdvae.errors import JdvaeError
from jdvae.vae.levers import SYNC_EVERY, TermLog, adam, compile_wanted, compiled, resolve as resolve_levers, restore_adam
from jdvae.machine import resolve_device
from jdvae.io import atomic_write_json, atomic_write_text, check_writable
from jdvae.report.stats import balanced_accuracy
from jdvae.vae.losses import loss_for, reconstruction
from jdvae.vae.model import build_model
from jdvae.vae.precision import resolve as resolve_precision, to_fp32
from jdvae.vae.schedules import step_drop, warmup_cosine

IGNORED_ON_RESUME = ("train.threads", "train.checkpoint_minutes")  # do not change the result


def result_differences(stored: RunConfig, asked: RunConfig) -> list[str]:
    """The fields ("field: stored != asked") where two run configs differ in what changes a run's result."""
    return [d for d in diff(stored, asked) if d.split(":")[0] not in IGNORED_ON_RESUME]


def steps_per_epoch(n_images: int, batch_size: int, world: int = 1) -> int:
    """Optimiser steps per epoch: each of `world` processes takes batch_size // world images a step, and an epoch
    drops its last short batch."""
    return n_images // (max(1, batch_size // world) * world)


def total_steps(cfg: RunConfig, n_images: int, world: int = 1) -> int:
    """Steps of a whole run on `n_images` training images: epochs x steps per epoch, capped by train.max_steps."""
    total = cfg.train.epochs * steps_per_epoch(n_images, cfg.train.batch_size, world)
    return min(total, cfg.train.max_steps) if cfg.train.max_steps else total


def learning_rate(step: int, total_steps: int, cfg) -> float:
    """Adam's lr at a step: cfg.lr (paper section 3) on the schedule `cfg.lr_schedule` names.

    "step": divided by 10 after `lr_drop_at` of the run, as in the authors' training script (the paper
    states only the lr); "cosine": linear warm-up over `warmup` of the run, then a cosine decay to 0."""
    if cfg.lr_schedule == "cosine":
        return warmup_cosine(step, total_steps, cfg.lr, cfg.warmup)
    return step_drop(step, total_steps, cfg.lr, cfg.lr_drop_at)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """Move the averaged weights towards the model's: decay min(decay, (1 + step) / (10 + step)), so that
    the first steps are not weighed down by the initial weights."""
    d = min(decay, (1 + step) / (10 + step))
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - d)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _check_existing(cfg: RunConfig, out: Path, resume: bool) -> bool:
    """Refuse a folder holding another run; True when the same run is already complete."""
    if not (out / ckpt.CONFIG).exists():
        return False
    differs = result_differences(ckpt.read_config(out), cfg)
    if differs:
        raise JdvaeError(f"{out} holds a run with another config ({'; '.join(differs[:3])}); "
                         f"use another --out, or the settings it was trained with")
    if ckpt.is_complete(out):
        problem = ckpt.weights_problem(out / ckpt.WEIGHTS)
        if problem and not resume:
            raise JdvaeError(f"{out / ckpt.WEIGHTS} of this finished run is {problem}; {ckpt.weights_fix(out)}")
        if problem:
            ckpt.rewrite_weights(out)
            print(f"{out / ckpt.WEIGHTS} was {problem}; rewritten from {out / ckpt.STATE}")
        return True
    if (out / ckpt.STATE).exists() and not resume:
        raise JdvaeError(f"{out} holds an unfinished run; pass --resume to continue it, or use another --out")
    return False


@torch.no_grad()
def validate(model, images: torch.Tensor, labels: torch.Tensor, device, batch: int = 256) -> dict:
    """Validation reconstruction error and balanced accuracy of the model's classifier (first label)."""
    model.eval()
    se, preds = [], []
    for i in range(0, len(images), batch):
        x = to_model_input(images[i:i + batch], device, channels_last=True)
        e = model.encode(x)
        x_hat = model.decode(e.y, e.mu_z, e.mu_u)
        se.append(reconstruction(x_hat, x).cpu())
        preds.append(e.y.cpu())
    model.train()
    pred, true = torch.cat(preds)[:, 0].float().numpy(), labels[:, 0].float().numpy()
    return {"val_recon": torch.cat(se).mean().item(), "val_bca": float(balanced_accuracy(true, pred)) / 100}


def train(cfg: RunConfig, out: str | Path, resume: bool = False, device: str = "auto",
          progress: bool = True, stop_after: int | None = None,
          callbacks: Iterable[Callable[[int, int], None]] = (), deadline: float | None = None) -> Path:
    """Train the model `cfg` describes into run folder `out`; `stop_after` steps, or the first step that ends past
    `deadline` (a time.monotonic() value), ends early, saved and resumable.

    Each of `callbacks` is called as `callback(steps_done, total_steps)` after every step of rank 0: the trainer
    knows nothing of who watches it (`jdvae reproduce` passes jdvae/study/hooks.py's)."""
    cfg.validate()
    out = Path(out)
    rank, world, local_rank = _dist_info()
    if rank == 0:
        check_writable(out)
        for stale in out.glob(".*.tmp"):  # left by a process killed while writing a checkpoint
            stale.unlink(missing_ok=True)
        if _check_existing(cfg, out, resume):
            print(f"{out}: already complete, nothing to do")
            return out
    dev = resolve_device(device)
    if world > 1:
        import torch.distributed as dist
        if dev.type == "cuda":
            dev = torch.device("cuda", local_rank)
            torch.cuda.set_device(dev)
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)

    from jdvae.data.splits import load_split  # the data layer sits below the trainer
    train_split = load_split(cfg.data, "train", progress=progress and rank == 0)
    val_split = load_split(cfg.data, "val", progress=progress and rank == 0)
    images = torch.from_numpy(train_split.images)  # (N, S, S, 3) uint8
    supervised = torch.from_numpy(train_split.supervised.astype(bool))
    labels = torch.from_numpy(train_split.labels).long() * supervised[:, None]  # unlabelled rows carry no label
    val_n = min(len(val_split.images), 1000)
    val_images, val_labels = torch.from_numpy(val_split.images[:val_n]), torch.from_numpy(val_split.labels[:val_n])
    per_rank_batch = max(1, cfg.train.batch_size // world)
    per_epoch = steps_per_epoch(len(images), cfg.train.batch_size, world)
    if per_epoch == 0:  # before anything is written into `out`
        where = f" (the train rows of {cfg.data.data_root}/labels.csv)" if cfg.data.source == "folder" else ""
        raise JdvaeError(f"training split has {len(images)} images{where}, fewer than one batch of "
                         f"{cfg.train.batch_size}; use more images or a smaller batch (--set train.batch_size=N)")

    levers = resolve_levers(cfg.train.levers, dev)  # GPU-only settings: none on a CPU (jdvae/vae/levers.py)
    if "device_data" in levers:  # the images stay uint8 on the GPU; each batch is gathered and converted there
        images, labels, supervised = images.to(dev), labels.to(dev), supervised.to(dev)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model).to(dev).to(memory_format=torch.channels_last)
    optimizer = adam(model.parameters(), cfg.train.lr, levers)
    ema = copy.deepcopy(model).requires_grad_(False) if cfg.train.ema else None  # what is saved and validated
    step, history = 0, []
    if resume and (out / ckpt.STATE).exists():
        state = ckpt.load_state(out / ckpt.STATE)
        model.load_state_dict(state["model"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        restore_adam(optimizer, state["optimizer"], levers)  # this device's Adam, not the one it was saved with
        torch.set_rng_state(state["rng"])
        step, history = int(state["step"]), list(state["history"])
        if rank == 0:
            print(f"{out}: resuming at step {step}")
    if rank == 0:
        ckpt.write_config(out, cfg)
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    compiling = compile_wanted(cfg.train, dev)  # on CUDA when the profile asks (paper); on a CPU only when asked too
    net = compiled(net, compiling, levers)  # minutes of compilation, cached by inductor
    objective = loss_for(model.structure.objective)

    total = total_steps(cfg, len(images), world)
    if cfg.train.max_steps and cfg.train.max_steps > cfg.train.epochs * per_epoch and rank == 0:
        print(f"{out}: train.max_steps={cfg.train.max_steps} is more than train.epochs={cfg.train.epochs} allow "
              f"({total} steps of {per_epoch}); the run stops at {total}: raise train.epochs for more")
    end = total if stop_after is None else min(total, step + stop_after)
    precision = resolve_precision(cfg.train.precision, dev)  # bf16 autocast of the forward pass, or fp32
    if rank == 0 and progress:
        print(f"{out}: {precision.describe()}, {levers.describe()}, {'compiled' if compiling else 'eager'} on {dev}")

    def save(step_done: int) -> None:
        if rank != 0:
            return
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "rng": torch.get_rng_state(), "step": step_done, "history": history}
        if ema is not None:
            state["ema"] = ema.state_dict()
        ckpt.save_state(out / ckpt.STATE, state)
        ckpt.save_weights(ema if ema is not None else model, out / ckpt.WEIGHTS)

    def read_or_stop(read, epoch: int) -> None:
        """Run `read` (a TermLog read); a non-finite loss ends the run, its last good checkpoint kept."""
        try:
            read()
        except JdvaeError as e:
            bar.close()
            raise JdvaeError(f"{e} (epoch {epoch}); training stopped and the last good checkpoint in {out} is kept; "
                             f"lower --lr or check the data") from None

    bar = tqdm(total=total, initial=step, disable=not progress or rank != 0, desc=f"{cfg.model.name}", unit="step")
    callbacks = tuple(callbacks)
    log, perm, perm_epoch = TermLog(SYNC_EVERY if "lazy_sync" in levers else 1), None, -1
    t_epoch, t_ckpt = time.perf_counter(), time.perf_counter()
    model.train()
    while step < end:
        epoch, i = divmod(step, per_epoch)
        if epoch != perm_epoch:
            g = torch.Generator().manual_seed(cfg.train.seed * 1_000_003 + epoch)
            perm, perm_epoch = torch.randperm(len(images), generator=g).to(images.device), epoch
        start = (i * world + rank) * per_rank_batch
        idx = perm[start:start + per_rank_batch]
        x, y, sup = to_model_input(images[idx], dev, channels_last=True), labels[idx].to(dev), supervised[idx].to(dev)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, total, cfg.train)
        if "graphs" in levers:
            torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are no longer read
        with precision.autocast(dev):
            fwd = net(x, y, sup, tau=cfg.train.tau)
        loss, terms = objective(to_fp32(fwd), x, y, sup, cfg.train)  # the losses in fp32
        read_or_stop(lambda: log.add(step, terms), epoch)  # every step on a CPU: stops before a non-finite update
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if ema is not None:
            ema_update(ema, model, cfg.train.ema, step)
        step += 1
        bar.update(1)
        if deadline is not None and world == 1 and time.monotonic() >= deadline:  # ranks would part ways
            end = step  # stop here as stop_after would: saved below, resumable
        if rank == 0:
            for callback in callbacks:
                callback(step, total)
        if step % 10 == 0 and log.count and not log.pending:
            bar.set_postfix({k: f"{v / log.count:.4g}" for k, v in log.sums.items()})
        epoch_done = step % per_epoch == 0 or step == total
        if epoch_done and rank == 0:
            read_or_stop(log.read, epoch)
            sums, count = log.take()
            seconds = time.perf_counter() - t_epoch
            row = {"epoch": epoch + 1, "step": step, **{k: v / count for k, v in sums.items()},
                   **validate(ema if ema is not None else model, val_images, val_labels, dev),
                   "lr": optimizer.param_groups[0]["lr"], "images_per_s": count * per_rank_batch * world / seconds}
            history.append(row)
            _write_csv(out / ckpt.METRICS, history)
            t_epoch = time.perf_counter()
        minutes = (time.perf_counter() - t_ckpt) / 60
        if epoch_done or step == end or minutes >= cfg.train.checkpoint_minutes:
            read_or_stop(log.read, epoch)  # nothing is saved past a non-finite loss
            save(step)
            t_ckpt = time.perf_counter()
    bar.close()
    if step >= total and rank == 0:
        atomic_write_json(out / ckpt.DONE, {"steps": step, "epochs": cfg.train.epochs, "precision": precision.name,
                                             "last_epoch": history[-1] if history else {}})
    if world > 1:
        torch.distributed.destroy_process_group()
    return out


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())
