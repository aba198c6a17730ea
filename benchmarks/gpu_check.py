"""The GPU check (issue 20): on one GPU, in under eight minutes, a JSON report and docs/gpu.md.

    python3 benchmarks/gpu_check.py                  # or: make gpu-check
    python3 benchmarks/gpu_check.py --device cpu --tiny   # the same code paths at toy sizes (a test)

Sections, in this order, each in its own processes with a deadline so that the report is always written:
1. the machine (GPU, driver, torch, CUDA, the precision `auto` picks) and the Python modules missing;
2. the CUDA tests (`pytest -m cuda tests/test_gpu_cuda.py`), while the data of sections 3 and 4 is rendered;
3. the paper profile's PA1 at 128 px on SynthFaces-128: images/s and peak memory in fp32, bf16 autocast and
   bf16 + torch.compile, the FLOP rate against the card's dense bf16 peak, the projected time of one full
   paper-profile training (200 epochs of 160 000 images), reconstructions after the timed steps (PNG);
4. the quick study: its eight trainings and the judge in parallel processes, the evaluation, the validity
   gates (R(+), R(−) and the judge's read of the true counterfactuals, jdvae/evaluate/gates.py). Its steps
   are shortened to fit the time left (`--study-steps auto`) unless a number is given; the report says so.

It runs from a checkout without installing (the GPU machine has torch, torchvision, numpy, safetensors,
tqdm, pillow and pytest, but not lpips: carry its wheel, `make gpu-wheels`). It imports only the standard
library and torch at the top; the package is imported inside the sections. Exit status 1 when a section fails.
Nothing is downloaded (JDVAE_OFFLINE=1): the judge trains from scratch, as the shipped quick judge did, and
LPIPS is reported unavailable unless JDVAE_ALEXNET_WEIGHTS names a file.

On this workplace's device machine (after `make gpu-wheels` here; carry [".whl"], timeout_s 560):
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      .whl/*.whl && export PYTHONPATH=/tmp/site; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py; \
      cp docs/gpu.md docs/gpu.json docs/gpu_recon.png $OUT/
On a GPU of your own, more time for the full study: --budget 1500 --study-steps N (the report's measured slowdown
and steps reached say what fits; the device machine allows 10 minutes a command).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import signal
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the package from this checkout, installed or not

H200_BF16_DENSE_TFLOPS = 989.4  # NVIDIA H200 SXM datasheet: 1979 TFLOP/s bf16 "with sparsity", half of it dense
DENSE_BF16_TFLOPS = {"H200": H200_BF16_DENSE_TFLOPS, "H100": 989.4, "A100": 312.0}  # datasheets, SXM parts
PAPER_IMAGES = 200 * 160_000  # one paper-profile training: 200 epochs of 160 000 images
MODULES = ("torch", "torchvision", "numpy", "safetensors", "tqdm", "PIL", "pytest", "lpips")
STUDY_SLOWDOWN = 3.5  # assumed slowdown of one quick training when nine processes share the GPU (auto steps);
# the report measures the real one ("slowdown_measured") for the next run to use


# ---------------------------------------------------------------- helpers

def run_proc(cmd: list[str], timeout: float, env: dict, log: Path) -> dict:
    """Run `cmd` in its own process group, output to `log`; kill the group after `timeout` seconds."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
        try:
            rc = proc.wait(timeout=max(1.0, timeout))
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill(proc)
            rc, timed_out = proc.returncode, True
    return {"rc": rc, "timed_out": timed_out, "seconds": round(time.perf_counter() - t0, 1), "log": str(log),
            "tail": tail(log)}


def _kill(proc: subprocess.Popen) -> None:
    """End a child started with start_new_session, and everything it started, then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it ended on its own meanwhile
        pass
    proc.wait()


def tail(path: Path, lines: int = 6) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def child_env(args, work: Path) -> dict:
    """The environment of every child: this checkout on the path, the shared data cache, no downloads."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.setdefault("JDVAE_CACHE", str(work / "cache"))
    env.setdefault("JDVAE_OFFLINE", "1")  # nothing can be reached from the GPU machine: say so, never hang
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    if args.device == "cpu":
        env["JDVAE_CUDA_TESTS_ON"] = "cpu"
    return env


