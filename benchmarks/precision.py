"""bfloat16 vs float32 on the shipped tiny model: the start-up ratio check, per-token KL, class fidelity, speed.

For each precision, on the trainer's default batch (32 labels x 16, temperature 0.7, minibatch 32):
- ``ratio``: max and quantiles of |teacher-forced - sampled log-prob| on the first batch (the start-up check
  compares exactly these, so its bfloat16 tolerance is set from this table);
- ``kl``: mean per-token KL(float32 || bfloat16) of the next-token distributions on the same tokens;
- ``top1``: tiny-classifier accuracy of samples (cfg 1, temperature 1, 20 per class);
- ``sample_s``: seconds to sample (and decode) the batch.
Seeds are looped; figures are medians. Writes ``benchmarks/results/precision.json``.

Usage: python benchmarks/precision.py [--seeds 0 1 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from vargym.envs import GroupedCollector
from vargym.evaluation.evaluate import evaluate_model
from vargym.models import SamplingConfig, load_generator
from vargym.train.rollout import teacher_forced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/precision.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = load_generator("tiny")
    rows: dict[str, dict[str, list[float]]] = {p: {} for p in ("float32", "bfloat16")}
    for seed in args.seeds:
        for precision in ("float32", "bfloat16"):  # alternated within each seed
            sampling = SamplingConfig(temperature=0.7, precision=precision)
            collector = GroupedCollector(gen, "brightness", num_labels=32, group_size=16, sampling=sampling,
                                         seed=seed, keep_images=False)
            start = time.perf_counter()
            batch = collector.collect()
            sample_s = time.perf_counter() - start
            forced = teacher_forced(gen, batch, sampling, 32)["log_prob"]
            diff = (forced - batch["sample_log_prob"]).abs().flatten()
            with sampling.autocast(gen.device), torch.no_grad():
                kl = _token_kl(gen, batch, sampling)
            top1 = evaluate_model(gen, labels_per_class=20, rewards=(), reference_samples=0, seed=seed,
                                  sampling={"cfg": 1.0, "temperature": 1.0, "precision": precision})["classifier"]["top1"]
            for key, value in (("ratio_max", diff.max()), ("ratio_q999", diff.quantile(0.999)),
                               ("ratio_mean", diff.mean()), ("kl", kl), ("top1", top1), ("sample_s", sample_s)):
                rows[precision].setdefault(key, []).append(float(value))
    table = {p: {k: statistics.median(v) for k, v in r.items()} | {"per_seed": r} for p, r in rows.items()}
    print(f"{'precision':<10}{'ratio max':>11}{'q99.9':>9}{'mean':>10}{'KL/token':>10}{'top1':>7}{'sample s':>10}")
    for p, r in table.items():
        print(f"{p:<10}{r['ratio_max']:>11.4f}{r['ratio_q999']:>9.4f}{r['ratio_mean']:>10.5f}{r['kl']:>10.5f}"
              f"{r['top1']:>7.3f}{r['sample_s']:>10.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": args.threads, "seeds": args.seeds, **table}, indent=2))


def _token_kl(gen, batch, sampling) -> float:
    """Mean over tokens of KL(p_float32 || p_bfloat16) of the next-token distributions (cond only, no CFG)."""
    from vargym.models import condition_from_batch

    var = gen.policy
    labels, tokens = condition_from_batch(batch).labels[:64], batch["tokens"][:64]
    x = var.vqvae.quantize.next_scale_inputs(gen.layout.split(tokens))
    with torch.autocast(gen.device.type, enabled=False):
        p32 = (var(labels, x).float() / sampling.temperature).log_softmax(-1)
    p16 = (var(labels, x).float() / sampling.temperature).log_softmax(-1)
    return float((p32.exp() * (p32 - p16)).sum(-1).mean())


if __name__ == "__main__":
    main()
