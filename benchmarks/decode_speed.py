"""Decoding a batch on CPU: one pass against passes of `vargym.models.generator.CPU_DECODE_PIXELS` output pixels.

A conv decoder's activations for a whole RL batch (512 images of 64 px: 134 MB per float32 activation at 32
channels) outgrow the CPU's caches; decoding in passes keeps them in cache. For each shipped model and decode
precision, ``generator.decode`` of the same random tokens runs with the pass size set to each contender (whole
batch, then passes of N images), contenders alternated in every repetition (the first discarded as warm-up),
medians reported. Prints a table and writes JSON.

Usage: python benchmarks/decode_speed.py [--threads 2] [--batch 512] [--reps 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

import vargym.models.generator as generator_module
from vargym.devices import cpu_description
from vargym.models import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["tiny", "tiny-llamagen", "tiny-t2i", "tiny-vqgan"])
    parser.add_argument("--images-per-pass", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--out", default="benchmarks/results/decode_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cpu = cpu_description()
    chosen = generator_module.CPU_DECODE_PIXELS
    print(f"CPU: {cpu}; threads {torch.get_num_threads()}; torch {torch.__version__}; "
          f"CPU_DECODE_PIXELS {chosen}")
    rows = []
    for name in args.models:
        generator = load_generator(name, device="cpu")
        vocab = int(generator.decoder.vocab_size)
        tokens = torch.randint(0, vocab, (args.batch, generator.layout.num_tokens),
                               generator=torch.Generator().manual_seed(0))
        side = generator.decode(tokens[:1]).shape[-1]
        contenders = {"whole batch": 10 ** 12, **{f"{n} images": n * side * side for n in args.images_per_pass}}
        for precision in ("bfloat16", "float32"):
            times: dict[str, list[float]] = {c: [] for c in contenders}
            for _ in range(args.reps + 1):
                for contender, pixels in contenders.items():
                    generator_module.CPU_DECODE_PIXELS = pixels
                    start = time.perf_counter()
                    generator.decode(tokens, precision)
                    times[contender].append(time.perf_counter() - start)
            generator_module.CPU_DECODE_PIXELS = chosen
            medians = {c: statistics.median(t[1:]) for c, t in times.items()}
            for contender, seconds in medians.items():
                rows.append({"model": name, "precision": precision, "contender": contender, "side": side,
                             "s_per_batch": seconds, "speedup_vs_whole_batch": medians["whole batch"] / seconds})
            print(f"{name:14s} {precision:9s} " + "  ".join(f"{c}: {s:.2f}s" for c, s in medians.items()), flush=True)
    print(f"\n| model | precision | contender | s per {args.batch} images | speed-up vs whole batch |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['precision']} | {r['contender']} | {r['s_per_batch']:.2f} | "
              f"{r['speedup_vs_whole_batch']:.2f}x |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpu": cpu, "threads": args.threads, "batch": args.batch, "reps": args.reps,
                               "cpu_decode_pixels": chosen, "torch": torch.__version__, "results": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
