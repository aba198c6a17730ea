"""The check's sections. Each returns a dict for the report, with `ok` and what it cost (`seconds`)."""
from __future__ import annotations

import csv
import json
import shutil
import statistics
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from benchmarks.gpu_check.common import ROOT, Proc, python, run
from benchmarks.gpu_check.sizes import GOAL_ONE, GOAL_TOGETHER, PAPER_SETTING, QUICK_IMAGES, SETTINGS, paper_overrides, sizes

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
    """One step_worker per entry of `names` (setting names), started together; {index: result or failure}."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    size, procs = sizes(args.tiny), []
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


def trains_the_same(losses: list[float], reference: list[float], window: int = 50) -> tuple[bool, str]:
    """Whether a setting's loss over its last `window` steps is within 3 standard errors of eager fp32's (the
    reference's step-to-step spread there), and by how much they differ."""
    if len(losses) < 2 or len(reference) < 2:
        return False, "no losses"
    a, b = losses[-window:], reference[-window:]
    se = statistics.stdev(b) / len(b) ** 0.5
    gap = statistics.fmean(a) - statistics.fmean(b)
    return abs(gap) <= 3 * se, f"last {len(a)} steps: mean {statistics.fmean(a):.4f} vs {statistics.fmean(b):.4f}"


def paper_step(args, env: dict, work: Path, deadline: float) -> dict:
    """Each setting's images/s, timed one after another, and its losses against eager fp32 on the same seed; then
    the profile's setting in `copies` trainings side by side (the aggregate)."""
    size, names = sizes(args.tiny), list(SETTINGS)
    t0 = time.monotonic()
    alone = _step_workers(names, args, env, work / "step_alone", size["step_steps"], True,
                          t0 + (deadline - t0) * 0.65)
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
    best = max((n for n in names if settings[n].get("images_per_s")), key=lambda n: settings[n]["images_per_s"],
               default=None)
    result = {"settings": settings, "best": best, "flops_per_image": alone[0].get("flops_per_image"),
              "matmul_bf16_tflops": alone[0].get("matmul_bf16_tflops"), "copies": len(rates),
              "together_images_per_s": sum(r for r in rates if r) if all(rates) else None,
              "goal_one": GOAL_ONE, "goal_together": GOAL_TOGETHER, "seconds": round(time.monotonic() - t0, 1)}
    result["ok"] = all(s.get("images_per_s") for s in settings.values()) and result["together_images_per_s"] is not None
    return result


def celeba_epoch(labels: tuple[str, ...], seed: int = 0) -> int:
    """Images in one balanced CelebA training epoch for `labels` (jdvae.data.celeba.balance on labels drawn at
    CelebA's attribute frequencies, independently)."""
    import numpy as np

    from jdvae.data.celeba import balance
    rng = np.random.default_rng(seed)
    drawn = np.stack([rng.random(CELEBA_TRAIN) < CELEBA_PREVALENCE[name] for name in labels], axis=1)
    return len(balance(drawn, seed, "train"))


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
    """`jdvae reproduce` from an empty runs folder to claims.md and the figures, through the notebooks."""
    size = sizes(args.tiny)
    runs, figures = work / "study_runs", work / "study_figures"
    shutil.rmtree(runs, ignore_errors=True), shutil.rmtree(figures, ignore_errors=True)
    cmd = python("jdvae", "reproduce", "--profile", size["study_profile"], "--device", args.device, "--runs", runs,
                 "--figures", figures, *[a for s in size["study_sets"] for a in ("--set", s)])
    result = run(cmd, env, work / "study.log", deadline)
    outputs = _outputs(figures)
    return {**result, **outputs, "ok": result["rc"] == 0 and outputs["ok"], "command": " ".join(map(str, cmd[2:]))}


def _outputs(figures: Path) -> dict:
    """What a reproduce wrote: its outputs, the claims table, the validity gates of Table 1's rows."""
    wanted = ("claims.md", "table1.md", "metrics.json", "fig2.png", "fig3.png", "data_samples.png", "explore_panel.png")
    missing = [n for n in wanted if not (figures / n).exists()]
    claims = (figures / "claims.md").read_text() if (figures / "claims.md").exists() else ""
    rows = [line for line in claims.splitlines() if line.startswith("| ") and not line.startswith("| claim")]
    out = {"missing": missing, "claims": rows, "figures": str(figures)}
    out["ok"] = not missing
    return out


def learning(args, env: dict, work: Path, deadline: float, step: dict) -> dict:
    """PA1 and M2 at the paper profile's settings, side by side for about `learn_seconds`, then their validation
    measures (jdvae evaluate --split val, with a judge trained beside them) and Fig. 2's swaps."""
    size, t0 = sizes(args.tiny), time.monotonic()
    runs = work / "learn_runs"
    shutil.rmtree(runs, ignore_errors=True)
    rate = (step.get("settings", {}).get(PAPER_SETTING) or {}).get("images_per_s")
    # two trainings beside the study and the CelebA command: a quarter of the rate alone each, so that they end
    steps = 4 if args.tiny else int(size["learn_seconds"] * (rate or 700) / 32 / 4)
    sets = {**paper_overrides(args.tiny, size["learn_train"]), "train.max_steps": steps, "train.epochs": 1000,
            # the first minutes of a 200-epoch run all come before its lr drop at 35 %
            "train.lr_drop_at": 1.0}
    procs = [Proc(python("benchmarks.gpu_check.learn_worker", "judge", runs / "judge", "--device", args.device,
                         *(["--tiny"] if args.tiny else [])), env, work / "learn_judge.log")]
    trainings = {"PA1": (runs, sets), "M2": (runs, sets)}
    if args.faster_lr:  # PA1 at a faster lr beside them, judged on validation pairs only
        trainings["PA1 faster"] = (work / "learn_runs_faster", {**sets, "train.lr": args.faster_lr})
        shutil.rmtree(trainings["PA1 faster"][0], ignore_errors=True)
    for name, (folder, changes) in trainings.items():
        model = name.split()[0]
        cmd = python("jdvae", "train", "--model", model, "--profile", "paper", "--device", args.device, "--quiet",
                     "--out", folder / f"{model}-glasses-s0", *[a for k, v in changes.items() for a in ("--set", f"{k}={v}")])
        procs.append(Proc(cmd, env, work / f"learn_{name.replace(' ', '_')}.log"))
    eval_reserve = 15 if args.tiny else 60
    ended = [p.finish(deadline - eval_reserve) for p in procs]
    result = {"steps": steps, "images": steps * 32, "settings": sets, "quick_images": QUICK_IMAGES,
              "processes": {n: e for n, e in zip(["judge", *trainings], ended)},
              "train_seconds": round(time.monotonic() - t0, 1)}
    result["curves"] = {n: _curve(f / f"{n.split()[0]}-glasses-s0" / "metrics.csv") for n, (f, _) in trainings.items()}
    if any(e["rc"] != 0 for e in ended):
        return {**result, "ok": False, "seconds": round(time.monotonic() - t0, 1)}
    result["rows"] = []
    for folder in dict.fromkeys(f for f, _ in trainings.values()):
        table = work / f"{folder.name}_table"
        result[f"evaluation {folder.name}"] = run(
            python("jdvae", "evaluate", "--runs", folder, "--out", table, "--judge", runs / "judge", "--device",
                   args.device, "--split", "val", "--workers", "2", "--no-progress"), env, work / f"{table.name}.log",
            deadline)
        faster = " (lr {})".format(args.faster_lr) if folder != runs else ""
        result["rows"] += [{**r, "model": r["model"] + faster} for r in _rows(table / "table1.csv")]
    result["grid"] = run(python("benchmarks.gpu_check.learn_worker", "grid", runs, work / "gpu_swaps.png",
                                "--device", args.device), env, work / "learn_grid.log", deadline)
    result["ok"] = bool(result["rows"]) and result["grid"]["rc"] == 0
    result["seconds"] = round(time.monotonic() - t0, 1)
    return result


def _curve(path: Path) -> list[dict]:
    """The epochs of a run's metrics.csv: step, loss, validation reconstruction error and balanced accuracy."""
    if not path.exists():
        return []
    with open(path) as fh:
        return [{k: float(r[k]) for k in ("step", "loss", "val_recon", "val_bca", "images_per_s") if r.get(k)}
                for r in csv.DictReader(fh)]


def _rows(table: Path) -> list[dict]:
    """Table 1's rows as the evaluation wrote them (only the measures the report shows)."""
    if not table.exists():
        return []
    keep = ("model", "label", "sr_minus", "sr_plus", "r_plus", "r_minus", "bca", "donor_match", "region_add_mse",
            "region_add_closed", "region_remove_mse", "region_remove_closed", "recon_mse")
    with open(table) as fh:
        return [{k: r[k] for k in keep if k in r} for r in csv.DictReader(fh)]


def celeba(args, env: dict, work: Path, deadline: float) -> dict:
    """The user's CelebA command on a CelebA-layout tree written from SynthFaces (178x218 JPEGs), to claims.md."""
    size, t0 = sizes(args.tiny), time.monotonic()
    tree, runs, figures = work / "celeba_tree", work / "celeba_runs", work / "celeba_figures"
    for folder in (tree, runs, figures):
        shutil.rmtree(folder, ignore_errors=True)
    made = run(python("jdvae", "synth", "--celeba-layout", tree, "--size", 128, "--splits", size["celeba_splits"]),
               env, work / "celeba_synth.log", deadline)
    if made["rc"] != 0:
        return {"synth": made, "ok": False, "seconds": round(time.monotonic() - t0, 1)}
    cmd = python("jdvae", "reproduce", "--profile", size["celeba_profile"], "--data", "celeba", "--celeba-root", tree,
                 "--device", args.device, "--set", f"train.max_steps={size['celeba_steps']}", "--runs", runs,
                 "--figures", figures)
    result = run(cmd, env, work / "celeba.log", deadline)
    outputs = _outputs(figures)
    return {"synth": made, **result, **outputs, "ok": result["rc"] == 0 and outputs["ok"],
            "command": " ".join(map(str, cmd[2:])), "seconds": round(time.monotonic() - t0, 1)}
