"""The check's report as markdown (docs/gpu.md), from the JSON it keeps beside it."""
from __future__ import annotations

from benchmarks.gpu_check.sizes import PAPER_SETTING

TITLES = {"tests": "CUDA tests", "step": "Paper step per setting", "projection": "CelebA paper study, projected",
          "study": "Quick study through `jdvae reproduce`", "learn": "The 128-px network learning",
          "celeba": "The user's CelebA command"}


def _f(value, digits: int = 1, unit: str = "") -> str:
    return "" if value is None or value == "" else f"{float(value):,.{digits}f}{unit}"


def _verdict(d: dict) -> str:
    if not d.get("complete"):
        return "INCOMPLETE (the check stopped before its end)" + (f"; failing so far: {', '.join(d['failed'])}"
                                                                  if d["failed"] else "")
    return "all sections pass" if d["ok"] else "FAILED: " + ", ".join(d["failed"])


def _process(p: dict | None) -> str:
    if not p:
        return "not run"
    return f"rc {p['rc']}{', TIMED OUT' if p['timed_out'] else ''}, {p['seconds']:.0f} s"


def header(d: dict) -> list[str]:
    m = d.get("machine", {})
    plan = ", ".join(f"{k} {v} s" for k, v in d.get("plan", {}).items())
    setup = d.get("setup") or {}
    lines = ["# GPU check", "", f"Written by `python3 -m benchmarks.gpu_check{' ' + ' '.join(d['argv']) if d['argv'] else ''}`"
             f" in {d['wall_seconds']:.0f} s of a {d.get('budget_s') or 0:.0f}-s budget; verdict: **{_verdict(d)}**.", "",
             f"A device call runs `{d.get('device_command')}` with carry `.whl` and timeout_s {d.get('device_timeout_s')}. "
             f"Planned seconds on one H200 (benchmarks/gpu_check/sizes.py): {plan}.",
             f"Setup: {setup.get('installed', 0)} wheels installed offline from `{setup.get('wheels')}` in "
             f"{_f(setup.get('seconds'), 1)} s." if setup.get("wheels") else "Setup: no wheels asked for.", "",
             "| section | cost s | ok |", "|---|---|---|"]
    for name in d["sections"]:
        s = d.get(name) or {}
        lines.append(f"| {TITLES[name]} | {_f(s.get('seconds'), 0)} | {'yes' if s.get('ok') else 'NO'} |")
    lines += ["", "## Machine", "", "| | |", "|---|---|"]
    rows = [("GPU", m.get("gpu", "none (CPU run)")), ("GPUs visible", m.get("gpus")), ("compute capability",
            m.get("capability")), ("GPU memory", m.get("gpu_memory_gib") and f"{m['gpu_memory_gib']} GiB"),
            ("torch", m.get("torch")), ("CUDA (torch build)", m.get("cuda")), ("cuDNN", m.get("cudnn")),
            ("Python", m.get("python")), ("CPU", f"{m.get('cpu')}, {m.get('cpu_cores')} cores"),
            ("train.precision = auto", m.get("precision_auto")),
            ("modules missing", ", ".join(m.get("missing_modules", [])) or "none")]
    return lines + [f"| {k} | {v} |" for k, v in rows if v is not None]


def tests(t: dict) -> list[str]:
    lines = [f"`pytest -m cuda tests/test_gpu_cuda.py`{' -k ' + repr(t['subset']) if t.get('subset') else ''}: "
             f"{t.get('passed', 0)} passed, {t.get('failed', 0)} failed, {t.get('skipped', 0)} skipped ({_process(t)}).",
             "", "| test | outcome | s | message |", "|---|---|---|---|"]
    lines += [f"| {c['name']} | {c['outcome']} | {c['seconds']:.1f} | {c['message'].replace('|', '/')} |"
              for c in t.get("tests", [])]
    return lines