def write_png(path: Path, image) -> None:
    """An (H, W, 3) uint8 array as a PNG file (zlib and struct only: no imaging library needed)."""
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    path.write_bytes(png)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG file, read from its header; a file that is not a PNG is a ValueError."""
    data = Path(path).read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG file")
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------- 1. the machine

def machine(device: str) -> dict:
    """GPU, driver, torch, CUDA, cuDNN, the CPU, and what `train.precision = auto` resolves to here."""
    import torch

    from jdvae.precision import resolve
    info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "cpu": _cpu_model(), "cpu_cores": os.cpu_count(), "device": device,
            "missing_modules": [m for m in MODULES if importlib.util.find_spec(m) is None],
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}
    try:
        import torchvision
        info["torchvision"] = torchvision.__version__
    except ImportError:
        info["torchvision"] = None
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpu_memory_gib=round(p.total_memory / 2**30, 1),
                    multiprocessors=p.multi_processor_count, driver=_nvidia_smi("driver_version"))
    chosen = resolve("auto", device)
    info["precision_auto"] = {"chosen": chosen.name, "reason": chosen.reason}
    return info


def peak_for(gpu: str | None) -> dict:
    """The card's dense bf16 peak from its datasheet (the H200's as the scale where the card is not listed)."""
    for key, tflops in DENSE_BF16_TFLOPS.items():
        if gpu and key in gpu:
            return {"name": f"{gpu} dense bf16 (datasheet)", "tflops": tflops}
    what = f"{gpu}: not listed" if gpu else "a CPU run"
    return {"name": f"the NVIDIA H200's dense bf16 (datasheet; {what}, so a scale only)",
            "tflops": H200_BF16_DENSE_TFLOPS}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _nvidia_smi(field: str) -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={field}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


# ---------------------------------------------------------------- 2. the CUDA tests

def cuda_tests(args, work: Path, env: dict, timeout: float) -> dict:
    """pytest -m cuda on tests/test_gpu_cuda.py; per test: outcome, seconds and the first line of a failure."""
    xml = work / "cuda_tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-v", "-m", "cuda", "-p", "no:cacheprovider", f"--junitxml={xml}",
           str(ROOT / "tests" / "test_gpu_cuda.py")]
    # the overrun stand-in serves tests/test_gpu_check.py's deadline test alone; it is chosen only by name
    cmd += ["-k", args.tests_k or "not overrun_stand_in"]
    result = run_proc(cmd, timeout, env, work / "cuda_tests.log")
    # no XML when pytest was killed at the deadline: the verbose log still names what ran
    result["tests"] = parse_junit(xml) if xml.exists() else parse_verbose(work / "cuda_tests.log")
    result["subset"] = args.tests_k or None
    counts = {k: sum(t["outcome"] == k for t in result["tests"]) for k in ("passed", "failed", "skipped")}
    result.update(counts)
    result["ok"] = result["rc"] == 0 and counts["failed"] == 0 and counts["passed"] > 0 and not result["timed_out"]
    return result


def parse_verbose(log: Path) -> list[dict]:
    """The outcomes `pytest -v` printed ("path::name PASSED [ 12%]"), for a run killed before its XML."""
    out = []
    for line in Path(log).read_text(errors="replace").splitlines() if Path(log).exists() else []:
        parts = line.split()
        if len(parts) >= 2 and "::" in parts[0] and parts[1] in ("PASSED", "FAILED", "SKIPPED", "ERROR"):
            outcome = {"PASSED": "passed", "SKIPPED": "skipped"}.get(parts[1], "failed")
            out.append({"name": parts[0].split("::", 1)[1], "outcome": outcome, "seconds": 0.0, "message": ""})
    return out


def parse_junit(path: Path) -> list[dict]:
    """The test cases of a pytest junit XML file: name, outcome (passed, failed, skipped), seconds, message."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = (node.get("message") or node.text or "").strip().splitlines()[:1]
                message = message[0][:300] if message else ""
                break
        out.append({"name": case.get("name"), "outcome": outcome, "seconds": float(case.get("time") or 0),
                    "message": message})
    return out


# ---------------------------------------------------------------- the workers (run as child processes)

def study_configs(tiny: bool, steps: int | None):
    """The quick study's eight runs (jdvae.runs.study), at toy sizes with `tiny`, and `steps` training steps."""
    from jdvae.runs import study
    overrides = {}
    if tiny:
        overrides = {"data.n_train": 256, "data.n_val": 64, "data.n_test": 96, "model.width": 0.125,
                     "model.z_dim": 16, "model.u_dim": 4}
    if steps:
        overrides["train.max_steps"] = steps
    return study("quick", overrides=overrides)


def paper_model_config(tiny: bool):
    """The paper profile's PA1 (128 px, full widths); with `tiny`, 32 px and width 1/8."""
    from jdvae.runs import make_config
    if tiny:
        return make_config("PA1", "paper", overrides={"data.image_size": 32, "model.width": 0.125,
                                                      "data.n_train": 64, "data.n_val": 16, "data.n_test": 16})
    return make_config("PA1", "paper", overrides={"data.n_train": 1024, "data.n_val": 64, "data.n_test": 64})


