"""Time saved by scoring each chunk of a batch while the next chunk samples (`GroupedCollector(async_rewards=True)`).

The shipped tiny model collects 64 images per batch in 4 chunks of 16, once with rewards scored after each
chunk in the main thread and once in a worker thread; the batches are identical (tested), only the time
differs. Rewards:
- ``wait``: 10 ms per image spent waiting (``time.sleep``), standing in for a reward served over HTTP or a
  model on another device: the time a remote reward costs the sampler when nothing overlaps it;
- ``jpeg``: vargym's JPEG-compressibility reward, CPU work in PIL (about 6 ms per image).
Sampling runs on one torch thread; repetitions alternate the two schedules; medians.

Usage:
    python benchmarks/async_rewards.py [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import vargym.rewards
from vargym.envs.collector import GroupedCollector
from vargym.models import load_generator


def wait_reward(images: torch.Tensor, context: object = None) -> torch.Tensor:
    time.sleep(0.010 * images.shape[0])
    return images.mean(dim=(1, 2, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/async_rewards.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = load_generator("tiny")
    rows = []
    print(f"{'reward':<8} {'sync s':>8} {'async s':>8} {'saved':>7}   (64 images in 4 chunks, medians of {args.reps})")
    for name, reward in (("wait", vargym.rewards.make(wait_reward)), ("jpeg", vargym.rewards.make("jpeg"))):
        collectors = {mode: GroupedCollector(generator, reward, num_labels=8, group_size=8, seed=0, reward_chunks=4,
                                             async_rewards=mode == "async", temperature=1.0, cfg=1.0)
                      for mode in ("sync", "async")}
        for c in collectors.values():
            c.collect()  # warm-up
        times: dict[str, list[float]] = {"sync": [], "async": []}
        for _ in range(args.reps):
            for mode, collector in collectors.items():
                start = time.perf_counter()
                collector.collect()
                times[mode].append(time.perf_counter() - start)
        sync, overlapped = statistics.median(times["sync"]), statistics.median(times["async"])
        rows.append({"reward": name, "sync_s": sync, "async_s": overlapped, "saved_fraction": 1 - overlapped / sync,
                     "runs": times})
        print(f"{name:<8} {sync:8.3f} {overlapped:8.3f} {1 - overlapped / sync:7.0%}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"images": 64, "chunks": 4, "threads": 1, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
