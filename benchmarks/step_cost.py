"""Training images per second of the quick step at several batch sizes and widths, and of the judge at two widths,
interleaved in one process on one thread so that the ratios hold on the machine that prints them (not a test).

    .venv/bin/python benchmarks/step_cost.py [ROUNDS]
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from jdvae.evaluate.judge.model import Judge, judge_config  # noqa: E402
from jdvae.vae.losses import loss_for  # noqa: E402
from jdvae.machine import cpu_model  # noqa: E402
from jdvae.vae.model import build_model  # noqa: E402
from jdvae.study.plan import make_config  # noqa: E402

VAE_SETTINGS = [(m, b, w) for m in ("PA1", "CCVAE2") for b, w in ((32, 0.25), (64, 0.25), (128, 0.25), (64, 0.1875))]
JUDGE_WIDTHS = (64, 32)


def vae_step(model_name: str, batch: int, width: float):
    """A closure that runs n training steps of the quick model and returns images/s."""
    cfg = make_config(model_name, "quick", overrides={"model.width": width, "train.batch_size": batch})
    torch.manual_seed(0)
    model = build_model(cfg.model).to(memory_format=torch.channels_last)
    opt, objective = torch.optim.Adam(model.parameters(), 1e-3), loss_for(model.structure.objective)
    x = torch.rand(batch, 3, 32, 32).mul(2).sub(1).contiguous(memory_format=torch.channels_last)  # (B, 3, 32, 32)
    y, sup = torch.randint(0, 2, (batch, 1)), torch.rand(batch) < 0.2

    def run(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            loss, _ = objective(model(x, y, sup, tau=cfg.train.tau), x, y, sup, cfg.train)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return n * batch / (time.perf_counter() - t)
    return run


def judge_step(width: int, batch: int = 64):
    judge = Judge(judge_config("quick", width=width), feature_head=True)
    opt, x = torch.optim.Adam(judge.parameters()), torch.randn(batch, 3, 32, 32)

    def run(n: int) -> float:
        t = time.perf_counter()
        for _ in range(n):
            logits, raw = judge(x)
            opt.zero_grad()
            (logits.sum() + raw.sum()).backward()
            opt.step()
        return n * batch / (time.perf_counter() - t)
    return run


def main(rounds: int) -> None:
    torch.set_num_threads(1)
    steps = {f"{m} batch {b} width {w}": (vae_step(m, b, w), max(4, 640 // b)) for m, b, w in VAE_SETTINGS}
    steps.update({f"judge width {w}": (judge_step(w), 3) for w in JUDGE_WIDTHS})
    rates = {name: [] for name in steps}
    for run, n in steps.values():
        run(2)  # warm up
    for _ in range(rounds):
        for name, (run, n) in steps.items():
            rates[name].append(run(n))
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; 1 thread; {rounds} interleaved rounds")
    for name, r in rates.items():
        print(f"{name:<32} {statistics.median(r):7.0f} images/s (min {min(r):.0f}, max {max(r):.0f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4)
