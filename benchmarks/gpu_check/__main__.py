"""The GPU check: one command, within 540 s on one GPU, installs included; its report rewritten after every section.

    python3 -m benchmarks.gpu_check --out DIR [--wheels .whl]     # or: make gpu-check
    python3 -m benchmarks.gpu_check --device cpu --tiny --out DIR  # the same code paths at toy sizes (the tests)

On this workplace's device machine, after `make gpu-wheels` here, one call runs it (sizes.DEVICE_COMMAND):
    command `python3 -m benchmarks.gpu_check --out $OUT --wheels .whl`, carry [".whl"], timeout_s 600.
What the call sends stays under 56 MiB (`python -m benchmarks.gpu_check.payload`), and DIR receives at most 8 files:
gpu.md, gpu.json, the swap grids (gpu_swaps.png, study_fig2.png, study_fig3.png) and logs.tar.gz.

Phases, each to its own deadline (sizes.PLAN: the seconds each took on the H200 on 2026-12-04, or an estimate):
0. setup: the wheels of --wheels installed offline into WORK/site, a python3 Jupyter kernel registered there;
1. tests: the CUDA tests (`pytest -m cuda tests/test_gpu_cuda.py`), while the SynthFaces-128 data renders;
2. step, alone on the GPU: the paper profile's PA1 step (128 px, batch 32) in each setting of sizes.SETTINGS, timed
   one after another, its losses against eager fp32 on the same batches; then the profile's own setting in eight
   trainings side by side; then the CelebA paper study projected from the rates (projection);
3. side by side, each to the same deadline and each reporting what it got done: the product's quick study through
   `jdvae reproduce --device cuda` (papermill, the notebooks); PA1 and M2 at the paper profile's settings on
   SynthFaces-128, trained to their deadline, then read on validation pairs and drawn as Fig. 2 (gpu_swaps.png);
   the user's CelebA command (two jobs, 20 steps each) on a CelebA-layout tree written from SynthFaces.
Nothing is downloaded (JDVAE_OFFLINE=1). Exit status 1 when a section fails, 2 without a GPU or with bad wheels.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import threading
import time
from pathlib import Path

from benchmarks.gpu_check.common import Proc, child_env, machine, python, run
from benchmarks.gpu_check.report import to_markdown
from benchmarks.gpu_check.sections import celeba, cuda_tests, learning, paper_step, product_study, projection
from benchmarks.gpu_check.sizes import DEVICE_COMMAND, DEVICE_TIMEOUT_S, PLAN, deadlines, sizes

SECTIONS = ("tests", "step", "projection", "study", "learn", "celeba")
GRIDS = {"gpu_swaps.png": "gpu_swaps.png", "study_figures/fig2.png": "study_fig2.png",
         "study_figures/fig3.png": "study_fig3.png"}  # under WORK -> under OUT


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path, help="folder for the report, the grids and the logs (8 files)")
    p.add_argument("--wheels", type=Path, default=None, help="folder of wheels to install offline first (.whl)")
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--tiny", action="store_true", help="toy sizes (the test suite runs --device cpu --tiny)")
    p.add_argument("--budget", type=float, default=None, help="seconds for the whole check (default 540; tiny 1500)")
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset of " + ", ".join(SECTIONS))
    p.add_argument("--tests-k", default=None, help="pytest -k of the CUDA tests (tiny: the forward/backward ones)")
    p.add_argument("--backend", default=None, help="torch.compile backend (default inductor; --device cpu: eager)")
    p.add_argument("--faster-lr", type=float, default=None,
                   help="also train PA1 at this lr in the learning run (the paper's 1e-4 stays the profile's)")
    p.add_argument("--work", type=Path, default=Path("/tmp/jdvae-gpu-check"), help="scratch folder")
    args = p.parse_args(argv)
    # inductor on a CPU compiles C++ for minutes: the CPU mode traces with dynamo and runs eagerly
    args.backend = args.backend or ("eager" if args.device == "cpu" else "inductor")
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section {sorted(unknown)[0]!r}; use a comma-separated subset of {', '.join(SECTIONS)}")
    return args


class Report:
    """gpu.md and gpu.json in OUT, rewritten after every section, with the grids and the logs archive."""

    def __init__(self, args, out: Path, work: Path, t_start: float):
        self.out, self.work, self.t_start, self.lock = out, work, t_start, threading.Lock()
        self.data: dict = {"argv": sys.argv[1:], "sections": args.sections.split(","), "device": args.device,
                           "tiny": args.tiny, "errors": {}, "device_command": DEVICE_COMMAND,
                           "device_timeout_s": DEVICE_TIMEOUT_S, "plan": PLAN, "budget_s": args.budget}

    def set(self, name: str, value) -> None:
        with self.lock:
            self.data[name] = value
            self.flush(final=False)

    def flush(self, final: bool) -> None:
        d = self.data
        d["wall_seconds"] = round(time.monotonic() - self.t_start, 1)
        d["failed"] = [s for s in d["sections"] if not (d.get(s) or {}).get("ok")]
        d["complete"], d["ok"] = final, final and not d["failed"]
        self.out.mkdir(parents=True, exist_ok=True)
        for source, name in GRIDS.items():
            if (self.work / source).exists():
                shutil.copyfile(self.work / source, self.out / name)
        d["files"] = sorted(p.name for p in self.out.iterdir() if p.is_file()) + ["gpu.json", "gpu.md", "logs.tar.gz"]
        d["files"] = sorted(set(d["files"]))
        (self.out / "gpu.json").write_text(json.dumps(d, indent=1, default=str))
        (self.out / "gpu.md").write_text(to_markdown(d))
        archive_logs(self.work, self.out / "logs.tar.gz")


def archive_logs(work: Path, archive: Path, cap: int = 2 * 2**20) -> None:
    """Every *.log under `work` (the last `cap` bytes of each) into one gzipped tar, written whole or not at all."""
    tmp = archive.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for log in sorted(work.rglob("*.log")):
            if log.stat().st_size > cap:  # keep the end, where a failure is
                clipped = log.with_suffix(".tail")
                clipped.write_bytes(log.read_bytes()[-cap:])
                tar.add(clipped, arcname=str(log.relative_to(work)))
                clipped.unlink()
            else:
                tar.add(log, arcname=str(log.relative_to(work)))
    os.replace(tmp, archive)


def section(report: Report, name: str, work) -> None:
    """Run one section into the report; an exception is reported under its name, the others still run."""
    if name not in report.data["sections"]:
        return
    try:
        report.set(name, work())
    except Exception as e:
        with report.lock:
            report.data["errors"][name] = f"{type(e).__name__}: {str(e)[:400]}"
        report.set(name, {"ok": False})


def setup(wheels: Path | None, work: Path) -> tuple[dict, dict]:
    """Install `wheels` offline into WORK/site and register a python3 kernel there; (the children's extra
    environment, what it did). Two versions of one package, or an install that fails, end the check."""
    if wheels is None:
        return {}, {"wheels": None, "ok": True, "seconds": 0.0}
    from benchmarks.gpu_check.payload import wheel_files
    t0, site = time.monotonic(), work / "site"
    files = wheel_files(wheels)  # refuses two versions of one package
    if not files:
        raise SystemExit(f"gpu_check: {wheels} holds no wheel; run `make gpu-wheels` where pip works and carry .whl")
    shutil.rmtree(site, ignore_errors=True)
    extra = {"PYTHONPATH": str(site), "JUPYTER_PATH": str(site / "jupyter" / "share" / "jupyter"),
             "PATH": f"{site / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    env = {**os.environ, **extra}
    steps = [[sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
              "--no-cache-dir", "--disable-pip-version-check", "--target", str(site), *map(str, files.values())],
             [sys.executable, "-m", "ipykernel", "install", "--prefix", str(site / "jupyter"), "--name", "python3"]]
    for i, cmd in enumerate(steps):
        done = run(cmd, env, work / f"setup_{i}.log", time.monotonic() + 300)
        if done["rc"] != 0:
            raise SystemExit(f"gpu_check: installing the wheels of {wheels} failed ({done['tail'][-300:]}); "
                             f"log {done['log']}")
    sys.path.append(str(site))  # so that the machine section sees what the children will import
    return extra, {"wheels": str(wheels), "installed": len(files), "ok": True,
                   "seconds": round(time.monotonic() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but torch sees no CUDA GPU; run it on a GPU machine, or use "
              "--device cpu --tiny for the CPU path", file=sys.stderr)
        return 2
    t_start, size = time.monotonic(), sizes(args.tiny)
    args.budget = args.budget or size["budget"]
    ends = deadlines(t_start, args.budget)
    work, out = args.work.resolve(), args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)  # each section clears its own folders in it
    report = Report(args, out, work, t_start)
    extra, did = setup(args.wheels, work)
    report.set("setup", did)
    env = child_env(args.device, work, extra)
    report.set("machine", machine(args.device))
    tests_k = args.tests_k if args.tests_k is not None else size["tests_k"]

    # the SynthFaces-128 splits of the step and learning sections, rendered while the tests run (the learning
    # run's 20 000 faces go on rendering, on one core, while the step section times)
    wanted = set(report.data["sections"])
    data = {part: Proc(python("benchmarks.gpu_check.learn_worker", "data", "--part", part,
                              *(["--tiny"] if args.tiny else [])), env, work / f"data_{part}.log")
            for part in ("step", "learn") if part in wanted}
    section(report, "tests", lambda: cuda_tests(env, work, ends["tests"], tests_k))
    if "step" in data:
        report.set("data", {"step": data["step"].finish(ends["step alone"])})
    section(report, "step", lambda: paper_step(args, env, work, ends["step alone"], ends["step together"]))
    section(report, "projection", lambda: projection(report.data.get("step") or {}))

    late = ends["side by side"]
    jobs = {"study": lambda: product_study(args, env, work, late), "learn": lambda: learning(args, env, work, late, data.get("learn")),
            "celeba": lambda: celeba(args, env, work, late)}
    threads = [threading.Thread(target=section, args=(report, name, job)) for name, job in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with report.lock:
        report.flush(final=True)
    d = report.data
    print(f"gpu_check: {'ok' if d['ok'] else 'FAILED: ' + ', '.join(d['failed'])} in {d['wall_seconds']:.0f} s; "
          f"report {out / 'gpu.md'}", flush=True)
    return 0 if d["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
