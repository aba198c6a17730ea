"""The check's sizes and settings: the GPU run's, and the same code paths at toy sizes on a CPU (--tiny)."""
from __future__ import annotations

from jdvae.vae.levers import AUTO_CUDA

# name -> (levers, bf16, torch.compile); the first is the reference the others' losses are compared with
SETTINGS = {
    "eager fp32": ((), False, False),
    "eager fp32 + auto levers": (AUTO_CUDA, False, False),
    "bf16 + compile": ((), True, True),
    "bf16 + compile + auto levers": (AUTO_CUDA, True, True),
    "bf16 + CUDA graphs + auto levers": (AUTO_CUDA + ("graphs",), True, True),
    "fp32 + CUDA graphs + auto levers": (AUTO_CUDA + ("graphs",), False, True),
}
PAPER_SETTING = "bf16 + compile + auto levers"  # what a paper-profile training runs on CUDA by default
GOAL_ONE, GOAL_TOGETHER = 5_000, 10_000  # images/s at 128 px, batch 32: one training, the study's side by side
QUICK_IMAGES = 4_500 * 64  # what the quick profile's gates needed at 32 px: 4 500 steps of 64


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


def sizes(tiny: bool) -> dict:
    """Steps, seconds and counts of every section."""
    if tiny:
        return dict(budget=1500, step_steps=6, step_warmup=1, copies=2, learn_seconds=20, learn_train=64,
                    judge_images=64, celeba_steps=2, celeba_splits="48,24,24", study_profile="smoke",
                    celeba_profile="smoke", study_sets=["train.max_steps=2"], tests_k="forward_and_backward")
    return dict(budget=540, step_steps=200, step_warmup=5, copies=8, learn_seconds=200, learn_train=20_000,
                judge_images=10_000, celeba_steps=20, celeba_splits="1200,300,300", study_profile="quick",
                celeba_profile="paper", study_sets=[], tests_k=None)
