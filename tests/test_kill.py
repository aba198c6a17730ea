"""SIGKILL a training run at several points, including during checkpoint writes; resuming must end on
the weights of an uninterrupted run, and the latest checkpoint must never be a partial file."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from jdvae.vae.checkpoint import load_state
from jdvae.config import override, profile
from jdvae.vae.train import train

STEPS = 24  # 3 epochs of 8 steps


def command(out: Path) -> list[str]:
    return [sys.executable, "-m", "jdvae", "train", "--model", "PA1", "--profile", "smoke", "--out", str(out),
            "--quiet", "--resume", "--set", "train.threads=1", "--set", "train.epochs=3",
            "--set", "train.checkpoint_minutes=0.0"]  # a checkpoint after every step: many writes to hit


def step_of(out: Path) -> int:
    path = out / "state.pt"
    return int(load_state(path)["step"]) if path.exists() else 0


def kill_when(proc: subprocess.Popen, out: Path, during_write: bool, after_step: int, timeout: float = 120) -> str:
    """SIGKILL proc as soon as a checkpoint temp file exists (during_write) or the step passed after_step."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if during_write and any(p.name.endswith(".tmp") for p in out.glob(".*")):
            proc.send_signal(signal.SIGKILL)
            return "during a checkpoint write"
        if not during_write and (out / "state.pt").exists() and step_of(out) > after_step:
            proc.send_signal(signal.SIGKILL)
            return f"after step {after_step}"
        time.sleep(0.002)
    proc.kill()
    return "at the end"


def test_sigkill_and_resume_matches_uninterrupted_run(tmp_path, trains, launches):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cfg = override(profile("smoke"), **{"train.threads": 1, "train.epochs": 3, "train.checkpoint_minutes": 0.0})
    train(cfg, tmp_path / "reference", progress=False)

    out = tmp_path / "killed"
    plan = [(True, 0), (False, 3), (True, 0), (False, 12), (True, 0), (False, 18)]
    seen = []
    for during_write, after in plan:
        proc = subprocess.Popen(command(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seen.append(kill_when(proc, out, during_write, after))
        proc.wait()
        if (out / "state.pt").exists():  # never partial: it always loads and its weights load too
            state = load_state(out / "state.pt")
            assert 0 < state["step"] <= STEPS
            load_file(str(out / "model.safetensors"))
        if (out / "done.json").exists():
            break
    assert sum(s != "at the end" for s in seen) >= 5, seen
    assert any(s == "during a checkpoint write" for s in seen), seen
    result = subprocess.run(command(out), env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "done.json").exists()
    ref, got = load_file(str(tmp_path / "reference" / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(torch.equal(ref[k], got[k]) for k in ref)
