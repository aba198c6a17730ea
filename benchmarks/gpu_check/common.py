"""What every part of the check shares: the checkout, child processes with a deadline, the machine, the sizes."""
from __future__ import annotations

import importlib.util
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("torch", "torchvision", "numpy", "safetensors", "tqdm", "PIL", "pytest", "lpips", "papermill",
           "nbformat", "nbclient", "ipykernel", "jupyter_client", "matplotlib", "ipywidgets")
H200_BF16_DENSE_TFLOPS = 989.4  # NVIDIA H200 SXM datasheet: 1979 TFLOP/s bf16 "with sparsity", half of it dense
DENSE_BF16_TFLOPS = {"H200": H200_BF16_DENSE_TFLOPS, "H100": 989.4, "A100": 312.0}  # datasheets, SXM parts


def python(module: str, *args: str) -> list[str]:
    """The command line running `module` of this checkout with this interpreter."""
    return [sys.executable, "-m", module, *map(str, args)]


def child_env(device: str, work: Path, extra: dict | None = None) -> dict:
    """The environment of every child: this checkout first on the path, the check's data cache, no downloads."""
    env, extra = dict(os.environ), dict(extra or {})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), extra.pop("PYTHONPATH", None),
                                                      os.environ.get("PYTHONPATH")]))
    env.setdefault("JDVAE_CACHE", str(work / "cache"))
    env.setdefault("JDVAE_OFFLINE", "1")  # nothing can be reached from the GPU machine: say so, never hang
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    if device == "cpu":
        env["JDVAE_CUDA_TESTS_ON"] = "cpu"
    return {**env, **extra}


def compile_threads(processes: int) -> dict:
    """The environment that shares the cores between `processes` compiling side by side (inductor otherwise
    starts one compile worker per core in each of them)."""
    return {"TORCHINDUCTOR_COMPILE_THREADS": str(max(1, (os.cpu_count() or 1) // max(1, processes)))}


def tail(path: Path, lines: int = 6) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


class Proc:
    """A child process in its own process group, its output in `log`; `finish` waits up to a deadline, then kills
    the group (the child and whatever it started), and says how it ended."""

    def __init__(self, cmd: list[str], env: dict, log: Path):
        self.log, self.t0 = Path(log), time.perf_counter()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                     start_new_session=True)

    def done(self) -> bool:
        return self.proc.poll() is not None

    def finish(self, deadline: float) -> dict:
        """Wait until `deadline` (time.monotonic()); {rc, timed_out, seconds, log, tail}."""
        timed_out = False
        try:
            self.proc.wait(timeout=max(0.5, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended on its own meanwhile
                pass
            self.proc.wait()
        self.fh.close()
        return {"rc": self.proc.returncode, "timed_out": timed_out, "seconds": round(time.perf_counter() - self.t0, 1),
                "log": str(self.log), "tail": tail(self.log)}


def run(cmd: list[str], env: dict, log: Path, deadline: float) -> dict:
    """Run `cmd` to its end or to `deadline`, whichever comes first."""
    return Proc(cmd, env, log).finish(deadline)


def machine(device: str) -> dict:
    """GPU, driver, torch, CUDA, the CPU (the package's identifier), modules missing, what precision auto picks."""
    import torch

    from jdvae.vae.precision import resolve
    from jdvae.machine import cpu_model
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "cpu": cpu_model(), "cpu_cores": os.cpu_count(), "device": device,
            "missing_modules": [m for m in MODULES if importlib.util.find_spec(m) is None]}
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpu_memory_gib=round(p.total_memory / 2**30, 1),
                    multiprocessors=p.multi_processor_count, gpus=torch.cuda.device_count())
    chosen = resolve("auto", device)
    info["precision_auto"] = f"{chosen.name} ({chosen.reason})"
    info["peak"] = peak_for(info.get("gpu"))
    return info


def peak_for(gpu: str | None) -> dict:
    """The card's dense bf16 peak from its datasheet (the H200's as the scale where the card is not listed)."""
    for key, tflops in DENSE_BF16_TFLOPS.items():
        if gpu and key in gpu:
            return {"name": f"{gpu} dense bf16 (datasheet)", "tflops": tflops}
    what = f"{gpu}: not listed" if gpu else "a CPU run"
    return {"name": f"the NVIDIA H200's dense bf16 (datasheet; {what}, so a scale only)", "tflops": H200_BF16_DENSE_TFLOPS}