def worker_data(args) -> None:
    """Render (or find in the cache) every split the study and the benchmark read."""
    from jdvae.data.splits import load_split
    for cfg in (study_configs(args.tiny, None)[0], paper_model_config(args.tiny)):
        for split in ("train", "val", "test"):
            load_split(cfg.data, split, progress=False)
    print("data ready", flush=True)


def worker_train(args) -> None:
    """Trainings of the study, one after the other: each --config is a config JSON (trained into --runs/its name)
    or the word `judge` (the quick profile's judge on the study's data, into --runs/judge)."""
    from jdvae.config import RunConfig
    from jdvae.evaluate.judge import judge_config, train_judge
    from jdvae.runs import run_name
    from jdvae.train import train
    for item in args.config:
        t0 = time.perf_counter()
        if item == "judge":
            data = study_configs(args.tiny, None)[0].data
            changes = {"epochs": 1, "max_images": 256} if args.tiny else {}
            judge = train_judge(judge_config("quick", data=data, **changes), Path(args.runs) / "judge",
                                device=args.device, progress=False)
            print(f"DONE judge {time.perf_counter() - t0:.1f} s; init {judge.report.get('init')}", flush=True)
            continue
        cfg = RunConfig.from_dict(json.loads(Path(item).read_text()))
        train(cfg, Path(args.runs) / run_name(cfg), device=args.device, progress=False)
        print(f"DONE {run_name(cfg)} {time.perf_counter() - t0:.1f} s", flush=True)


def worker_evaluate(args) -> None:
    """Evaluate the study's runs (Table 1) and read the validity gates into --out (JSON)."""
    from jdvae.evaluate import gates
    from jdvae.evaluate.table import evaluate_runs
    report = evaluate_runs(args.runs, Path(args.runs).parent / "table", device=args.device, progress=False)
    rows = []
    for row in report["rows"]:
        why = gates.invalid(row, row["model"], row["label"])
        rows.append({"section": row["section"], "model": row["model"], "label": row["label"],
                     "sr_minus": row.get("sr_minus"), "sr_plus": row.get("sr_plus"), "bca": row.get("bca"),
                     "r_plus": row.get("r_plus"), "r_minus": row.get("r_minus"), "valid": why is None, "why": why})
    readable, why = gates.features_readable(report["judge"]["report"])
    out = {"rows": rows, "features_readable": readable, "features_why": why,
           "judge_init": report["judge"]["report"].get("init"),
           "lpips": report["lpips"]}
    Path(args.out).write_text(json.dumps(out, indent=1))


