"""Run folders: config.json beside model.safetensors, a resumable training state, a done marker.

Nothing here unpickles code: weights are safetensors, and the training state is read with
`torch.load(weights_only=True)`, which refuses any file that would run code.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from jdvae.config import RunConfig
from jdvae.errors import JdvaeError
from jdvae.io import atomic_path, atomic_write_json
from jdvae.vae.model import JDVAE, build_model

CONFIG, WEIGHTS, STATE, DONE, METRICS = "config.json", "model.safetensors", "state.pt", "done.json", "metrics.csv"


def read_config(run_dir: str | Path) -> RunConfig:
    """The RunConfig stored in a run folder."""
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise JdvaeError(f"{path} is missing; {run_dir} is not a jdvae run folder (train one with `jdvae train`)")
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as e:
        raise JdvaeError(f"{path} is not valid JSON ({e.msg}); restore it or retrain into a new folder") from None


def write_config(run_dir: str | Path, cfg: RunConfig) -> None:
    """Store the config as JSON in the run folder (atomically)."""
    atomic_write_json(Path(run_dir) / CONFIG, cfg.to_dict())


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Write the model's weights as safetensors, atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in _unwrap(model).state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def weights_problem(path: str | Path) -> str | None:
    """Why a safetensors file cannot be loaded (missing, truncated, bad header), or None; reads the header only."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < n <= size - 8:
                return f"truncated: {size} bytes, no complete header"
            header = json.loads(f.read(n))
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable: {e.strerror}"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "not a safetensors file: its header is not JSON"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    expected = 8 + n + max(ends, default=0)
    if size != expected:
        return f"truncated: {size} of {expected} bytes" if size < expected else f"{size - expected} bytes too long"
    return None


def weights_fix(run_dir: str | Path) -> str:
    """The fix for a finished run folder whose weights are damaged: rewrite them from its state, or retrain."""
    return (f"rewrite them from the run's state.pt with `jdvae train --resume --out {run_dir}` (and the options it "
            f"was trained with), or delete {run_dir} and train it again")


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load safetensors weights into `model`; a truncated file or other architecture is a JdvaeError."""
    path = Path(path)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise JdvaeError(f"{path} is unreadable or truncated ({e}); {weights_fix(path.parent)}, "
                         f"or restore the file") from None
    model = _unwrap(model)
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    wrong = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or unexpected or wrong:
        what = (missing or unexpected or wrong)[0]
        raise JdvaeError(f"{path} was saved by another model or config (first mismatch: {what}); "
                         f"load it with the config.json it was trained with")
    model.load_state_dict(tensors)


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> tuple[JDVAE, RunConfig]:
    """Rebuild a trained model from its run folder: config.json, then model.safetensors."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    if not (run_dir / WEIGHTS).exists():
        raise JdvaeError(f"{run_dir / WEIGHTS} is missing; finish training with `jdvae train --resume --out {run_dir}`")
    model = build_model(cfg.model)
    load_weights(model, run_dir / WEIGHTS)
    return model.to(device).eval(), cfg


def is_complete(run_dir: str | Path) -> bool:
    """True when training finished and its weights were written."""
    run_dir = Path(run_dir)
    return (run_dir / DONE).exists() and (run_dir / WEIGHTS).exists() and (run_dir / CONFIG).exists()


def rewrite_weights(run_dir: str | Path) -> None:
    """Write a finished run's model.safetensors again from its state.pt (the weights it saved with that state)."""
    run_dir = Path(run_dir)
    if not (run_dir / STATE).exists():
        raise JdvaeError(f"{run_dir / WEIGHTS} is damaged and {run_dir / STATE}, which could rewrite it, is missing; "
                         f"delete {run_dir} and train it again")
    state, done = load_state(run_dir / STATE), json.loads((run_dir / DONE).read_text())
    if int(state["step"]) != int(done.get("steps", -1)):
        raise JdvaeError(f"{run_dir / STATE} holds step {int(state['step'])}, not the finished run's step "
                         f"{done.get('steps')}; delete {run_dir} and train it again")
    model = build_model(read_config(run_dir).model)
    model.load_state_dict(state["ema"] if "ema" in state else state["model"])  # what `train` saves as the weights
    save_weights(model, run_dir / WEIGHTS)


def save_state(path: str | Path, state: dict) -> None:
    """Write the training state (tensors, numbers, strings only) atomically."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: str | Path, map_location="cpu") -> dict:
    """Read a training state without executing code; refuse anything else with a clear message."""
    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise JdvaeError(f"refused to load {path}: it holds objects that would run code when unpickled "
                         f"({str(e).splitlines()[0][:120]}); use only checkpoints written by jdvae") from None
    except (EOFError, RuntimeError, OSError) as e:
        raise JdvaeError(f"{path} is truncated or corrupt ({str(e).splitlines()[0][:120]}); "
                         f"delete it to restart the run, or restore it from a backup") from None


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)  # DistributedDataParallel wraps the model
