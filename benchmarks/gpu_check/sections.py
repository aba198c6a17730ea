"""The check's sections. Each returns a dict for the report, with `ok` and what it cost (`seconds`)."""
from __future__ import annotations

import csv
import json
import shutil
import statistics
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from benchmarks.gpu_check.common import ROOT, Proc, compile_threads, python, run
from benchmarks.gpu_check.sizes import GOAL_ONE, GOAL_TOGETHER, PAPER_SETTING, QUICK_IMAGES, SETTINGS, sizes

PAPER_EPOCHS = 200  # paper section 3
CELEBA_TRAIN = 162_770  # images in CelebA's official training partition
# CelebA attribute frequencies over its 202 599 images (list_attr_celeba.txt): Eyeglasses 13 193, No_Beard = -1 33 441
CELEBA_PREVALENCE = {"glasses": 13_193 / 202_599, "beard": 33_441 / 202_599}
STUDY_LABELS = [("glasses",)] * 7 + [("glasses", "beard")]  # the study's eight trainings (jdvae.study.plan.study)


def cuda_tests(env: dict, work: Path, deadline: float, tests_k: str | None) -> dict:
    """pytest -m cuda on tests/test_gpu_cuda.py; per test: outcome, seconds and the first line of a failure."""
    xml = work / "cuda_tests.xml"
    cmd = python("pytest", "-v", "-m", "cuda", "-p", "no:cacheprovider", f"--junitxml={xml}",
                 ROOT / "tests" / "test_gpu_cuda.py", "-k", tests_k or "not overrun_stand_in")
    result = run(cmd, env, work / "cuda_tests.log", deadline)
    # no XML when pytest was killed at the deadline: the verbose log still names what ran
    result["tests"] = parse_junit(xml) if xml.exists() else parse_verbose(work / "cuda_tests.log")
    counts = {k: sum(t["outcome"] == k for t in result["tests"]) for k in ("passed", "failed", "skipped")}
    result.update(counts, subset=tests_k)
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
                lines = (node.get("message") or node.text or "").strip().splitlines()[:1]
                message = lines[0][:300] if lines else ""
                break
        out.append({"name": case.get("name"), "outcome": outcome, "seconds": float(case.get("time") or 0),
                    "message": message})
    return out


