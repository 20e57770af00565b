"""Speed and memory of sampling and of one RL update vs batch size and model preset (same code as
``vargym bench speed``: `vargym.bench.speed.run_speed`).

Reports, per (model, batch): sampling images/s (no grad, decode included); one `Trainer` iteration split
into sampling, reward, log-prob passes (policy + reference, no grad) and backward (forward with grad,
backward, AdamW step); peak memory (CUDA allocator peak, else process peak RSS). Medians after warm-up.

Usage: python benchmarks/update_speed.py [--models random:tiny] [--batches 8 16 32] [--reps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from vargym.bench.speed import SpeedConfig, format_speed_table, run_speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["random:tiny"])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--algo", default="grpo")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default=None)
    parser.add_argument("--precisions", nargs="+", default=["float32"], help="float32 and/or bfloat16")
    parser.add_argument("--compare-recompute", action="store_true",
                        help="also time the update with the behaviour log-probs recomputed (the old split)")
    parser.add_argument("--out", default="benchmarks/results/update_speed.json")
    args = parser.parse_args()
    config = SpeedConfig(
        models=tuple(args.models),
        batch_sizes=tuple(args.batches),
        group_size=args.group_size,
        algo=args.algo,
        reps=args.reps,
        warmup=args.warmup,
        threads=args.threads,
        precisions=tuple(args.precisions),
        recompute=(False, True) if args.compare_recompute else (False,),
        device=args.device,
    )
    result = run_speed(config)
    print(format_speed_table(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
