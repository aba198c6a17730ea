"""Table 1 of the paper from a folder of trained runs: table1.csv, table1.md and metrics.json.

Every complete run folder (config.json + model.safetensors + done.json) is evaluated
with every judge of the study (judge/, judge-s1/: seeds 0 and 1); each judged rate is the mean
over the judges, and each judge's own table is kept for claims.md. Runs that differ only by their
training seed form one row (mean ± std).
Rows: the five models, the PA1 ablations "PA1 (no AdaIN)" / "PA1 (no tokens)", and a
separate section for multi-label runs (glasses + beard). SR and the donor match are shown with
their 95 % intervals (three-level bootstrap over seeds, judges and pairs, gates.py) beside the validity
rates R(+) / R(−); on SynthFaces also the label-region errors (glasses and beard) and the judge's
read of the true counterfactuals.
The per-pair outcomes behind every interval go to outcomes.npz (outcomes.py), for claims.md.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict

from jdvae.config import RunConfig, diff
from jdvae.report import gates, outcomes
from jdvae.report.paper import PAPER
from jdvae.report.stats import mean_std

ROW_ORDER = ("CCVAE", "CCVAE2", "M2", "PA1", "PA2", "PA1 (no AdaIN)", "PA1 (no tokens)")
MAIN = ("sr_minus", "sr_plus", "lpips", "bca")
VALIDITY = ("r_plus", "r_minus")
REGION = ("region_add_mse", "region_add_closed", "donor_match", "donor_scored", "region_remove_mse",
          "region_remove_closed", "truth_add_read", "truth_remove_read")
PAIR_SE = ("region_add_closed_se", "region_remove_closed_se")  # per-pair standard errors, read by gates.py
TRANSFER = ("transfer_shape_acc", "transfer_colour_mae", "transfer_tint_mae",
            "transfer_ref_shape_acc", "transfer_ref_colour_mae", "transfer_ref_tint_mae")
SYNTH = ("cf_add_mse", "cf_add_ssim", "cf_remove_mse", "cf_remove_ssim", "recon_mse", "recon_ssim",
         *TRANSFER, "r2_u", "r2_z")
METRICS = MAIN + VALIDITY + SYNTH + REGION + PAIR_SE
INTERVALS = ("sr_minus", "sr_plus", "donor_match")  # shown as estimate [95 % interval]
HEADERS = {"sr_minus": "SR(−) %", "sr_plus": "SR(+) %", "lpips": "LPIPS", "bca": "BCA %",
           "cf_add_mse": "add MSE", "cf_add_ssim": "add SSIM", "cf_remove_mse": "remove MSE",
           "cf_remove_ssim": "remove SSIM", "recon_mse": "recon MSE", "recon_ssim": "recon SSIM",
           "transfer_shape_acc": "shape acc %", "transfer_colour_mae": "colour MAE", "transfer_tint_mae": "tint MAE",
           "transfer_ref_shape_acc": "ref shape acc %", "transfer_ref_colour_mae": "ref colour MAE",
           "transfer_ref_tint_mae": "ref tint MAE", "r2_u": "R² from μ_u", "r2_z": "R² from μ_z",
           "r_plus": "R(+) %", "r_minus": "R(−) %", "region_add_mse": "region add MSE",
           "region_add_closed": "add closed", "region_remove_mse": "region remove MSE",
           "region_remove_closed": "remove closed", "truth_add_read": "truth add read %",
           "truth_remove_read": "truth remove read %", "donor_match": "donor's colour %",
           "donor_scored": "donor pairs scored"}
UNITS = {"sr_minus": "percent", "sr_plus": "percent", "bca": "percent", "lpips": "LPIPS distance (AlexNet, v0.1)",
         "cf_*_mse / recon_mse": "mean squared error of images in [-1, 1]", "*_ssim": "SSIM in [-1, 1], data range 1",
         "transfer_shape_acc": "percent", "transfer_*_mae": "mean absolute error in [0, 1] units",
         "r2_*": "coefficient of determination of a ridge probe",
         "r_plus / r_minus / truth_*_read": "percent of pairs the judge reads right",
         "region_*_mse": "mean squared error inside the dilated label mask of the true counterfactual",
         "region_*_closed": "1 − region error of the swap / region error of the plain reconstruction",
         "donor_match": "percent of additions whose colour where the label goes is nearer the donor's than another "
                        "donor's (chance 50), over the pairs scored (donor_scored: those whose two donors differ)",
         "*_ci_lo / _hi": "95 % interval: three-level bootstrap over seeds, judges and pairs, containing the Wilson "
                          "interval of the pooled count",
         "rate@jJ": "the rate as judge J alone reads it (rows_by_judge: every row so); the plain rate is the mean "
                    "over the judges",
         "outcomes_file": "per-pair outcomes (npz; names in jdvae/report/outcomes.py), run i under runs[i].outcomes"}


def row_name(cfg: RunConfig) -> str:
    """The Table 1 row of a run: model name, with the PA1 ablations named as in the paper's text."""
    name = cfg.model.name
    if not cfg.model.adain:
        name += " (no AdaIN)"
    if not cfg.model.tokens:
        name += " (no tokens)"
    return name