def worker_bench(args) -> None:
    """PA1 of the paper profile: images/s and peak memory per setting, FLOPs, reconstructions; the quick step time."""
    import numpy as np
    import torch

    from jdvae.bench import flops_per_image
    from jdvae.data.splits import load_split
    from jdvae.data.tensors import to_model_input
    from jdvae.losses import loss_for
    from jdvae.model import build_model
    from jdvae.precision import Precision, to_fp32

    dev = torch.device(args.device)
    out = Path(args.out)
    result: dict = {"settings": {}}

    def save():
        out.write_text(json.dumps(result, indent=1))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    cfg = paper_model_config(args.tiny)
    train_split, val_split = load_split(cfg.data, "train", progress=False), load_split(cfg.data, "val", progress=False)
    batch = cfg.train.batch_size
    images = torch.from_numpy(train_split.images)
    labels = torch.from_numpy(train_split.labels).long()
    sup_all = torch.from_numpy(train_split.supervised.astype(bool))
    shown = to_model_input(torch.from_numpy(val_split.images[:8]), dev, channels_last=True)
    shown_y = torch.from_numpy(val_split.labels[:8]).float().to(dev)
    warm, timed = (1, 2) if args.tiny else (5, args.bench_steps)
    result.update(image_size=cfg.model.image_size, width=cfg.model.width, batch=batch, warmup_steps=warm,
                  timed_steps=timed, data=f"SynthFaces-{cfg.data.image_size} ({len(images)} training images cycled)")
    result["quick_step_ms"] = _quick_step_ms(dev, args.tiny)  # first: the study's step count is chosen from it
    if dev.type == "cuda":
        result["matmul_bf16_tflops"] = _bf16_matmul_tflops()
    try:
        result["flops_per_image"] = flops_per_image(cfg.model, batch, dev)
    except Exception as e:  # the count is a report line, not a reason to stop
        result["flops_per_image"], result["flops_error"] = None, f"{type(e).__name__}: {e}"
    save()
    recons = {}
    settings = [("fp32", False, False), ("bf16 autocast", True, False), ("bf16 + torch.compile", True, True)]
    for name, bf16, compiled in settings:
        entry: dict = {"bf16": bf16, "compile": compiled}
        result["settings"][name] = entry
        try:
            torch.manual_seed(0)
            model = build_model(cfg.model).to(dev).to(memory_format=torch.channels_last)
            opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
            net = torch.compile(model, backend=args.compile_backend) if compiled else model
            entry["compile_backend"] = args.compile_backend if compiled else None
            prec = Precision("bf16" if bf16 else "fp32", "gpu check")
            if dev.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            objective = loss_for(model.structure.objective)

            def step(i):
                idx = torch.arange(i * batch, (i + 1) * batch) % len(images)
                x = to_model_input(images[idx], dev, channels_last=True)
                y, sup = labels[idx].to(dev), sup_all[idx].to(dev)
                with prec.autocast(dev):
                    fwd = net(x, y, sup, tau=cfg.train.tau)
                loss, terms = objective(to_fp32(fwd), x, y, sup, cfg.train)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                return terms["loss"]
            t0 = time.perf_counter()
            for i in range(warm):
                step(i)
            sync()
            entry["warmup_seconds"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            for i in range(warm, warm + timed):
                last = step(i)
            sync()
            seconds = time.perf_counter() - t0
            entry.update(images_per_s=timed * batch / seconds, step_ms=1000 * seconds / timed, last_loss=last)
            entry["peak_memory_gib"] = (torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda"
                                        else _peak_rss_gib())
            entry["peak_memory_kind"] = "torch.cuda.max_memory_allocated" if dev.type == "cuda" else "process peak RSS"
            if result.get("flops_per_image"):
                entry["tflops"] = entry["images_per_s"] * result["flops_per_image"] / 1e12
            entry["paper_training_hours"] = PAPER_IMAGES / entry["images_per_s"] / 3600
            model.eval()
            with torch.no_grad(), prec.autocast(dev):
                e = model.encode(shown)
                recons[name] = model.decode(shown_y, e.mu_z, e.mu_u).float()
            entry["ok"] = math.isfinite(last)
        except Exception as e:  # a failed setting is reported; the next one still runs
            entry.update(ok=False, error=f"{type(e).__name__}: {str(e)[:400]}")
        if recons:  # after every setting: a process killed in the next one keeps the rows drawn so far
            rows = [shown] + list(recons.values())
            grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)  # (3, rows*S, 8*S)
            pixels = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
            write_png(Path(args.png), np.ascontiguousarray(pixels))
            result["png"] = {"path": args.png, "rows": ["data"] + list(recons)}
        save()


def _peak_rss_gib() -> float:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _quick_step_ms(dev, tiny: bool) -> float:
    """Milliseconds of one quick-profile PA1 training step (fp32, as the study trains), alone on the device."""
    import torch

    from jdvae.bench import Setting, make_step
    run = study_configs(tiny, None)[0]
    step = make_step(run.model, Setting("quick", channels_last=True), run.train.batch_size, dev)
    for _ in range(3):
        step()
    n = 5 if tiny else 30
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - t0) / n


def _bf16_matmul_tflops(n: int = 8192, repeats: int = 10) -> float:
    """Measured dense bf16 matrix-product rate (the practical ceiling the FLOP rate is also read against)."""
    import torch
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e12


WORKERS = {"data": worker_data, "train": worker_train, "evaluate": worker_evaluate, "bench": worker_bench}


def worker_cmd(args, name: str, *extra: str) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--device", args.device,
           "--compile-backend", args.compile_backend, "--bench-steps", str(args.bench_steps)]
    return cmd + (["--tiny"] if args.tiny else []) + list(extra)


# ---------------------------------------------------------------- 3. the benchmark, 4. the study

def bench(args, work: Path, env: dict, timeout: float) -> dict:
    out = work / "bench.json"
    proc = run_proc(worker_cmd(args, "bench", "--out", str(out), "--png", str(args.png)), timeout, env,
                    work / "bench.log")
    result = json.loads(out.read_text()) if out.exists() else {"settings": {}}
    result["process"] = proc
    settings = result["settings"]
    result["ok"] = proc["rc"] == 0 and len(settings) == 3 and all(s.get("ok") for s in settings.values())
    rates = {k: v["images_per_s"] for k, v in settings.items() if v.get("images_per_s")}
    if rates:
        best = max(rates, key=rates.get)
        result["best"] = best
        result["paper_training_hours"] = PAPER_IMAGES / rates[best] / 3600
    return result


