"""Env/collector overhead over a bare ``var.sample`` + decode + reward loop (same model, same batch).

Contenders, alternated within each repetition in one process (medians reported):

- ``bare``: ``var.sample`` -> ``vqvae.tokens_to_img`` -> reward (no env at all);
- ``grouped``: `vargym.envs.GroupedCollector.collect` (the default training path);
- ``vector_env``: `GenerationVectorEnv` driven by `GeneratorPolicy`, step by step;
- ``torchrl``: `TorchRLGroupedCollector.collect` (torchrl ``Collector`` over `VARTorchRLEnv`).

Usage::

    python benchmarks/env_overhead.py --preset tiny --batch 64 --reps 7
    python benchmarks/env_overhead.py --preset var-d16 --batch 4 --reps 2   # random weights; slow on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from tensordict import TensorDict

from vargym.envs import GenerationVectorEnv, GeneratorPolicy, GroupedCollector, TorchRLGroupedCollector
from vargym.models import build_preset
from vargym.rewards import RewardContext, make, resize_for

RESULTS = Path(__file__).resolve().parent / "results" / "env_overhead.json"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_contenders(args: argparse.Namespace) -> tuple[dict, torch.device]:
    torch.manual_seed(0)
    vqvae, var = build_preset(args.preset)
    device = torch.device(args.device)
    vqvae, var = vqvae.to(device).eval(), var.to(device).eval()
    reward = make(args.reward, device=device)
    B, sampling = args.batch, {"temperature": 1.0, "cfg": args.cfg, "top_k": args.top_k}
    labels = torch.arange(B, device=device) % var.num_classes
    gen = torch.Generator(device=device).manual_seed(0)

    def bare() -> None:
        tokens = var.sample(labels, generator=gen, **sampling)
        images = vqvae.tokens_to_img(tokens)
        reward(resize_for(images, reward.input_size), RewardContext(labels=labels))

    grouped = GroupedCollector((vqvae, var), reward, num_labels=B, group_size=1, seed=0, **sampling)
    torchrl = TorchRLGroupedCollector((vqvae, var), reward, num_labels=B, group_size=1, seed=0, **sampling)
    venv = GenerationVectorEnv(num_envs=B, model=(vqvae, var), reward=reward)
    policy = GeneratorPolicy(var, seed=0, **sampling)

    def vector_env() -> None:
        obs, _ = venv.reset()
        terminated = torch.zeros(1, dtype=torch.bool)
        while not bool(terminated[0]):
            action = policy(TensorDict(obs, batch_size=[B]))["action"]
            obs, _, terminated, _, _ = venv.step(action)

    contenders = {
        "bare": bare,
        "grouped": grouped.collect,
        "vector_env": vector_env,
        "torchrl": torchrl.collect,
    }
    return contenders, device


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    print(f"torch.set_num_threads({args.threads}); torch {torch.__version__}; device {args.device}")
    contenders, device = build_contenders(args)
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(args.warmup + args.reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]  # rotate who goes first
        for name in order:
            _sync(device)
            start = time.perf_counter()
            contenders[name]()
            _sync(device)
            if rep >= args.warmup:
                times[name].append(time.perf_counter() - start)
    bare = statistics.median(times["bare"])
    rows = []
    for name in names:
        median = statistics.median(times[name])
        rows.append(
            {
                "contender": name,
                "median_ms": median * 1e3,
                "min_ms": min(times[name]) * 1e3,
                "overhead_pct": (median / bare - 1) * 100,
                "samples_per_s": args.batch / median,
            }
        )
    print(
        f"\npreset={args.preset} batch={args.batch} reward={args.reward} reps={args.reps} warmup={args.warmup}"
    )
    print(f"{'contender':<12} {'median ms':>10} {'min ms':>10} {'overhead':>9} {'samples/s':>10}")
    for r in rows:
        print(
            f"{r['contender']:<12} {r['median_ms']:>10.2f} {r['min_ms']:>10.2f} {r['overhead_pct']:>8.1f}% "
            f"{r['samples_per_s']:>10.1f}"
        )
    return {
        "preset": args.preset,
        "batch": args.batch,
        "reward": args.reward,
        "cfg": args.cfg,
        "top_k": args.top_k,
        "reps": args.reps,
        "warmup": args.warmup,
        "threads": args.threads,
        "device": args.device,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "rows": rows,
        "raw_s": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="model preset (random weights): tiny, var-d16, ...")
    parser.add_argument("--batch", type=int, default=64, help="episodes per batch")
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions per contender")
    parser.add_argument("--warmup", type=int, default=2, help="untimed repetitions first")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--reward", default="luma", help="reward spec for vargym.rewards.make")
    parser.add_argument("--cfg", type=float, default=0.0, help="classifier-free guidance (0 = unguided)")
    parser.add_argument("--top-k", type=int, default=0, help="top-k filtering (0 = off)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="JSON file to update (keyed by preset/batch)"
    )
    args = parser.parse_args()
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    existing[f"{args.preset}/b{args.batch}/{args.device}"] = result
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
