"""The paper's own numbers (Table 1 and section 3's text), written once: Table 1 prints them beside ours and
claims.md quotes them through the helpers below."""
from __future__ import annotations

from typing import Iterable

# Paper, Table 1 (CelebA 128 px, glasses, supervision 0.2): SR(-) %, SR(+) %, LPIPS, BCA %.
PAPER = {
    "CCVAE": {"sr_minus": 99.38, "sr_plus": 19.37, "lpips": 0.4414, "bca": 95.45},
    "CCVAE2": {"sr_minus": 95.52, "sr_plus": 47.68, "lpips": 0.2549, "bca": 94.26},
    "M2": {"sr_minus": 80.34, "sr_plus": 33.03, "lpips": 0.2564, "bca": 96.13},
    "PA1": {"sr_minus": 96.31, "sr_plus": 59.85, "lpips": 0.2484, "bca": 96.55},
    "PA2": {"sr_minus": 94.98, "sr_plus": 64.25, "lpips": 0.2416, "bca": 97.09},
    "PA1 (no AdaIN)": {"lpips": 0.3059},  # paper section 3, text
    "PA1 (no tokens)": {"sr_plus": 47.23},
}


def listed(models: Iterable[str], metric: str) -> str:
    """"PA1 59.85, PA2 64.25": each model's number in the paper."""
    return ", ".join(f"{m} {PAPER[m][metric]:.2f}" for m in models)


def span(models: Iterable[str], metric: str) -> str:
    """"94.26 to 97.09": the lowest and highest of the models' numbers in the paper."""
    values = [PAPER[m][metric] for m in models]
    return f"{min(values):.2f} to {max(values):.2f}"


def change(before: str, after: str, metric: str) -> str:
    """"59.85 % → 47.23 %": a rate of the paper from one model to another."""
    return f"{PAPER[before][metric]:.2f} % → {PAPER[after][metric]:.2f} %"


def lpips_change(before: str, after: str) -> str:
    """"LPIPS 0.2484 → 0.3059 (ratio 1.23)"."""
    a, b = PAPER[before]["lpips"], PAPER[after]["lpips"]
    return f"LPIPS {a:.4f} → {b:.4f} (ratio {b / a:.2f})"


def lpips_worse_than(model: str, others: Iterable[str]) -> str:
    """"LPIPS 0.4414 vs 0.2416 to 0.2564 (ratio 1.72)": one model against the range of the others."""
    values = [PAPER[m]["lpips"] for m in others]
    mine = PAPER[model]["lpips"]
    return f"LPIPS {mine:.4f} vs {min(values):.4f} to {max(values):.4f} (ratio {mine / max(values):.2f})"
