"""The GPU check: one command, at most nine minutes on one GPU, its report in docs/gpu.md written as it goes.

    python3 -m benchmarks.gpu_check                       # or: make gpu-check
    python3 -m benchmarks.gpu_check --device cpu --tiny   # the same code paths at toy sizes (tests/test_gpu_check.py)

Sections, each in its own processes with a deadline, so that the report is always written:
1. tests: the CUDA tests (`pytest -m cuda tests/test_gpu_cuda.py`), while the SynthFaces-128 data renders;
2. step: the paper profile's PA1 step (128 px, batch 32) in each setting of sizes.SETTINGS, timed one after another
   in images/s, with its losses over the first steps against eager fp32 on the same seed; then the profile's own
   setting in eight trainings side by side (the aggregate); against the goals of 5 000 and 10 000 images/s;
3. projection: the CelebA paper study (eight trainings of 200 balanced epochs) at those rates;
4. study, learn and celeba, side by side on the GPU: the product's quick study through `jdvae reproduce` (papermill,
   the notebooks) from an empty runs folder to claims.md and the figures; PA1 and M2 at the paper profile's settings
   on SynthFaces-128 for a few minutes, then their validation measures, loss curves and Fig. 2's swaps
   (docs/gpu_swaps.png); the user's CelebA command on a CelebA-layout tree written from SynthFaces.
Nothing is downloaded (JDVAE_OFFLINE=1). Exit status 1 when a section fails, 2 without a GPU.
On this workplace's device machine: `make gpu-wheels` here, carry .whl, then `make gpu-check`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import threading
import time
from pathlib import Path

from benchmarks.gpu_check.common import ROOT, Proc, child_env, machine, python
from benchmarks.gpu_check.report import to_markdown
from benchmarks.gpu_check.sections import celeba, cuda_tests, learning, paper_step, product_study, projection
from benchmarks.gpu_check.sizes import sizes

SECTIONS = ("tests", "step", "projection", "study", "learn", "celeba")


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--tiny", action="store_true", help="toy sizes (the test suite runs --device cpu --tiny)")
    p.add_argument("--budget", type=float, default=None, help="seconds for the whole check (default 540; tiny 1500)")
    p.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset of " + ", ".join(SECTIONS))
    p.add_argument("--tests-k", default=None, help="pytest -k of the CUDA tests (tiny: the forward/backward ones)")
    p.add_argument("--backend", default=None, help="torch.compile backend (default inductor; --device cpu: eager)")
    p.add_argument("--faster-lr", type=float, default=None,
                   help="also train PA1 at this lr in the learning run (the paper's 1e-4 stays the profile's)")
    p.add_argument("--work", default="/tmp/jdvae-gpu-check", help="scratch folder")
    p.add_argument("--md", default=None, help="report (default docs/gpu.md on CUDA, WORK/gpu.md on a CPU)")
    args = p.parse_args(argv)
    # inductor on a CPU compiles C++ for minutes: the CPU mode traces with dynamo and runs eagerly
    args.backend = args.backend or ("eager" if args.device == "cpu" else "inductor")
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section {sorted(unknown)[0]!r}; use a comma-separated subset of {', '.join(SECTIONS)}")
    return args


class Report:
    """The report, rewritten (JSON beside the markdown, and any PNG) after every section."""

    def __init__(self, args, md: Path, t_start: float):
        self.md, self.t_start, self.lock = md, t_start, threading.Lock()
        self.data: dict = {"argv": sys.argv[1:], "sections": args.sections.split(","), "device": args.device,
                           "tiny": args.tiny, "errors": {}}

    def set(self, name: str, value) -> None:
        with self.lock:
            self.data[name] = value
            self.flush(final=False)

    def flush(self, final: bool) -> None:
        d = self.data
        d["wall_seconds"] = round(time.monotonic() - self.t_start, 1)
        d["failed"] = [s for s in d["sections"] if not (d.get(s) or {}).get("ok")]
        d["complete"], d["ok"] = final, final and not d["failed"]
        self.md.parent.mkdir(parents=True, exist_ok=True)
        self.md.with_suffix(".json").write_text(json.dumps(d, indent=1, default=str))
        self.md.write_text(to_markdown(d))


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


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: --device cuda but torch sees no CUDA GPU; run it on a GPU machine, or use "
              "--device cpu --tiny for the CPU path", file=sys.stderr)
        return 2
    t_start, size = time.monotonic(), sizes(args.tiny)
    end = t_start + (args.budget or size["budget"])
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    md = Path(args.md or (ROOT / "docs" / "gpu.md" if args.device == "cuda" else work / "gpu.md")).resolve()
    report = Report(args, md, t_start)
    report.set("machine", machine(args.device))
    env = child_env(args.device, work)
    tests_k = args.tests_k if args.tests_k is not None else size["tests_k"]

    data = None  # the SynthFaces-128 splits of the step and learning sections, rendered while the tests run
    if {"step", "learn"} & set(report.data["sections"]):
        data = Proc(python("benchmarks.gpu_check.learn_worker", "data", *(["--tiny"] if args.tiny else [])), env,
                    work / "data.log")
    section(report, "tests", lambda: cuda_tests(env, work, t_start + 0.2 * (end - t_start), tests_k))
    if data is not None:
        report.set("data", data.finish(t_start + 0.3 * (end - t_start)))
    step_share = 0.35
    section(report, "step", lambda: paper_step(args, env, work, time.monotonic() + step_share * (end - time.monotonic())))
    section(report, "projection", lambda: projection(report.data.get("step") or {}))

    late = end - (5 if args.tiny else 10)  # the last seconds write the report
    jobs = {"study": lambda: product_study(args, env, work, late),
            "learn": lambda: learning(args, env, work, late, report.data.get("step") or {}),
            "celeba": lambda: celeba(args, env, work, late)}
    threads = [threading.Thread(target=section, args=(report, name, job)) for name, job in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    swaps = work / "gpu_swaps.png"
    if swaps.exists() and swaps.parent != md.parent:
        shutil.copyfile(swaps, md.parent / "gpu_swaps.png")
    with report.lock:
        report.flush(final=True)
    d = report.data
    print(f"gpu_check: {'ok' if d['ok'] else 'FAILED: ' + ', '.join(d['failed'])} in {d['wall_seconds']:.0f} s; "
          f"report {md}", flush=True)
    return 0 if d["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
