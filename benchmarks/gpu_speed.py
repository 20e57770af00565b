"""GPU benchmark, ready for when a CUDA device is available (this script refuses to run without one).

1. Sampling throughput of var-d16 (random weights; decode included): images/s at batch 32, 64, 128, 256 for
   cfg 0 and 1.5, float32 and bfloat16 (transformer and decoder), medians of ``--reps`` after a warm-up.
2. One RL iteration of 512 images (32 labels x 16) with its time split and peak CUDA memory, float32 and
   bfloat16, through `vargym.bench.speed.run_speed` (the same code as ``vargym bench speed``).
3. T2I rows (``--t2i-preset llamagen-t2i-xl``; ``--t2i-preset none`` skips them): the t2i GPT-XL sampling from
   random caption features left-padded to prompt lengths 9-33 of its 120 slots (the text encoder is not
   timed: with ``--text-features`` it does not run), at the official setting (cfg 7.5, top-k 1000), float32 and
   bfloat16, decode included, at batch 8 and 32.
Prints the tables, names the card, and writes ``benchmarks/results/gpu_speed.json``.

Usage: python benchmarks/gpu_speed.py [--preset var-d16] [--batches 32 64 128 256] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from vargym.bench.speed import SpeedConfig, format_speed_table, run_speed
from vargym.models import ClassCondition, SamplingConfig, load_generator


def t2i_sampling(preset: str, batches: list[int], reps: int, card: str) -> list[dict]:
    """Images/s of a t2i GPT (random weights, a normal-init head) on random left-padded caption features."""
    from vargym.models import build_preset
    from vargym.models.generator import autocast

    device = torch.device("cuda")
    torch.manual_seed(0)
    vq, gpt = build_preset(preset)
    torch.nn.init.normal_(gpt.output.weight, std=0.02)  # the official init zeroes the head: uniform logits
    vq, gpt = vq.to(device).eval(), gpt.to(device).eval()
    T, rows = gpt.cfg.cls_token_num, []
    for batch in batches:
        lengths = torch.tensor([18, 33, 9, 25, 12, 30, 21, 15], device=device).repeat(batch // 8 + 1)[:batch]
        mask = torch.arange(T, device=device).unsqueeze(0) >= (T - lengths).unsqueeze(1)  # [B, T] left-padded
        captions = torch.randn(batch, T, gpt.cfg.caption_dim, device=device) * mask.unsqueeze(-1)
        for precision in ("float32", "bfloat16"):
            times = []
            for rep in range(reps + 1):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                with torch.no_grad():
                    sampler = gpt.make_sampler(captions, cfg=7.5, top_k=1000, caption_mask=mask, precision=precision,
                                               generator=torch.Generator(device).manual_seed(rep))
                    tokens, _ = sampler.run()
                    with autocast(precision, device):
                        vq.decode_code(tokens)
                torch.cuda.synchronize()
                if rep:
                    times.append(time.perf_counter() - start)
            row = {"preset": preset, "batch": batch, "cfg": 7.5, "top_k": 1000, "precision": precision,
                   "images_per_s": batch / statistics.median(times), "peak_mib": torch.cuda.max_memory_allocated() / 2**20}
            rows.append(row)
            print(f"{card}: {preset} B={batch:<4} {precision:<9} {row['images_per_s']:8.2f} img/s  "
                  f"peak {row['peak_mib']:8.0f} MiB", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="var-d16")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--t2i-preset", default="llamagen-t2i-xl")
    parser.add_argument("--t2i-batches", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--out", default="benchmarks/results/gpu_speed.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark is for a GPU machine (CPU figures: sample_speed.py)")
    device = torch.device("cuda")
    card = torch.cuda.get_device_name(device)
    torch.manual_seed(0)
    generator = load_generator(f"random:{args.preset}", device=device)
    rows = []
    for batch in args.batches:
        cond = ClassCondition(torch.arange(batch, device=device) % generator.num_classes)
        for cfg in (0.0, 1.5):
            for precision in ("float32", "bfloat16"):
                sampling = SamplingConfig(cfg=cfg, top_k=900, top_p=0.96, precision=precision,
                                          decode_precision=precision)
                times = []
                for rep in range(args.reps + 1):
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    start = time.perf_counter()
                    with torch.no_grad():
                        generator.decode(generator.sample(cond, sampling, torch.Generator(device).manual_seed(rep)),
                                         precision)
                    torch.cuda.synchronize()
                    if rep:
                        times.append(time.perf_counter() - start)
                peak = torch.cuda.max_memory_allocated() / 2**20
                row = {"batch": batch, "cfg": cfg, "precision": precision,
                       "images_per_s": batch / statistics.median(times), "peak_mib": peak}
                rows.append(row)
                print(f"{card}: B={batch:<4} cfg {cfg:<4} {precision:<9} {row['images_per_s']:8.1f} img/s  "
                      f"peak {peak:8.0f} MiB", flush=True)
    t2i_rows = [] if args.t2i_preset == "none" else t2i_sampling(args.t2i_preset, args.t2i_batches, args.reps, card)
    update = run_speed(SpeedConfig(models=(f"random:{args.preset}",), batch_sizes=(512,), group_size=16,
                                   minibatch_size=32, precisions=("float32", "bfloat16"), reps=args.reps,
                                   device="cuda"))
    print(format_speed_table(update))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"card": card, "sampling": rows, "t2i_sampling": t2i_rows,
                                           "update": update}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