def _step_workers(names: list[str], args, env: dict, folder: Path, steps: int, turns: bool, deadline: float) -> dict:
    """One step_worker per entry of `names` (setting names), started together, the cores shared by those that
    compile; {index: result or failure}."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    size, procs = sizes(args.tiny), []
    env = {**env, **compile_threads(sum(SETTINGS[n][2] for n in names))}
    for i, name in enumerate(names):
        cmd = python("benchmarks.gpu_check.step_worker", "--setting", name, "--device", args.device, "--steps", steps,
                     "--warmup", size["step_warmup"], "--index", i, "--count", len(names), "--sync-dir", folder,
                     "--wait", max(5.0, deadline - time.monotonic()), "--backend", args.backend,
                     "--out", folder / f"{i}.json", *(["--turns"] if turns else []),
                     *(["--flops"] if i == 0 and turns else []), *(["--tiny"] if args.tiny else []))
        procs.append(Proc(cmd, env, folder / f"{i}.log"))
    out = {}
    for i, proc in enumerate(procs):
        ended = proc.finish(deadline)
        path = folder / f"{i}.json"
        out[i] = json.loads(path.read_text()) if path.exists() else {"setting": names[i], "process": ended}
    return out


TOLERANCE = "mean loss over the last 50 steps within 3 standard errors of eager fp32's (its step-to-step spread there)"


def trains_the_same(losses: list[float], reference: list[float], window: int = 50) -> tuple[bool, str]:
    """Whether a setting's loss over its last `window` steps is within 3 standard errors of eager fp32's on the same
    batches (TOLERANCE), and by how much they differ."""
    if len(losses) < 2 or len(reference) < 2:
        return False, "no losses"
    a, b = losses[-window:], reference[-window:]
    se = statistics.stdev(b) / len(b) ** 0.5
    gap = statistics.fmean(a) - statistics.fmean(b)
    return abs(gap) <= 3 * se, f"last {len(a)} steps: mean {statistics.fmean(a):.4f} vs {statistics.fmean(b):.4f}"


def paper_step(args, env: dict, work: Path, alone_until: float, deadline: float) -> dict:
    """Each setting's images/s, timed one after another, and its losses against eager fp32 on the same seed; then
    the profile's setting in `copies` trainings side by side (the aggregate). A setting that does not train as eager
    fp32 does (TOLERANCE), or whose CUDA graphs did not replay, is marked and never the one chosen."""
    size, names = sizes(args.tiny), list(SETTINGS)
    t0 = time.monotonic()
    alone = _step_workers(names, args, env, work / "step_alone", size["step_steps"], True, alone_until)
    ref = alone[0].get("losses") or []
    settings = {}
    for i, name in enumerate(names):
        r = alone[i]
        if "images_per_s" in r:
            r["same"], r["same_why"] = trains_the_same(r["losses"], ref)
            r["first_losses"] = [round(v, 4) for v in r["losses"][:: max(1, len(r["losses"]) // 8)]]
        settings[name] = {k: v for k, v in r.items() if k != "losses"}
    together = _step_workers([PAPER_SETTING] * size["copies"], args, env, work / "step_together",
                             size["step_steps"], False, deadline)
    rates = [r.get("images_per_s") for r in together.values()]
    usable = [n for n in names if settings[n].get("images_per_s") and settings[n].get("same")
              and (settings[n].get("graphs") or {}).get("replayed", True)]
    best = max(usable, key=lambda n: settings[n]["images_per_s"], default=None)
    result = {"settings": settings, "best": best, "tolerance": TOLERANCE, "flops_per_image": alone[0].get("flops_per_image"),
              "matmul_bf16_tflops": alone[0].get("matmul_bf16_tflops"), "copies": len(rates),
              "together_images_per_s": sum(r for r in rates if r) if all(rates) else None,
              "goal_one": GOAL_ONE, "goal_together": GOAL_TOGETHER, "seconds": round(time.monotonic() - t0, 1)}
    result["ok"] = all(s.get("images_per_s") for s in settings.values()) and result["together_images_per_s"] is not None
    return result


def celeba_epoch(labels: tuple[str, ...], seed: int = 0) -> int:
    """Images in one paper-profile CelebA training epoch for `labels`: the rows the trainer reads
    (jdvae.data.splits.celeba_rows with the paper profile's data settings), on labels drawn at CelebA's attribute
    frequencies, independently (the GPU machine has no CelebA)."""
    import numpy as np

    from jdvae.config import profile
    from jdvae.data.splits import celeba_rows
    rng = np.random.default_rng(seed)
    drawn = np.stack([rng.random(CELEBA_TRAIN) < CELEBA_PREVALENCE[name] for name in labels], axis=1)
    return len(celeba_rows(profile("paper").data, drawn, "train"))


def projection(step: dict) -> dict:
    """The CelebA paper study's duration at the measured rates: eight trainings of 200 balanced epochs each."""
    epochs = {"+".join(labels): celeba_epoch(labels) for labels in set(STUDY_LABELS)}
    images = sum(PAPER_EPOCHS * epochs["+".join(labels)] for labels in STUDY_LABELS)
    one = (step.get("settings", {}).get(PAPER_SETTING) or {}).get("images_per_s")
    together = step.get("together_images_per_s")
    return {"epoch_images": epochs, "study_images": images,
            "one_training_hours": PAPER_EPOCHS * epochs["glasses"] / one / 3600 if one else None,
            "in_turn_hours": images / one / 3600 if one else None,
            "side_by_side_hours": images / together / 3600 if together else None, "goal_hours": 2.0,
            "ok": bool(one and together)}


def product_study(args, env: dict, work: Path, deadline: float) -> dict:
    """`jdvae reproduce` from an empty runs folder to claims.md and the figures, through the notebooks; when its
    time ends first, what it got done: each run's steps, the outputs written."""
    size = sizes(args.tiny)
    runs, figures = work / "study_runs", work / "study_figures"
    shutil.rmtree(runs, ignore_errors=True), shutil.rmtree(figures, ignore_errors=True)
    cmd = python("jdvae", "reproduce", "--profile", size["study_profile"], "--device", args.device, "--runs", runs,
                 "--figures", figures, *[a for s in size["study_sets"] for a in ("--set", s)])
    result = run(cmd, env, work / "study.log", deadline)
    outputs = _outputs(figures)
    return {**result, **outputs, "runs": _progress(runs), "minutes": round(result["seconds"] / 60, 2),
            "ok": result["rc"] == 0 and outputs["ok"], "command": " ".join(map(str, cmd[2:]))}


def _progress(runs: Path) -> dict:
    """{run: steps reached (its metrics.csv's last row), and whether it finished} of a study's runs folder."""
    out = {}
    for cfg in sorted(runs.glob("*/config.json")):
        rows = _curve(cfg.parent / "metrics.csv")
        out[cfg.parent.name] = {"steps": int(rows[-1]["step"]) if rows else 0, "done": (cfg.parent / "done.json").exists()}
    return out


def _outputs(figures: Path) -> dict:
    """What a reproduce wrote: its outputs, the claims table, the validity gates of Table 1's rows."""
    wanted = ("claims.md", "table1.md", "metrics.json", "fig2.png", "fig3.png", "data_samples.png", "explore_panel.png")
    missing = [n for n in wanted if not (figures / n).exists()]
    claims = (figures / "claims.md").read_text() if (figures / "claims.md").exists() else ""
    rows = [line for line in claims.splitlines() if line.startswith("| ") and not line.startswith("| claim")]
    out = {"missing": missing, "claims": rows, "figures": str(figures)}
    out["ok"] = not missing
    return out


def learning(args, env: dict, work: Path, deadline: float, data: Proc | None = None) -> dict:
    """PA1 and M2 at the paper profile's settings on SynthFaces-128, side by side until LEARN_READ_S before
    `deadline`; then, always, the steps they reached read on validation pairs by the quick judge (32 px) and
    Fig. 2's swaps drawn from them."""
    size, t0 = sizes(args.tiny), time.monotonic()
    runs = work / "learn_runs"
    shutil.rmtree(runs, ignore_errors=True)
    rendered = data.finish(deadline - size["learn_read"] - 60) if data is not None else None
    seconds = max(5.0, deadline - size["learn_read"] - time.monotonic() - (5 if args.tiny else 30))  # 30: start-up
    seconds = min(seconds, size["learn_seconds"] or seconds)
    trainings = {"PA1": (runs, {}), "M2": (runs, {})}
    if args.faster_lr:  # PA1 at a faster lr beside them, judged on validation pairs only
        trainings["PA1 faster"] = (work / "learn_runs_faster", {"train.lr": args.faster_lr})
        shutil.rmtree(trainings["PA1 faster"][0], ignore_errors=True)
    procs = {}
    env = {**env, **compile_threads(len(trainings) + 4)}  # beside the study's and the CelebA command's
    for name, (folder, sets) in trainings.items():
        cmd = python("benchmarks.gpu_check.learn_worker", "train", name.split()[0], folder, "--seconds", round(seconds),
                     "--device", args.device, *(["--tiny"] if args.tiny else []),
                     *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")])
        procs[name] = Proc(cmd, env, work / f"learn_{name.replace(' ', '_')}.log")
    ended = {n: p.finish(deadline - size["learn_read"]) for n, p in procs.items()}
    result = {"seconds_asked": round(seconds), "data": rendered, "processes": ended, "quick_images": QUICK_IMAGES, "rows": {},
              "curves": {n: _curve(f / "training" / f"{n.split()[0]}-glasses-s0" / "metrics.csv")
                         for n, (f, _) in trainings.items()}}
    for folder in dict.fromkeys(f for f, _ in trainings.values()):
        read = run(python("benchmarks.gpu_check.learn_worker", "read", folder, folder / "read.json", "--device",
                          args.device, *(["--tiny"] if args.tiny else [])), env, work / f"{folder.name}_read.log",
                   deadline)
        got = json.loads((folder / "read.json").read_text()) if (folder / "read.json").exists() else {}
        faster = f" (lr {args.faster_lr})" if folder != runs else ""
        result["rows"].update({m + faster: r for m, r in got.items()} or {folder.name: {"read": read}})
    result["grid"] = run(python("benchmarks.gpu_check.learn_worker", "grid", runs, work / "gpu_swaps.png",
                                "--device", args.device), env, work / "learn_grid.log", deadline)
    result["ok"] = all("r_plus" in r for r in result["rows"].values()) and result["grid"]["rc"] == 0
    result["seconds"] = round(time.monotonic() - t0, 1)
    return result


def _curve(path: Path) -> list[dict]:
    """The epochs of a run's metrics.csv: step, loss, validation reconstruction error and balanced accuracy."""
    if not path.exists():
        return []
    with open(path) as fh:
        return [{k: float(r[k]) for k in ("step", "loss", "val_recon", "val_bca", "images_per_s") if r.get(k)}
                for r in csv.DictReader(fh)]


def celeba(args, env: dict, work: Path, deadline: float) -> dict:
    """The user's CelebA command on a CelebA-layout tree written from SynthFaces (178x218 JPEGs), to claims.md;
    two jobs at a time and a few steps each, beside the study and the learning run."""
    size, t0 = sizes(args.tiny), time.monotonic()
    tree, runs, figures = work / "celeba_tree", work / "celeba_runs", work / "celeba_figures"
    for folder in (tree, runs, figures):
        shutil.rmtree(folder, ignore_errors=True)
    made = run(python("jdvae", "synth", "--celeba-layout", tree, "--size", 128, "--splits", size["celeba_splits"]),
               env, work / "celeba_synth.log", deadline)
    if made["rc"] != 0:
        return {"synth": made, "ok": False, "seconds": round(time.monotonic() - t0, 1)}
    cmd = python("jdvae", "reproduce", "--profile", size["celeba_profile"], "--data", "celeba", "--celeba-root", tree,
                 "--device", args.device, "--set", f"train.max_steps={size['celeba_steps']}", "--jobs", 2,
                 "--runs", runs, "--figures", figures)
    result = run(cmd, {**env, **compile_threads(2 + 4)}, work / "celeba.log", deadline)
    outputs = _outputs(figures)
    return {"synth": made, **result, **outputs, "runs": _progress(runs), "ok": result["rc"] == 0 and outputs["ok"],
            "command": " ".join(map(str, cmd[2:])), "seconds": round(time.monotonic() - t0, 1)}
