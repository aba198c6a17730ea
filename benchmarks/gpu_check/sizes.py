"""The check's sizes, settings and time plan: the GPU run's, and the same code paths at toy sizes on a CPU (--tiny)."""
from __future__ import annotations

from jdvae.vae.levers import AUTO_CUDA

# name -> (levers, bf16, torch.compile); the first is the reference whose losses the others are compared with
SETTINGS = {
    "eager fp32": ((), False, False),
    "bf16": ((), True, False),
    "fp32 + fused Adam": (("fused_adam",), False, False),
    "fp32 + data on the GPU": (("device_data", "lazy_sync"), False, False),
    "bf16 + compile": ((), True, True),
    "bf16 + compile + CUDA graphs": (("graphs",), True, True),
    "bf16 + compile + auto levers": (AUTO_CUDA, True, True),
    "bf16 + compile + auto levers + CUDA graphs": (AUTO_CUDA + ("graphs",), True, True),
}
PAPER_SETTING = "bf16 + compile + auto levers"  # what a paper-profile training runs on CUDA by default
GOAL_ONE, GOAL_TOGETHER = 5_000, 10_000  # images/s at 128 px, batch 32: one training, the study's side by side
QUICK_IMAGES = 4_500 * 64  # what the quick profile's gates needed at 32 px: 4 500 steps of 64

# The device call: the command it runs and its limit (the device's own limit is 600 s a command).
DEVICE_COMMAND = "python3 -m benchmarks.gpu_check --out $OUT --wheels .whl"
DEVICE_CARRY = [".whl"]
DEVICE_TIMEOUT_S = 600
BUDGET_S = 540  # the whole check, installs included: 60 s of margin under DEVICE_TIMEOUT_S

# Seconds of each phase on one H200, in order; each phase ends at the sum of the plan up to it, so a phase that ends
# early leaves its time to the next. Measured on the H200 on 2026-12-04 (that report's gpu.json) where it says so.
PLAN = {
    "setup": 20,  # installing 32 wheels from .whl/ and registering the kernel: not measured there (about 15 s here)
    "tests": 45,  # the CUDA tests: 36.7 s measured (8 tests)
    "step alone": 110,  # warm-ups side by side (one bf16 + compile alone: 40.4 s measured; five here, sharing the
    #                     cores), then 8 settings x 100 steps in turn (22.6 to 37.6 ms a step measured: about 25 s)
    "step together": 45,  # 8 copies: compile again (from inductor's cache), 100 steps side by side
    "side by side": 310,  # the quick study (trainings 203 s and evaluation 45 s measured, notebooks not yet), the
    #                       learning run and the CelebA command, each to its deadline
    "report": 10,  # the last report, the logs archive
}
LEARN_READ_S = 60  # the learning run's last seconds: reading its validation pairs and drawing the grid


def paper_overrides(tiny: bool, n_train: int = 1024) -> dict:
    """The paper profile's settings changed for the check: `n_train` SynthFaces images at 128 px, full widths; with
    `tiny`, 32 px, width 1/8 and no compilation (inductor compiles for minutes on a CPU)."""
    if tiny:
        return {"data.image_size": 32, "model.width": 0.125, "model.z_dim": 16, "model.u_dim": 4, "data.n_train": 64,
                "data.n_val": 64, "data.n_test": 64, "train.compile": False}
    return {"data.n_train": n_train, "data.n_val": 1000, "data.n_test": 64}


def paper_config(tiny: bool, model: str = "PA1", n_train: int = 1024):
    """The paper profile's `model` with `paper_overrides`."""
    from jdvae.study.plan import make_config
    return make_config(model, "paper", overrides=paper_overrides(tiny, n_train))


def deadlines(start: float, budget: float) -> dict[str, float]:
    """The end of each phase of PLAN, scaled to `budget` seconds from `start`."""
    scale, t, out = budget / sum(PLAN.values()), start, {}
    for name, seconds in PLAN.items():
        t += seconds * scale
        out[name] = t
    return out


def sizes(tiny: bool) -> dict:
    """Steps, seconds and counts of every section."""
    if tiny:
        return dict(budget=1500, step_steps=6, step_warmup=1, copies=2, learn_train=64, learn_read=30, learn_seconds=15,
                    celeba_steps=2, celeba_splits="48,24,24", study_profile="smoke", celeba_profile="smoke",
                    study_sets=["train.max_steps=2"], tests_k="forward_and_backward")
    return dict(budget=BUDGET_S, step_steps=100, step_warmup=5, copies=8, learn_train=20_000, learn_read=LEARN_READ_S,
                learn_seconds=None,  # None: to the deadline
                celeba_steps=20, celeba_splits="1200,300,300", study_profile="quick", celeba_profile="paper",
                study_sets=[], tests_k=None)
