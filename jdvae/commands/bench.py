"""`jdvae bench`: training and evaluation throughput, reference against optimised, with FLOPs and peak share."""
from __future__ import annotations

import argparse

from jdvae.config import ModelConfig, profile


def register(sub) -> None:
    p = sub.add_parser("bench", help="time the training step and evaluation (prints a table)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--sizes", default="quick,paper", help="comma-separated from quick, paper, smoke")
    p.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of compilation on CPU)")
    p.add_argument("--precision", default="auto", help="auto, fp32 or bf16: the optimised setting's arithmetic "
                   "(auto = bf16 on CUDA and on CPUs with AMX or AVX512-BF16)")
    p.add_argument("--out", default="bench", help="writes OUT.json and OUT.md")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from jdvae.bench import run_bench, to_markdown
    from jdvae.io import atomic_write_json, atomic_write_text
    from jdvae.machine import resolve_device
    if args.threads:
        torch.set_num_threads(args.threads)
    from jdvae.vae.precision import resolve as resolve_precision
    device = resolve_device(args.device)
    chosen = resolve_precision(args.precision, device)
    print(f"jdvae bench on {device}: {chosen.describe()}", flush=True)
    sizes = []
    for name in args.sizes.split(","):
        m = profile(name.strip()).model
        label = f"{name.strip()} ({m.image_size} px, width {m.width})"
        sizes.append((label, ModelConfig(**{**m.__dict__, "name": "PA1"})))
    results = run_bench(device, sizes, rounds=args.rounds, compile_too=args.compile, precision=args.precision)
    table = to_markdown(results)
    print(table)
    atomic_write_json(f"{args.out}.json", results)
    atomic_write_text(f"{args.out}.md", table)
    return 0