def step(s: dict, peak: dict) -> list[str]:
    flops = s.get("flops_per_image")
    lines = [f"PA1 at the paper profile's size, batch 32, on SynthFaces; each setting warmed up, set back to the same "
             f"weights and seed, then timed alone; {_f(flops and flops / 1e9, 2)} GFLOP per training image; FLOP rate "
             f"against {peak.get('name')} = {peak.get('tflops', 0):.0f} TFLOP/s"
             + (f", measured bf16 8192³ matmul {s['matmul_bf16_tflops']:.0f} TFLOP/s" if s.get("matmul_bf16_tflops")
                else "") + f". Goal: one training ≥ {s['goal_one']:,} images/s.", "",
             f"Trains as eager fp32: {s.get('tolerance')}. A setting that does not, or whose CUDA graphs did not "
             f"replay, is never the one chosen.", "",
             "| setting | images/s | step ms | warm-up s | peak GiB | TFLOP/s | share of peak | trains as eager fp32 | "
             "CUDA graphs | losses (every 1/8 of the steps) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in s["settings"].items():
        if not r.get("images_per_s"):
            lines.append(f"| {name} | failed: {_process(r.get('process'))} {r.get('process', {}).get('tail', '')[-200:]}"
                         .replace("\n", " ") + " | | | | | | | |")
            continue
        tf = flops * r["images_per_s"] / 1e12 if flops else None
        lines.append(f"| {name} | {_f(r['images_per_s'])} | {_f(r['step_ms'])} | {_f(r['warmup_seconds'])} | "
                     f"{_f(r.get('peak_memory_gib'), 2)} | {_f(tf)} | {_f(tf and 100 * tf / peak['tflops'], 2, ' %')} | "
                     f"{'yes' if r.get('same') else 'NO'} ({r.get('same_why')}) | {_graphs(r.get('graphs'))} | "
                     f"{', '.join(f'{v:.3f}' for v in r.get('first_losses', []))} |")
    together = s.get("together_images_per_s")
    lines += ["", f"Fastest alone: **{s.get('best')}**. Side by side, {s['copies']} trainings in `{PAPER_SETTING}`: "
                  f"**{_f(together, 0)} images/s** together (goal ≥ {s['goal_together']:,})."]
    return lines


def _graphs(g: dict | None) -> str:
    if not g:
        return ""
    if g.get("replays") is None:
        return "not on this device"
    return f"{'replayed' if g['replayed'] else 'NOT replayed'}: {g['replays']} replays in {g['steps']} steps, " \
           f"{g['skips']} skipped"


def projection(p: dict) -> list[str]:
    epochs = ", ".join(f"{k}: {v:,}" for k, v in p["epoch_images"].items())
    return [f"An epoch is the rows the paper profile trains on (jdvae.data.splits.celeba_rows: every positive and a "
            f"seeded 20 % of the others, as the authors' code), at CelebA's attribute frequencies: {epochs} images. The study's eight trainings "
            f"of 200 epochs: {p['study_images']:,} images.", "",
            f"- one glasses training at `{PAPER_SETTING}` alone: {_f(p['one_training_hours'], 2, ' h')}",
            f"- the study one training after another: {_f(p['in_turn_hours'], 2, ' h')}",
            f"- the study side by side at the measured aggregate: **{_f(p['side_by_side_hours'], 2, ' h')}** "
            f"(goal ≤ {p['goal_hours']:g} h)"]


def reproduce(s: dict) -> list[str]:
    minutes = f" ({s['minutes']:.1f} min)" if s.get("minutes") else ""
    lines = [f"`{s.get('command', '')}`: {_process(s)}{minutes}; outputs "
             + ("all written" if not s.get("missing") else "MISSING " + ", ".join(s["missing"])) + "."]
    runs = s.get("runs") or {}
    if runs:
        lines += ["", "Runs: " + ", ".join(f"{k} {v['steps']} steps{'' if v['done'] else ' (unfinished)'}"
                                          for k, v in runs.items()) + "."]
    if s.get("claims"):
        lines += ["", "claims.md:", "", "| claim | ... |", "|---|---|"] + s["claims"]
    if s.get("rc"):
        lines += ["", "```", s.get("tail", "")[-800:], "```"]
    return lines


def learn(s: dict) -> list[str]:
    lines = [f"PA1 and M2 at the paper profile's settings (lr 1e-4, batch 32, 128 px, full widths, the lr constant as "
             f"in a 200-epoch run's first 35 %), side by side for {s.get('seconds_asked')} s each; then read on "
             f"validation pairs by the quick judge on the images downscaled to 32 px. The quick profile's gates needed "
             f"{s['quick_images']:,} images at 32 px. "
             + "; ".join(f"{k} {_process(v)}" for k, v in s.get("processes", {}).items()) + ".", "",
             "| model | steps | images | R(+) % | R(-) % | SR(+) % | SR(-) % | judge on the real faces % | pairs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for model, r in (s.get("rows") or {}).items():
        lines.append(f"| {model} | {r.get('steps', '')} | {_f(r.get('images'), 0)} | {_f(r.get('r_plus'))} | "
                     f"{_f(r.get('r_minus'))} | {_f(r.get('sr_plus'))} | {_f(r.get('sr_minus'))} | "
                     f"{_f(r.get('judge_on_real'))} | {r.get('pairs', '')} |")
    lines += ["", "| model | step | loss | val recon | val BCA | images/s |", "|---|---|---|---|---|---|"]
    for model, rows in s.get("curves", {}).items():
        lines += [f"| {model} | {r.get('step', 0):.0f} | {_f(r.get('loss'), 4)} | {_f(r.get('val_recon'), 4)} | "
                  f"{_f(r.get('val_bca'), 3)} | {_f(r.get('images_per_s'), 0)} |" for r in rows]
    if (s.get("grid") or {}).get("rc") == 0:
        lines += ["", "Swaps of validation pairs, as Fig. 2: `gpu_swaps.png`."]
    return lines


def to_markdown(d: dict) -> str:
    lines = header(d)
    peak = d.get("machine", {}).get("peak", {})
    draw = {"tests": tests, "step": lambda s: step(s, peak), "projection": projection, "study": reproduce,
            "learn": learn, "celeba": reproduce}
    for name in d["sections"]:
        s = d.get(name)
        lines += ["", f"## {TITLES[name]}", ""]
        if name in d["errors"]:
            lines.append(f"Section raised: {d['errors'][name]}")
        elif not s:
            lines.append("not run yet")
        else:
            try:
                lines += draw[name](s)
            except (KeyError, TypeError, ValueError) as e:  # a half-filled section still shows what it has
                lines.append(f"(incomplete: {type(e).__name__} {e})")
    return "\n".join(lines) + "\n"