def aggregate(results: list[dict], per_pair: dict | None = None, judge: int | None = None) -> list[dict]:
    """One row per (label set, model row, label): mean and std of every metric over seeds, and the intervals of
    INTERVALS from the per-pair outcomes (None without them); judged rates as judge `judge` alone reads them, or
    (None) as the mean over the judges."""
    store = outcomes.Outcomes({"runs": results}, per_pair, judge)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in results:
        groups[(tuple(r["labels"]), r["row"])].append(r)
    order = lambda k: (len(k[0]), k[0], ROW_ORDER.index(k[1]) if k[1] in ROW_ORDER else 99, k[1])  # noqa: E731
    rows = []
    for labels, name in sorted(groups, key=order):
        members = groups[(labels, name)]
        configs = [RunConfig.from_dict(r["config"]) for r in members]
        differ = sorted({d for c in configs[1:] for d in diff(configs[0], c) if not d.startswith("train.seed")})
        for label in labels:
            row = {"section": "+".join(labels), "model": name, "label": label, "seeds": len(members),
                   "runs": [r["run"] for r in members]}
            row["pairs"] = mean_std([r["metrics"].get(f"pairs/{label}") for r in members])[0]
            for metric in METRICS:
                judged = judge is not None and metric in outcomes.JUDGED and store.judges > 1
                key = "lpips" if metric == "lpips" else f"{metric}@j{judge}/{label}" if judged else f"{metric}/{label}"
                row[metric], row[f"{metric}_std"] = mean_std([r["metrics"].get(key) for r in members])
            for metric in INTERVALS:
                est = gates.interval(store, row["section"], label, name, metric)[0]
                row[f"{metric}_ci_lo"], row[f"{metric}_ci_hi"] = (None, None) if est is None else est[1:3]
            row["notes"] = sorted({f"{k}: {v}" for r in members for k, v in r["notes"].items()
                                   if k.endswith(f"/{label}")})  # LPIPS unavailability is stated once, globally
            row["notes"] += [f"runs averaged here differ beyond the seed: {d}" for d in differ]
            paper = PAPER.get(name, {}) if labels == ("glasses",) else {}
            for metric in MAIN:
                row[f"paper_{metric}"] = paper.get(metric)
            rows.append(row)
    return rows


def to_csv(rows: list[dict]) -> str:
    """The rows as CSV: every metric's mean and std, and the paper's value where it has one."""
    cols = ["section", "model", "label", "seeds", "pairs"] + [c for m in METRICS for c in (m, f"{m}_std")] \
        + [f"{m}_ci_{e}" for m in INTERVALS for e in ("lo", "hi")] + [f"paper_{m}" for m in MAIN] + ["notes"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "notes": " | ".join(row["notes"])})
    return buf.getvalue()


def _fmt(row: dict, metric: str) -> str:
    mean, std, n = row.get(metric), row.get(f"{metric}_std"), row["seeds"]
    if mean is None:
        return "unavailable" if metric == "lpips" else "n/a"
    if metric in INTERVALS and row.get(f"{metric}_ci_lo") is not None:  # several seeds: mean ± std [interval]
        spread = f" ± {std:.2f}" if n > 1 and std is not None else ""
        return f"{mean:.2f}{spread} [{row[f'{metric}_ci_lo']:.1f}, {row[f'{metric}_ci_hi']:.1f}]"
    if metric == "donor_scored":
        return f"{mean:.0f}" + (f" ± {std:.1f}" if n > 1 and std is not None else "")
    digits = 4 if any(k in metric for k in ("lpips", "mse", "ssim", "mae", "r2")) else \
        3 if "closed" in metric else 2
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if n > 1 and std is not None else "")


