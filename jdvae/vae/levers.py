"""The training step's GPU settings: `train.levers = auto | none | a '+'-joined subset of LEVERS`.

Each lever is a GPU-only setting, so a CPU run takes none of them whatever is asked (its step stays the one the
shipped quick study was trained with). On CUDA:
- device_data: the training images stay on the GPU as uint8 (the batch is gathered and converted there);
- lazy_sync: the logged numbers are read from the GPU every SYNC_EVERY steps in one transfer, not every step;
- fused_adam: Adam's update as one fused kernel (`torch.optim.Adam(fused=True)`);
- graphs: the forward and backward replayed as CUDA graphs (`torch.compile(mode="reduce-overhead")`; every batch
  has the same shape, since an epoch drops its last short batch).
`auto` takes the three that leave the arithmetic as it is (fused_adam up to rounding); graphs only when asked,
until the GPU check shows that it trains the same (benchmarks/gpu_check). The reparameterisation and Gumbel
noise are drawn on the model's device already (jdvae/vae/model.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from jdvae.config import LEVERS
from jdvae.errors import JdvaeError

AUTO_CUDA = ("device_data", "lazy_sync", "fused_adam")
SYNC_EVERY = 10  # steps between reads of the logged numbers under lazy_sync (the progress bar shows every 10)


@dataclass(frozen=True)
class Levers:
    """The levers a run uses on its device, and why."""

    on: frozenset[str]
    reason: str

    def __contains__(self, lever: str) -> bool:
        return lever in self.on

    def describe(self) -> str:
        return f"levers {'+'.join(sorted(self.on)) or 'none'} ({self.reason})"


def check(requested: str) -> None:
    """Refuse a train.levers value naming an unknown lever, in one line."""
    if requested in ("auto", "none"):
        return
    unknown = [name for name in requested.split("+") if name not in LEVERS]
    if unknown or not requested:
        raise JdvaeError(f"train.levers = {requested!r}: unknown lever {unknown[0] if unknown else '(empty)'!r}; "
                         f"use auto, none or a '+'-joined subset of {', '.join(LEVERS)}")


def resolve(requested: str, device: torch.device | str) -> Levers:
    """The levers `requested` means on `device`: none on a CPU, AUTO_CUDA for auto on CUDA."""
    check(requested)
    if torch.device(device).type != "cuda":
        return Levers(frozenset(), "a CPU run takes no GPU-only setting" if requested != "none" else "asked for")
    if requested == "none":
        return Levers(frozenset(), "asked for")
    if requested == "auto":
        return Levers(frozenset(AUTO_CUDA), "auto on CUDA")
    return Levers(frozenset(requested.split("+")), "asked for")


def adam(params, lr: float, levers: Levers) -> torch.optim.Adam:
    """Adam at `lr`, fused into one kernel under fused_adam."""
    return torch.optim.Adam(params, lr=lr, fused=True) if "fused_adam" in levers else torch.optim.Adam(params, lr=lr)


def compile_wanted(train_cfg, device: torch.device | str) -> bool:
    """Whether a run compiles its step: `train.compile` on CUDA; on a CPU only with `train.compile_cpu` too."""
    return bool(train_cfg.compile and (torch.device(device).type == "cuda" or train_cfg.compile_cpu))


def restore_adam(optimizer: torch.optim.Adam, saved: dict, levers: Levers) -> None:
    """Load a saved Adam state with the settings of the device it resumes on, not those it was saved with: fused
    only under fused_adam, its step counters where that kernel wants them (on the parameters' device when fused,
    on the host otherwise)."""
    optimizer.load_state_dict(saved)
    fused = "fused_adam" in levers
    optimizer.defaults.update(fused=True if fused else None, foreach=None, capturable=False)
    for group in optimizer.param_groups:
        group.update(fused=True if fused else None, foreach=None, capturable=False)
        for p in group["params"]:
            state = optimizer.state.get(p)
            if state and "step" in state:
                state["step"] = torch.as_tensor(state["step"], dtype=torch.float32,
                                                device=p.device if fused else "cpu")


def compiled(net: torch.nn.Module, compile_asked: bool, levers: Levers, backend: str = "inductor"):
    """The step's network: CUDA graphs under graphs, torch.compile's default mode when the profile asks, else as is."""
    if "graphs" in levers:
        return torch.compile(net, mode="reduce-overhead", backend=backend)
    return torch.compile(net, backend=backend) if compile_asked else net


class TermLog:
    """The logged numbers of the steps, read from the device `every` steps in one transfer and summed on the host
    in step order (so the sums are those of reading every step); a non-finite loss is a JdvaeError at its read."""

    def __init__(self, every: int = 1):
        self.every, self.pending, self.sums, self.count = every, [], {}, 0

    def add(self, step: int, terms: dict) -> None:
        """Keep step `step`'s terms (floats or 0-dim tensors); read them all once `every` are kept."""
        self.pending.append((step, terms))
        if len(self.pending) >= self.every:
            self.read()

    def read(self) -> None:
        """Bring every kept step's terms to the host and add them to the sums."""
        if not self.pending:
            return
        keys = list(self.pending[0][1])
        flat = [torch.as_tensor(t[k], dtype=torch.float32) for _, t in self.pending for k in keys]
        values = torch.stack([v.to(flat[0].device) for v in flat]).tolist()  # one host transfer
        pending, self.pending = self.pending, []
        for i, (step, _) in enumerate(pending):
            row = dict(zip(keys, values[i * len(keys):(i + 1) * len(keys)]))
            if row["loss"] != row["loss"] or abs(row["loss"]) == float("inf"):
                raise JdvaeError(f"loss became {row['loss']} at step {step}")
            for k, v in row.items():
                self.sums[k] = self.sums.get(k, 0.0) + v
            self.count += 1

    def take(self) -> tuple[dict, int]:
        """(sums, count) of the steps read since the last take; starts the next period."""
        self.read()
        sums, count = self.sums, self.count
        self.sums, self.count = {}, 0
        return sums, count
