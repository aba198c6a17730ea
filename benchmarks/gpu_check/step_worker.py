"""One setting of the paper profile's training step, timed: `python -m benchmarks.gpu_check.step_worker`.

PA1 at the paper profile's size on SynthFaces, the trainer's pieces (jdvae/vae/levers.py, jdvae/vae/precision.py): warm-up
steps (compilation, graph capture), then the weights, the optimiser and the seed are set back, so that every setting
trains the same steps on the same batches from the same start and their losses can be compared step by step. The
workers of one comparison warm up side by side and, with --turns, time one after another (the GPU to itself);
without, all at once (the aggregate of side-by-side trainings). Writes --out (JSON) and exits.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from jdvae.bench import flops_per_image, matmul_peak, sync
from jdvae.data.splits import load_split
from jdvae.data.tensors import to_model_input
from jdvae.vae.levers import Levers, adam, compiled
from jdvae.vae.losses import loss_for
from jdvae.vae.model import build_model
from jdvae.vae.precision import Precision, to_fp32

from benchmarks.gpu_check.sizes import SETTINGS, paper_config


def wait_for(condition, seconds: float) -> bool:
    """Poll `condition` for up to `seconds`; whether it came true."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--setting", required=True, choices=list(SETTINGS))
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--steps", type=int, default=200, help="timed steps (their losses are compared)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--count", type=int, default=1, help="workers of this comparison")
    p.add_argument("--turns", action="store_true", help="time after worker index-1 has (else all at once)")
    p.add_argument("--sync-dir", required=True)
    p.add_argument("--wait", type=float, default=300, help="seconds to wait for the others at most")
    p.add_argument("--backend", default="inductor")
    p.add_argument("--flops", action="store_true", help="also count the FLOPs of a step and time a bf16 matmul")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    sync_dir = Path(args.sync_dir)
    try:
        measure(args)
    finally:  # a worker that failed still lets the others go on: it counts as ready and done
        (sync_dir / f"ready_{args.index}").touch()
        (sync_dir / f"done_{args.index}").touch()


def count_graph_replays() -> dict:
    """Count every CUDA graph replay from now on ({"n": count}), by wrapping torch.cuda.CUDAGraph.replay, which
    inductor's CUDA graph trees call to run a recorded step."""
    counter = {"n": 0}
    original = torch.cuda.CUDAGraph.replay

    def replay(self, *args, **kwargs):
        counter["n"] += 1
        return original(self, *args, **kwargs)

    torch.cuda.CUDAGraph.replay = replay
    return counter


def graph_skips() -> int:
    """How many times inductor decided not to use CUDA graphs (it counts each such decision)."""
    from torch._dynamo.utils import counters
    return int(counters["inductor"].get("cudagraph_skips", 0))


def measure(args) -> None:
    """Warm up, wait for the others, time the steps, write the result."""
    dev, sync_dir, out = torch.device(args.device), Path(args.sync_dir), Path(args.out)
    lever_names, bf16, compile_asked = SETTINGS[args.setting]
    levers, precision = Levers(frozenset(lever_names), "gpu check"), Precision("bf16" if bf16 else "fp32", "gpu check")
    cfg = paper_config(args.tiny)
    split = load_split(cfg.data, "train", progress=False)
    batch = cfg.train.batch_size
    images, labels = torch.from_numpy(split.images), torch.from_numpy(split.labels).long()
    supervised = torch.from_numpy(split.supervised.astype(bool))
    if "device_data" in levers:
        images, labels, supervised = images.to(dev), labels.to(dev), supervised.to(dev)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0)).to(images.device)
    result = {"setting": args.setting, "levers": sorted(levers.on), "precision": precision.name,
              "compile": compile_asked, "batch": batch, "image_size": cfg.model.image_size}
    if args.flops:
        result["flops_per_image"] = flops_per_image(cfg.model, batch, dev)
        if dev.type == "cuda":
            result["matmul_bf16_tflops"] = matmul_peak(dev, 8192, 10, torch.bfloat16) / 1000

    torch.manual_seed(0)
    model = build_model(cfg.model).to(dev).to(memory_format=torch.channels_last)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    net = compiled(model, compile_asked, levers, backend=args.backend)
    objective = loss_for(model.structure.objective)

    def step(i: int, opt) -> torch.Tensor:
        idx = order[torch.arange(i * batch, (i + 1) * batch, device=order.device) % len(order)]
        x = to_model_input(images[idx], dev, channels_last=True)
        y, sup = labels[idx].to(dev), supervised[idx].to(dev)
        if "graphs" in levers:
            torch.compiler.cudagraph_mark_step_begin()
        with precision.autocast(dev):
            fwd = net(x, y, sup, tau=cfg.train.tau)
        loss, terms = objective(to_fp32(fwd), x, y, sup, cfg.train)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return terms["loss"]

    t0 = time.perf_counter()
    opt = adam(model.parameters(), cfg.train.lr, levers)
    for i in range(args.warmup):
        step(i, opt)
    sync(dev)
    result["warmup_seconds"] = round(time.perf_counter() - t0, 2)
    with torch.no_grad():  # the same start for every setting: the weights in place (graphs keep their addresses)
        for k, v in model.state_dict().items():
            v.copy_(start[k])
    opt = adam(model.parameters(), cfg.train.lr, levers)
    torch.manual_seed(1)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    (sync_dir / f"ready_{args.index}").touch()
    everyone = wait_for(lambda: len(list(sync_dir.glob("ready_*"))) >= args.count, args.wait)
    mine = not args.turns or args.index == 0 or wait_for(lambda: (sync_dir / f"done_{args.index - 1}").exists(),
                                                          args.wait)
    result["waited_for_all"] = everyone and mine
    losses, every = [], 10 if "lazy_sync" in levers else 1
    pending = []
    replays = count_graph_replays() if "graphs" in levers and dev.type == "cuda" else None
    sync(dev)
    t0 = time.perf_counter()
    for i in range(args.steps):
        pending.append(step(i, opt))
        if len(pending) >= every:
            losses += torch.stack(pending).tolist()
            pending = []
    losses += torch.stack(pending).tolist() if pending else []
    sync(dev)
    seconds = time.perf_counter() - t0
    (sync_dir / f"done_{args.index}").touch()
    if "graphs" in levers:  # confirmed only on CUDA: every timed step replayed a graph, and none was skipped
        skips = graph_skips()
        result["graphs"] = {"replays": replays["n"] if replays else None, "steps": args.steps, "skips": skips,
                            "replayed": bool(replays and replays["n"] >= args.steps and skips == 0)}
    result.update(images_per_s=args.steps * batch / seconds, step_ms=1000 * seconds / args.steps, losses=losses,
                  peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else None)
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