def choose_steps(args, quick_step_ms: float | None, seconds_left: float) -> tuple[int, str]:
    """The study's training steps: --study-steps N, or (auto) as many as fit, rounded down to 100, at most the
    quick profile's."""
    from jdvae.config import profile
    most = profile("quick").train.max_steps
    if args.study_steps != "auto":
        return int(args.study_steps), "given with --study-steps"
    if args.tiny:
        return 4, "--tiny: 4 steps"
    if not quick_step_ms:
        return most // 2, f"auto: no step time measured, half the profile's {most} steps"
    fit = seconds_left / (quick_step_ms / 1000 * STUDY_SLOWDOWN)
    steps = int(max(100, min(most, fit // 100 * 100)))
    why = (f"auto: {quick_step_ms:.1f} ms per quick step alone, assumed ×{STUDY_SLOWDOWN:g} with nine processes on "
           f"one GPU, {seconds_left:.0f} s left for the trainings")
    return steps, why


def quick_study(args, work: Path, env: dict, deadline: float, quick_step_ms: float | None) -> dict:
    from jdvae.runs import run_name
    runs = work / "runs"
    eval_reserve = 30 if args.tiny else args.eval_seconds
    steps, why = choose_steps(args, quick_step_ms, deadline - time.monotonic() - eval_reserve - 15)
    most = study_configs(False, None)[0].train.max_steps  # the quick profile's
    result = {"steps": steps, "steps_why": why, "profile_steps": most, "shortened": steps < most,
              "jobs": {}}
    items = ["judge"]  # the longest job first
    (work / "configs").mkdir(exist_ok=True)
    for cfg in study_configs(args.tiny, steps):
        path = work / "configs" / f"{run_name(cfg)}.json"
        path.write_text(cfg.to_json())
        items.append(str(path))
    # one process per job (`--jobs` of them, all nine by default on CUDA); with fewer, each takes a share in turn
    groups = [items[i::args.jobs] for i in range(min(args.jobs, len(items)))]
    jobs = [(f"process{i}", worker_cmd(args, "train", "--runs", str(runs), "--config", *group))
            for i, group in enumerate(groups)]
    t0 = time.perf_counter()
    train_deadline = deadline - eval_reserve
    procs = run_parallel(jobs, len(jobs), train_deadline, env, work / "logs")
    result["processes"] = procs
    for (name, _), group in zip(jobs, groups):
        done = _done_lines(work / "logs" / f"{name}.log")
        for item in group:
            job = "judge" if item == "judge" else Path(item).stem
            result["jobs"][job] = {"process": name, "ok": job in done, "seconds": done.get(job),
                                   "steps_reached": None if job == "judge" else _steps_reached(runs / job)}
    result["train_wall_seconds"] = round(time.perf_counter() - t0, 1)
    per_step = [j["seconds"] / j["steps_reached"] for k, j in result["jobs"].items()
                if k != "judge" and j["ok"] and j["steps_reached"]]
    if per_step and quick_step_ms and args.jobs >= len(items):  # one job per process: the concurrent step time
        # data loading and CUDA start included: an upper bound
        result["slowdown_measured"] = round(max(per_step) * 1000 / quick_step_ms, 2)
    trained = all(j["ok"] for j in result["jobs"].values()) and all(p["rc"] == 0 for p in procs.values())
    result["trained"] = trained
    if not trained:
        result.update(ok=False, gates_pass=None, evaluation=None)
        return result
    gates_file = work / "gates.json"
    ev = run_proc(worker_cmd(args, "evaluate", "--runs", str(runs), "--out", str(gates_file)),
                  deadline - time.monotonic(), env, work / "logs" / "evaluate.log")
    result["evaluation"] = ev
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    if ev["rc"] != 0 or not gates_file.exists():
        result.update(ok=False, gates_pass=None)
        return result
    g = json.loads(gates_file.read_text())
    result.update(g)
    result["gates_pass"] = bool(g["rows"]) and all(r["valid"] for r in g["rows"])
    result["ok"] = len(g["rows"]) >= 8  # every row evaluated (7 one-label rows, 2 of the two-label run)
    return result


def _steps_reached(run: Path) -> int | None:
    """The last step a run's metrics.csv records (its epochs), or None before the first epoch ended."""
    import csv
    path = run / "metrics.csv"
    if not path.exists():
        return None
    with open(path) as fh:
        steps = [int(float(row["step"])) for row in csv.DictReader(fh) if row.get("step")]
    return steps[-1] if steps else None


def _done_lines(log: Path) -> dict[str, float]:
    """{job: seconds} from the DONE lines a train worker prints."""
    done = {}
    for line in Path(log).read_text(errors="replace").splitlines() if Path(log).exists() else []:
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "DONE":
            done[parts[1]] = float(parts[2])
    return done


def run_parallel(jobs: list[tuple[str, list[str]]], width: int, deadline: float, env: dict, logs: Path) -> dict:
    """Run the jobs `width` at a time; kill whatever still runs at `deadline` (time.monotonic())."""
    logs.mkdir(parents=True, exist_ok=True)
    waiting, running, done = list(jobs), {}, {}
    while waiting or running:
        while waiting and len(running) < width:
            name, cmd = waiting.pop(0)
            fh = open(logs / f"{name}.log", "w")
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
            running[name] = (proc, fh, time.perf_counter())
        for name, (proc, fh, t0) in list(running.items()):
            late = time.monotonic() > deadline
            if proc.poll() is None and not late:
                continue
            if proc.poll() is None:
                _kill(proc)
            fh.close()
            done[name] = {"rc": proc.returncode, "timed_out": late and proc.returncode != 0,
                          "seconds": round(time.perf_counter() - t0, 1), "tail": tail(logs / f"{name}.log", 3)}
            del running[name]
        if time.monotonic() > deadline:
            for name, _ in waiting:
                done[name] = {"rc": None, "timed_out": True, "seconds": 0.0, "tail": "not started before the deadline"}
            waiting = []
        time.sleep(0.2)
    return done


# ---------------------------------------------------------------- the report

def _verdict(r: dict) -> str:
    if not r.get("complete"):
        return "INCOMPLETE (the check stopped before its end)" + (f"; failing so far: {', '.join(r['failed'])}"
                                                                  if r["failed"] else "")
    return "all sections pass" if r["ok"] else "FAILED: " + ", ".join(r["failed"])


def to_markdown(r: dict) -> str:
    m = r["machine"]
    lines = ["# GPU check", "",
             f"Written by `benchmarks/gpu_check.py{' ' + ' '.join(r['argv']) if r['argv'] else ''}` in "
             f"{r['wall_seconds']:.0f} s; verdict: **{_verdict(r)}**.",
             "", "## Machine", "", "| | |", "|---|---|"]
    rows = [("GPU", m.get("gpu", "none (CPU run)")), ("compute capability", m.get("capability")),
            ("GPU memory", f"{m['gpu_memory_gib']} GiB" if m.get("gpu_memory_gib") else None),
            ("driver", m.get("driver")), ("torch", m["torch"]), ("torchvision", m.get("torchvision")),
            ("CUDA (torch build)", m.get("cuda")), ("cuDNN", m.get("cudnn")), ("Python", m["python"]),
            ("CPU", f"{m['cpu']}, {m['cpu_cores']} cores"),
            ("train.precision = auto", f"{m['precision_auto']['chosen']} ({m['precision_auto']['reason']})"),
            ("TF32", f"cuDNN convolutions {m['cudnn_allow_tf32']}, matmul {m['matmul_allow_tf32']} (torch defaults)"),
            ("modules missing", ", ".join(m["missing_modules"]) or "none")]
    lines += [f"| {k} | {v} |" for k, v in rows if v is not None]
    t = r.get("tests")
    if t:
        lines += ["", "## CUDA tests", "",
                  f"`pytest -m cuda tests/test_gpu_cuda.py`{' -k ' + repr(t['subset']) if t.get('subset') else ''}: "
                  f"{t['passed']} passed, {t['failed']} failed, {t['skipped']} skipped in {t['seconds']:.0f} s"
                  + (" (TIMED OUT)" if t["timed_out"] else "") + ".", "", "| test | outcome | s | message |",
                  "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['outcome']} | {c['seconds']:.1f} | {c['message'].replace('|', '/')} |"
                  for c in t["tests"]]
        if not t["tests"]:
            lines.append(f"| (no test ran) | rc {t['rc']} | | {t['tail'][-300:].replace(chr(10), ' ')} |")
    b = r.get("bench")
    if b:
        lines += ["", "## Paper profile: PA1 at {} px, width {}, batch {}".format(b.get("image_size"), b.get("width"),
                                                                                b.get("batch")), ""]
        flops = b.get("flops_per_image")
        peak = r["peak_tflops"]
        lines.append(f"Data {b.get('data')}; {b.get('warmup_steps')} warm-up steps, then {b.get('timed_steps')} timed "
                     f"steps per setting; {flops / 1e9:.2f} GFLOP per training image (torch.utils.flop_counter)"
                     if flops else "FLOP count failed: " + str(b.get("flops_error")))
        lines[-1] += (f"; FLOP rate against {peak['name']} = {peak['tflops']:.0f} TFLOP/s"
                      + (f", measured bf16 8192³ matmul {b['matmul_bf16_tflops']:.0f} TFLOP/s"
                         if b.get("matmul_bf16_tflops") else "")
                      + ".")
        lines += ["", "| setting | images/s | step ms | warm-up s | peak memory GiB | TFLOP/s | share of peak | "
                      "one paper training |", "|---|---|---|---|---|---|---|---|"]
        for name, s in b["settings"].items():
            if not s.get("images_per_s"):
                lines.append(f"| {name} | failed: {s.get('error', '?')} | | | | | | |")
                continue
            tf = s.get("tflops")
            lines.append(f"| {name} | {s['images_per_s']:.1f} | {s['step_ms']:.1f} | {s['warmup_seconds']:.1f} | "
                         f"{s['peak_memory_gib']:.2f} | {tf:.1f} | {tf / peak['tflops']:.1%} | "
                         f"{s['paper_training_hours']:.1f} h |" if tf else f"| {name} | {s['images_per_s']:.1f} | | | | | | |")
        if b.get("best"):
            lines += ["", f"Projected time of one full paper-profile training (200 epochs × 160 000 images, steps only, "
                          f"no validation) at the fastest setting ({b['best']}): **{b['paper_training_hours']:.1f} h**."]
        if b.get("png"):
            lines += ["", f"Reconstructions of 8 validation images after the timed steps, rows {', '.join(b['png']['rows'])}: "
                          f"`{Path(b['png']['path']).name}`."]
        if b["process"]["rc"] != 0:
            lines += ["", f"The benchmark process ended with rc {b['process']['rc']}"
                      + (" (timed out)" if b["process"]["timed_out"] else "") + f": {b['process']['tail'][-400:]}"]
    s = r.get("study")
    if s:
        lines += ["", "## Quick study", "",
                  f"{len(s['jobs']) - 1} trainings and the judge in {len(s['processes'])} parallel processes, "
                  f"{s['steps']} steps each (the profile trains {s['profile_steps']}"
                  + ("; SHORTENED to fit the time: " + s["steps_why"] if s["shortened"] else "") + "). "
                  f"Trainings {s['train_wall_seconds']:.0f} s"
                  + (f", with the evaluation {s['wall_seconds']:.0f} s." if s.get("wall_seconds") else "."),
                  "", "| job | process | done | s | steps reached (last epoch end) |", "|---|---|---|---|---|"]
        lines += [f"| {k} | {v['process']} (rc {s['processes'][v['process']]['rc']}"
                  f"{', timed out' if s['processes'][v['process']]['timed_out'] else ''}) | "
                  f"{'yes' if v['ok'] else 'NO'} | {'' if v['seconds'] is None else round(v['seconds'])} | "
                  f"{'' if v.get('steps_reached') is None else v['steps_reached']} |"
                  for k, v in s["jobs"].items()]
        if s.get("slowdown_measured"):
            lines += ["", f"Slowest training (data loading and CUDA start included): ×{s['slowdown_measured']} "
                          f"the time of a quick step "
                          f"alone (auto steps assumed ×{STUDY_SLOWDOWN:g})."]
        if not s["trained"]:
            lines += ["", "Last lines of the processes: " + "; ".join(f"{k}: {v['tail'][-300:]}" for k, v in
                                                                     s["processes"].items() if v["rc"] != 0)]
        if s.get("rows"):
            lines += ["", f"Validity gates (R(±) ≥ 90 %, judge reads true counterfactuals ≥ 95 %): "
                          f"**{'all pass' if s['gates_pass'] else 'not all pass'}**; judge: {s.get('judge_init')}; "
                          f"feature head: {s.get('features_why')}.", "",
                      "| section | model | label | SR(−) | SR(+) | BCA | R(+) | R(−) | valid |",
                      "|---|---|---|---|---|---|---|---|---|"]
            f = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
            lines += [f"| {x['section']} | {x['model']} | {x['label']} | {f(x['sr_minus'])} | {f(x['sr_plus'])} | "
                      f"{f(x['bca'])} | {f(x['r_plus'])} | "
                      f"{f(x['r_minus'])} | {'yes' if x['valid'] else 'no: ' + x['why']} |" for x in s["rows"]]
        elif s.get("evaluation"):
            ev = s["evaluation"]
            why = (f"timed out after {ev['seconds']:.0f} s; give it more with --eval-seconds or --budget"
                   if ev["timed_out"] else ev["tail"][-400:])
            lines += ["", f"Evaluation failed (rc {ev['rc']}): {why}"]
    for name in ("tests", "bench", "study"):
        if r.get("errors", {}).get(name):
            lines += ["", f"Section {name} raised: {r['errors'][name]}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--tiny", action="store_true", help="toy sizes (the test suite runs --device cpu --tiny)")
    p.add_argument("--budget", type=float, default=None, help="seconds for the whole check (default 470; tiny 300)")
    p.add_argument("--study-steps", default="auto", help="training steps of the study: auto (what fits) or N")
    p.add_argument("--jobs", type=int, default=None, help="study processes at a time (default: all nine on CUDA)")
    p.add_argument("--bench-steps", type=int, default=30, help="timed steps per benchmark setting")
    p.add_argument("--eval-seconds", type=float, default=120, help="seconds kept for the study's evaluation")
    p.add_argument("--compile-backend", default=None,
                   help="torch.compile backend (default inductor; --device cpu --tiny: eager)")
    p.add_argument("--tests-k", default=None, help="pytest -k of the CUDA tests (tiny default: the forward/backward)")
    p.add_argument("--sections", default="tests,bench,study", help="comma-separated subset")
    p.add_argument("--work", default=None, help="scratch folder (default /tmp/jdvae-gpu-check)")
    p.add_argument("--json", default=None, help="report (default docs/gpu.json on CUDA, WORK/gpu.json on CPU)")
    p.add_argument("--md", default=None, help="markdown report (default docs/gpu.md on CUDA, WORK/gpu.md on CPU)")
    p.add_argument("--png", default=None, help="reconstructions (default docs/gpu_recon.png on CUDA, WORK/ on CPU)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--config", nargs="*", default=None, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    p.add_argument("--runs", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    # inductor on a CPU compiles C++ for minutes: the tiny CPU mode traces with dynamo and runs eagerly
    args.compile_backend = args.compile_backend or ("eager" if args.tiny and args.device == "cpu" else "inductor")
    if args.worker:
        WORKERS[args.worker](args)
        return 0
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but torch sees no CUDA GPU; run it on a GPU machine, or use "
              "--device cpu --tiny for the CPU path", file=sys.stderr)
        return 2
    t_start = time.monotonic()
    budget = args.budget or (300 if args.tiny else 470)
    deadline = t_start + budget
    work = Path(args.work or "/tmp/jdvae-gpu-check").resolve()
    work.mkdir(parents=True, exist_ok=True)
    docs = ROOT / "docs" if args.device == "cuda" else work
    json_path, md_path = Path(args.json or docs / "gpu.json"), Path(args.md or docs / "gpu.md")
    args.png = str(Path(args.png or docs / "gpu_recon.png").resolve())
    args.jobs = args.jobs or (9 if args.device == "cuda" else 2)
    if args.tiny and args.tests_k is None:
        args.tests_k = "forward_and_backward"
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    env = child_env(args, work)
    report: dict = {"argv": argv, "args": {k: v for k, v in vars(args).items() if k not in ("worker",)},
                    "budget_seconds": budget, "machine": machine(args.device), "errors": {}}
    report["peak_tflops"] = peak_for(report["machine"].get("gpu"))

    def left(share_of_rest: float, reserve: float) -> float:
        return max(5.0, (deadline - time.monotonic() - reserve) * share_of_rest)

    def flush(final: bool = False) -> None:  # after every section, so that even a crash leaves a report
        report["wall_seconds"] = round(time.monotonic() - t_start, 1)
        failed = [name for name in sections if not (report.get(name) or {}).get("ok")]
        if (report.get("data") or {}).get("rc") not in (0, None):
            failed.append("data")
        report["failed"], report["ok"], report["complete"] = failed, final and not failed, final
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=1, default=str))
        md_path.write_text(to_markdown(report))

    def section(name: str, run) -> None:
        try:
            report[name] = run()
        except Exception as e:  # one broken section is reported; the others still run
            report["errors"][name] = f"{type(e).__name__}: {e}"
        flush()

    data = None  # the study's and the benchmark's data, rendered while the tests run
    if "bench" in sections or "study" in sections:
        data = subprocess.Popen(worker_cmd(args, "data"), stdout=open(work / "data.log", "w"),
                                stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    if "tests" in sections:
        section("tests", lambda: cuda_tests(args, work, env, left(0.25, 0)))
    if data is not None:
        try:
            data.wait(timeout=max(5.0, deadline - time.monotonic() - 60))
        except subprocess.TimeoutExpired:
            _kill(data)
    report["data"] = {"rc": data.returncode if data else 0, "tail": tail(work / "data.log", 3) if data else "not needed"}
    if "bench" in sections:
        section("bench", lambda: bench(args, work, env, left(0.4, 0)))
    if "study" in sections:
        step_ms = (report.get("bench") or {}).get("quick_step_ms")
        section("study", lambda: quick_study(args, work, env, deadline - 10, step_ms))
    flush(final=True)
    print(f"gpu_check: {'ok' if report['ok'] else 'FAILED: ' + ', '.join(report['failed'])} in "
          f"{report['wall_seconds']:.0f} s; report {md_path} and {json_path}", flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
