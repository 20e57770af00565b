"""Text fidelity of a text-to-image model of the embedded world (default: the shipped ``tiny-t2i``), three seeds.

For each seed, ``--prompts`` seen and ``--held-out`` held-out procedural captions (drawn with that seed) are
sampled ``--per-prompt`` times at each guidance scale (temperature 1, no filtering), and the model's gold
classifier (``attr_gold``) reads every image: text fidelity (GenEval's all-or-nothing rule over the prompted
attributes) and each attribute's accuracy; and the swap test (`vargym.evaluation.swap.swap_test`: one word of
each prompt changed, the same seed) per swappable attribute at ``--swap-cfg``. Prints mean and spread over
the seeds and writes JSON.

Usage: python benchmarks/t2i_fidelity.py [--model tiny-t2i] [--threads 2] [--seeds 0 1 2] [--cfgs 1 2 3 4]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from vargym.data.classifier import load_classifier
from vargym.data.prompts import procedural_prompts
from vargym.evaluation.swap import SWAPPABLE, swap_test
from vargym.models import SamplingConfig, load_generator
from vargym.pretrain.text import text_fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-t2i")
    parser.add_argument("--gold", default=None, help="gold classifier directory (default: the model's attr_gold)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cfgs", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--held-out", type=int, default=100)
    parser.add_argument("--per-prompt", type=int, default=2)
    parser.add_argument("--swap-cfg", type=float, default=1.5)
    parser.add_argument("--swap-prompts", type=int, default=64)
    parser.add_argument("--out", default="benchmarks/results/t2i_fidelity.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator = load_generator(args.model, device="cpu")
    gold_dir = args.gold or dict(generator.gold_metric[1])["classifier"]
    gold = load_classifier(gold_dir)
    runs = []
    for seed in args.seeds:
        start = time.perf_counter()
        row = {"seed": seed}
        for split, count in (("seen", args.prompts), ("held_out", args.held_out)):
            prompts = procedural_prompts(count, 10_000 + seed, split)
            figures = text_fidelity(generator, gold, prompts, tuple(args.cfgs), args.per_prompt, seed)
            row.update({f"{split}_{k}": v for k, v in figures.items()})
        for attribute in SWAPPABLE:
            swap = swap_test(generator, gold, procedural_prompts(args.swap_prompts, 20_000 + seed), attribute,
                             SamplingConfig(cfg=args.swap_cfg), seed=seed, max_prompts=args.swap_prompts)
            row.update({f"swap_{attribute}_follows": swap["follows"], f"swap_{attribute}_others_kept":
                        swap["others_kept"]})
        row["wall_s"] = time.perf_counter() - start
        runs.append(row)
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                              if k.endswith("_all") or k == "wall_s"), flush=True)

    keys = [k for k in runs[0] if k not in ("seed", "wall_s")]
    summary = {k: {"mean": statistics.mean(r[k] for r in runs),
                   "min": min(r[k] for r in runs), "max": max(r[k] for r in runs)} for k in keys}
    print(f"\n{'split':9} {'cfg':>4} {'all':>15} {'shape':>7} {'color':>7} {'bg':>7} {'size':>7}")
    for split in ("seen", "held_out"):
        for cfg in args.cfgs:
            pre = f"{split}_cfg{cfg:g}_"
            s = {a: summary[pre + a]["mean"] for a in ("all", "shape", "color", "background", "size")}
            spread = f"[{summary[pre + 'all']['min']:.3f}-{summary[pre + 'all']['max']:.3f}]"
            print(f"{split:9} {cfg:4g} {s['all']:.3f} {spread} {s['shape']:7.3f} {s['color']:7.3f} "
                  f"{s['background']:7.3f} {s['size']:7.3f}")
    for attribute in SWAPPABLE:
        print(f"swap {attribute:10} (cfg {args.swap_cfg:g}): follows {summary[f'swap_{attribute}_follows']['mean']:.3f}, "
              f"others kept {summary[f'swap_{attribute}_others_kept']['mean']:.3f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": args.model, "gold": str(gold_dir), "threads": args.threads,
                               "prompts": args.prompts, "held_out": args.held_out, "per_prompt": args.per_prompt,
                               "torch": torch.__version__, "machine": platform.machine(), "runs": runs,
                               "summary": summary}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