def _md_table(rows: list[dict], metrics: tuple[str, ...], paper: tuple[str, ...] = (),
              pairs: bool = False) -> list[str]:
    head = ["model", "seeds"] + (["pairs"] if pairs else []) + [HEADERS[m] for m in metrics]
    head += ["paper " + HEADERS[m] for m in paper]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"] + ("" if "+" not in r["section"] else f" [{r['label']}]"), str(r["seeds"])]
        cells += [("n/a" if r.get("pairs") is None else f"{r['pairs']:.0f}")] if pairs else []
        cells += [_fmt(r, m) for m in metrics]
        cells += ["" if r.get(f"paper_{m}") is None else str(r[f"paper_{m}"]) for m in paper]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def to_markdown(rows: list[dict], report: dict) -> str:
    """table1.md: ours beside the paper's values, then the SynthFaces-only measures and the notes."""
    judges = report.get("judges") or [report["judge"]]
    judge = judges[0]
    readable, why = gates.features_readable(judge["report"])
    synth = SYNTH if readable else tuple(m for m in SYNTH if m not in TRANSFER)
    several = len(judges) > 1
    read = "; ".join((f"seed {j['config'].get('seed', i)}: " if several else "") + ", ".join(
        f"{k} {100 * v:.2f} %" for k, v in j["report"].get("test_bca", {}).items() if v is not None)
        for i, j in enumerate(judges))
    lines = ["# Table 1 (reproduction)", "",
             f"{'Judges' if several else 'Judge'}: {judge['arch']} ({judge['report'].get('init', 'init unknown')})"
             + (f", {len(judges)} seeds; every rate they read (SR, R(±), truth read) is their mean" if several else "")
             + f"; test balanced accuracy {read}.",
             f"Pairs drawn with seed {report['pair_seed']}. SR and BCA in percent; LPIPS: AlexNet v0.1. "
             "Paper values: CelebA 128 px, supervision 0.2.",
             "SR and donor's colour [interval]: 95 % interval, bootstrap over the training seeds"
             + (", the judges" if several else "") + " and the pairs, containing the Wilson interval of the count "
             "over the pairs scored. R(+) / R(−): the plain reconstructions of the pair images with / without the "
             f"label that the judge reads as such; below {gates.MIN_RECON_READ:.0f} % the model's SR is not "
             "measurable (claims.md).", ""]
    if not report["lpips"]["available"]:
        lines += [f"LPIPS column left empty: {report['lpips']['reason']}", ""]
    for section in dict.fromkeys(r["section"] for r in rows):
        part = [r for r in rows if r["section"] == section]
        lines += [f"## Labels: {section}", ""]
        lines += _md_table(part, MAIN[:2] + VALIDITY + MAIN[2:], MAIN if section == "glasses" else (), True) + [""]
        if any(r.get(m) is not None for r in part for m in REGION):
            lines += ["SynthFaces only, inside the dilated mask of the label in the true counterfactual (removal: "
                      "where I_g's label was): MSE of the swap to the truth, and the share of the plain "
                      "reconstruction's error there that the swap closes (1: the truth, 0: no change); the donor "
                      "match (additions whose colour where the label goes is nearer the donor's than another "
                      "donor's, chance 50 %, over the pairs scored: those whose two donors differ there); the "
                      "judge's read of the true additions and removals. Glasses and beard alike.", ""]
            lines += _md_table(part, REGION) + [""]
        if any(r.get(m) is not None for r in part for m in SYNTH):
            lines += ["SynthFaces only: whole-image counterfactual error of swaps vs the true rendering (recon: "
                      "plain reconstruction vs original), "
                      + ("feature transfer read by the judge (ref: on the true counterfactual), " if readable else "")
                      + "leakage R² of a ridge probe of the glasses features.", ""]
            lines += _md_table(part, synth) + [""]
    if not any(r.get(m) is not None for r in rows for m in REGION + SYNTH if not m.startswith("recon")):
        source = report["runs"][0]["config"]["data"]["source"] if report["runs"] else "this"
        lines += [f"SynthFaces-only measures (counterfactual and region errors, the donor's colour, feature transfer, "
                  f"leakage) are absent: they compare each swap with its true counterfactual, which {source} data "
                  "does not have.", ""]
    notes = sorted({f"{r['model']} [{r['label']}]: {n}" for r in rows for n in r["notes"]})
    if not readable and any(r.get(m) is not None for r in rows for m in TRANSFER):
        notes.append(f"feature-transfer columns omitted (they stay in table1.csv): {why}")
    if notes or report["skipped"]:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes + report["skipped"]] + [""]
    return "\n".join(lines)
