"""`jdvae compare-judges`: every SR of one table of runs under two judges, and the largest gap."""
from __future__ import annotations

import argparse

from jdvae.report.compare import LIMIT


def register(sub) -> None:
    p = sub.add_parser("compare-judges", help="SR(-) and SR(+) of the same runs under two judges, and their gaps",
                       description="Read two metrics.json written by `jdvae evaluate` on the same runs, split and "
                                   "pair seed with two judges (e.g. seeds 0 and 1); print every SR under both, the claims whose "
                                   "verdict differs between them, and "
                                   f"exit 1 when a gap is over --limit (default {LIMIT:g} points).")
    p.add_argument("a", help="metrics.json (or its folder) of the first judge")
    p.add_argument("b", help="metrics.json (or its folder) of the second judge")
    p.add_argument("--limit", type=float, default=LIMIT, help="largest gap allowed, in points")
    p.add_argument("--out", default=None, help="also write the table to this markdown file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jdvae.report.compare import report
    from jdvae.io import atomic_write_text

    text, ok = report(args.a, args.b, args.limit)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0 if ok else 1
