"""CPU cost of each reward, in seconds per image (random CLIP weights: cost does not depend on them).

Usage: ``python benchmarks/reward_cost.py [--reps 3] [--size 256] [--skip-large]``.
Runs with 2 torch threads, one warm-up call per reward, reports the median (and minimum) over
``--reps`` calls (at least 20 for the cheap classical rewards; a shared CPU makes medians noisy),
prints a table and writes ``benchmarks/results/reward_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vargym.rewards import make
from vargym.rewards.aesthetic import AestheticV2Head
from vargym.rewards.clip_models import ClipBackbone

CLASSICAL = ["brightness", "luma", "colorfulness", "contrast", "saturation", "sharpness", "jpeg", "loo-fid"]


def _random_backbone(model_name: str) -> ClipBackbone:
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(model_name, pretrained=None)
    return ClipBackbone(model, model_name, open_clip.get_tokenizer(model_name))


def _time(reward, images: torch.Tensor, reps: int) -> dict[str, float]:
    reward(images)  # warm-up (also encodes the prompt once)
    times = []
    for _ in range(reps):
        batch = images.clone()  # a fresh tensor: no embedding cache hits
        start = time.perf_counter()
        reward(batch)
        times.append(time.perf_counter() - start)
    n = images.shape[0]
    return {"s_per_image": statistics.median(times) / n, "min_s_per_image": min(times) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="side of the generated images")
    parser.add_argument("--batch", type=int, default=8, help="batch for classical rewards and ViT-B/32")
    parser.add_argument("--batch-large", type=int, default=4, help="batch for ViT-L/14 rewards")
    parser.add_argument("--skip-large", action="store_true", help="skip the ViT-L/14 rewards")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "reward_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    generator = torch.Generator().manual_seed(0)

    def images(batch: int) -> torch.Tensor:
        return torch.rand(batch, 3, args.size, args.size, generator=generator)

    rows = []
    for name in CLASSICAL:
        rows.append(
            {
                "reward": name,
                "model": "-",
                "batch": args.batch,
                **_time(make(name), images(args.batch), max(args.reps, 20)),
            }
        )

    with tempfile.TemporaryDirectory() as tmp:
        head_path = Path(tmp) / "random_v2_head.pth"
        torch.save(AestheticV2Head().state_dict(), head_path)
        b32 = _random_backbone("ViT-B-32-quickgelu")
        rows.append(
            {
                "reward": "clip",
                "model": "ViT-B-32",
                "batch": args.batch,
                **_time(make("clip", backbone=b32), images(args.batch), args.reps),
            }
        )
        del b32
        if not args.skip_large:
            l14 = _random_backbone("ViT-L-14-quickgelu")
            batch = images(args.batch_large)
            for spec, kwargs in [
                ("clip", {"clip": {"backbone": l14}}),
                ("aesthetic", {"aesthetic": {"backbone": l14, "head_path": head_path}}),
                (
                    "aesthetic+0.5*clip",
                    {"aesthetic": {"backbone": l14, "head_path": head_path}, "clip": {"backbone": l14}},
                ),
            ]:
                reward = make(spec, **kwargs) if "+" in spec else make(spec, **kwargs[spec])
                rows.append(
                    {
                        "reward": spec,
                        "model": "ViT-L-14",
                        "batch": args.batch_large,
                        **_time(reward, batch, args.reps),
                    }
                )

    _print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": 2,
        "image_size": args.size,
        "reps": args.reps,
        "machine": platform.processor() or platform.machine(),
        "statistic": "median seconds per image",
    }
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")


def _print_table(rows: list[dict]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in rows:
            print(
                f"{row['reward']:<22} {row['model']:<10} {row['batch']:>5} {row['s_per_image'] * 1000:>12.2f} ms/img"
            )
        return
    table = Table(title="Reward cost on CPU (2 threads, median)")
    for column in ("reward", "model", "batch", "median ms / image", "min ms / image"):
        table.add_column(column, justify="right" if column != "reward" else "left")
    for row in rows:
        table.add_row(
            row["reward"],
            row["model"],
            str(row["batch"]),
            f"{row['s_per_image'] * 1000:.2f}",
            f"{row['min_s_per_image'] * 1000:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
