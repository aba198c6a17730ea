"""`jdvae evaluate`: Table 1 (SR(-), SR(+), LPIPS, BCA, SynthFaces measures) for a folder of runs."""
from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    """Add the `evaluate` subcommand."""
    p = subparsers.add_parser("evaluate", help="evaluate every complete run: table1.csv, table1.md, metrics.json",
                              description=__doc__)
    p.add_argument("--runs", required=True, type=Path, help="folder holding the run folders")
    p.add_argument("--out", required=True, type=Path, help="folder for table1.csv, table1.md and metrics.json")
    p.add_argument("--judge", type=Path, action="append", default=None,
                   help="judge folder; give it again for each further judge (default: every judge folder in RUNS, "
                        "judge/ and judge-s1/ for a study; RUNS/judge is trained when there is none)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="split whose pairs are scored (default test; val for choosing budgets and checking gates)")
    p.add_argument("--workers", type=int, default=1,
                   help="runs evaluated side by side in that many processes, one thread each (CPU; default 1)")
    p.add_argument("--pair-seed", type=int, default=0, help="seed of the (I_g, I_w) pairs (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    """Evaluate and print where the table went."""
    from jdvae.evaluate.runs import evaluate_runs

    report = evaluate_runs(args.runs, args.out, args.judge, args.device, args.pair_seed, not args.no_progress,
                           split=args.split, workers=args.workers)
    print(f"evaluated {len(report['runs'])} runs on the {args.split} split ({len(report['skipped'])} skipped): "
          f"{args.out / 'table1.md'}, {args.out / 'table1.csv'}, {args.out / 'metrics.json'}")
    return 0
