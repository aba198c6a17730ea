"""Training-step and evaluation throughput: the reference execution mode against the trainer's own.

Reference: eager fp32, channels-first, no compilation (how the authors' code runs), same
architecture. Optimised: what `jdvae.vae.train` does on this device (channels_last; bf16 autocast
where `train.precision` resolves to it, jdvae/vae/precision.py: `auto` = CUDA and CPUs with AMX or
AVX512-BF16). The two settings are interleaved in one process so that machine noise hits both;
the paired ratio is the median of per-round ratios.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from jdvae.config import ModelConfig, TrainConfig
from jdvae.vae.losses import loss_for
from jdvae.vae.model import build_model
from jdvae.vae.precision import resolve as resolve_precision, to_fp32


@dataclass(frozen=True)
class Setting:
    """One way of executing the training step."""

    name: str
    channels_last: bool
    bf16: bool = False
    compile: bool = False


def matmul_peak(device: torch.device, n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Measured matmul rate in GFLOP/s, best of `repeats` (the machine's practical peak for dense work in `dtype`)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b  # the first product pays for the library's set-up
    best = 0.0
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on a CPU), so that a timer reads what ran."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def _batch(cfg: ModelConfig, batch: int, device, channels_last: bool):
    x = torch.rand(batch, 3, cfg.image_size, cfg.image_size, device=device) * 2 - 1
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch, cfg.n_labels), device=device)
    sup = torch.arange(batch, device=device) % 5 == 0  # supervision 0.2
    return x, y, sup


def make_step(cfg: ModelConfig, setting: Setting, batch: int, device: torch.device, train: bool = True):
    """A closure running one training step (or one forward pass when train=False) of a fresh model."""
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    if setting.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if setting.compile else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    objective = loss_for(model.structure.objective)
    x, y, sup = _batch(cfg, batch, device, setting.channels_last)
    tcfg = TrainConfig()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=setting.bf16)

    def step():
        if train:
            with autocast:
                out = net(x, y, sup)
            loss, _ = objective(to_fp32(out), x, y, sup, tcfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        else:
            with torch.inference_mode(), autocast:
                model.eval()
                e = model.encode(x)
                model.decode(e.y, e.mu_z, e.mu_u)
    return step


def flops_per_image(cfg: ModelConfig, batch: int, device: torch.device, train: bool = True) -> float:
    """FLOPs of one training step (forward + backward) or forward pass, per image (torch.utils.flop_counter)."""
    step = make_step(cfg, Setting("count", False), batch, device, train)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / batch


def compare(cfg: ModelConfig, settings: list[Setting], batch: int, device: torch.device, rounds: int = 7,
            steps_per_round: int = 3, train: bool = True) -> dict:
    """Interleaved timing: images/s per setting (median, min, max) and the paired ratio to the first."""
    steps = {s.name: make_step(cfg, s, batch, device, train) for s in settings}
    for s in settings:  # warm-up (and compilation)
        for _ in range(2):
            steps[s.name]()
    rates = {s.name: [] for s in settings}
    for _ in range(rounds):
        for s in settings:
            sync(device)
            t = time.perf_counter()
            for _ in range(steps_per_round):
                steps[s.name]()
            sync(device)
            rates[s.name].append(batch * steps_per_round / (time.perf_counter() - t))
    ref = settings[0].name
    out = {}
    for s in settings:
        r = rates[s.name]
        ratios = [a / b for a, b in zip(r, rates[ref])]
        out[s.name] = {"median": statistics.median(r), "min": min(r), "max": max(r),
                       "ratio_to_reference": statistics.median(ratios)}
    return out


def machine() -> str:
    """A one-line description of where the numbers were measured."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    from jdvae.machine import cpu_model
    return f"{cpu_model()}, {torch.get_num_threads()} threads"


def run_bench(device: torch.device, sizes: list[tuple[str, ModelConfig]], batch: int = 32, rounds: int = 7,
              compile_too: bool = False, precision: str = "auto") -> dict:
    """The full benchmark: for each size, training and evaluation, reference vs optimised (at `precision`)."""
    chosen = resolve_precision(precision, device)
    ref = Setting("reference (eager fp32, channels-first)", channels_last=False)
    opt = Setting("optimised (as trained: channels_last" + (", bf16" if chosen.bf16 else "") + ")",
                  channels_last=True, bf16=chosen.bf16)
    settings = [ref, opt]
    if compile_too:
        settings.append(Setting(opt.name[:-1] + ", torch.compile)", True, opt.bf16, compile=True))
    peak = matmul_peak(device)
    results = {"device": machine(), "matmul_peak_gflops": peak, "batch": batch,
               "precision": {"asked": precision, "chosen": chosen.name, "reason": chosen.reason}, "sizes": {}}
    for label, cfg in sizes:
        entry = {"config": cfg.__dict__}
        for mode, train in (("train", True), ("eval", False)):
            flops = flops_per_image(cfg, batch, device, train)
            per_round = 1 if cfg.image_size >= 128 and device.type == "cpu" else 3  # seconds per step at 128 px
            timing = compare(cfg, settings, batch, device, rounds, per_round, train=train)
            for v in timing.values():
                v["gflops"] = v["median"] * flops / 1e9
                v["share_of_peak"] = v["gflops"] / peak
            entry[mode] = {"flops_per_image": flops, "settings": timing}
        results["sizes"][label] = entry
    return results


def to_markdown(results: dict) -> str:
    """A markdown table of a run_bench result."""
    lines = [f"Device: {results['device']}; measured fp32 matmul peak {results['matmul_peak_gflops']:.0f} GFLOP/s; "
             f"batch {results['batch']}."]
    if "precision" in results:
        p = results["precision"]
        lines.append(f"Optimised setting: precision {p['chosen']} (train.precision={p['asked']}: {p['reason']}).")
    lines += ["", "| size | mode | setting | images/s median (min–max) | ratio | GFLOP/img | share of peak |",
              "|---|---|---|---|---|---|---|"]
    for label, entry in results["sizes"].items():
        for mode in ("train", "eval"):
            e = entry[mode]
            for name, v in e["settings"].items():
                lines.append(f"| {label} | {mode} | {name} | {v['median']:.1f} ({v['min']:.1f}–{v['max']:.1f}) | "
                             f"×{v['ratio_to_reference']:.2f} | {e['flops_per_image'] / 1e9:.3f} | "
                             f"{v['share_of_peak']:.0%} |")
    return "\n".join(lines) + "\n"
