"""Sampling speed of VAR presets on this machine: seconds per image, tokens/s, peak memory.

Contenders, alternated in one process and reported as medians:
- ``vargym``: ``ScaleSampler`` (KV cache; with cfg=0 it runs B rows instead of 2B).
- ``official-loop``: the official ``autoregressive_infer_cfg`` control flow re-stated on the same modules
  (always 2B rows, in-place filtering, official decode). The official repository cannot be fetched here, so
  this in-process baseline stands in for it; the golden tests show it computes the official tokens, and
  ``../shared/notes/var-reference.md`` gives the official code's own figures on this kind of machine
  (7.3 s/image at batch 4 and 8.2 s at batch 1, cfg 1.5, top_k 900, top_p 0.96, decode included).

Usage: python benchmarks/sample_speed.py [--preset var-d16] [--batches 1 4] [--reps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from functools import partial
from pathlib import Path

import torch

from vargym.models import build_preset
from vargym.models.sampling import filter_logits


@torch.no_grad()
def official_loop(var, labels, cfg, top_k, top_p, generator):
    """The official sampler's structure: always 2B rows, logits filtered then multinomial, then decode."""
    B = labels.shape[0]
    quant = var.vqvae.quantize
    cond_BD = var.class_emb(torch.cat((labels, torch.full_like(labels, var.num_classes))))
    lvl_pos = var.lvl_pos()
    x = var.start_tokens(cond_BD) + lvl_pos[:, : var.first_l]
    side = var.patch_nums[-1]
    f_hat = cond_BD.new_zeros(B, var.Cvae, side, side)
    from vargym.models.var import KVCache

    caches = [KVCache() for _ in var.blocks]
    cur_L, K = 0, len(var.patch_nums)
    for si, pn in enumerate(var.patch_nums):
        ratio = si / (K - 1)
        cur_L += pn * pn
        for block, cache in zip(var.blocks, caches):
            x = block(x, cond_BD, None, cache)
        logits = var.get_logits(x, cond_BD)
        t = cfg * ratio
        logits = filter_logits((1 + t) * logits[:B] - t * logits[B:], top_k, top_p)
        idx = torch.multinomial(logits.softmax(-1).view(-1, logits.shape[-1]), 1, generator=generator).view(B, -1)
        h = quant.embedding(idx).transpose(1, 2).reshape(B, var.Cvae, pn, pn)
        f_hat, nxt = quant.advance(si, f_hat, h)
        if si != K - 1:
            x = var.word_embed(nxt.view(B, var.Cvae, -1).transpose(1, 2)) + lvl_pos[:, cur_L:cur_L + var.patch_nums[si + 1] ** 2]
            x = x.repeat(2, 1, 1)
    return var.vqvae.fhat_to_img(f_hat)


@torch.no_grad()
def vargym_sample(var, labels, cfg, top_k, top_p, generator, decode=True):
    sampler = var.make_sampler(labels, cfg=cfg, top_k=top_k, top_p=top_p, generator=generator)
    while not sampler.done:
        sampler.step()
    return sampler.images() if decode else sampler.f_hat


@torch.no_grad()
def official_loop_contiguous_decode(var, labels, cfg, top_k, top_p, generator):
    """``official_loop`` with the decoder in the default (contiguous) memory format, as the official code runs."""
    var.vqvae.to(memory_format=torch.contiguous_format)
    try:
        start = time.perf_counter()
        official_loop(var, labels, cfg, top_k, top_p, generator)
        return time.perf_counter() - start
    finally:
        var.vqvae.to(memory_format=torch.channels_last)


def sgemm_gflops(size: int = 1024, reps: int = 5) -> float:
    """The machine's float32 matmul speed (the official baseline figures came with 175-188 GFLOP/s)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size**3 * reps / (time.perf_counter() - start) / 1e9


def timed(fn) -> float:
    start = time.perf_counter()
    inner = fn()
    elapsed = time.perf_counter() - start
    return inner if isinstance(inner, float) else elapsed  # contenders that time themselves return a float


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="var-d16")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top-k", type=int, default=900)
    parser.add_argument("--top-p", type=float, default=0.96)
    parser.add_argument("--out", default="benchmarks/results/sample_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vqvae, var = build_preset(args.preset)
    var.eval()
    L = var.L
    gflops = sgemm_gflops()
    print(f"sgemm probe: {gflops:.0f} GFLOP/s (1024^3 float32)")
    print(f"preset {args.preset}, float32, threads {torch.get_num_threads()}, top_k {args.top_k}, top_p {args.top_p}")
    results = []
    for B in args.batches:
        labels = torch.arange(B) % var.num_classes
        gen = torch.Generator().manual_seed(0)
        k, p = args.top_k, args.top_p
        contenders = {
            "official-loop cfg=1.5": partial(official_loop, var, labels, 1.5, k, p, gen),
            "official-loop, contiguous decode": partial(official_loop_contiguous_decode, var, labels, 1.5, k, p, gen),
            "vargym cfg=1.5": partial(vargym_sample, var, labels, 1.5, k, p, gen),
            "vargym cfg=1.0": partial(vargym_sample, var, labels, 1.0, k, p, gen),
            "vargym cfg=0 (unguided)": partial(vargym_sample, var, labels, 0.0, k, p, gen),
            "vargym cfg=1.5 no decode": partial(vargym_sample, var, labels, 1.5, k, p, gen, False),
            "vargym cfg=0 no decode": partial(vargym_sample, var, labels, 0.0, k, p, gen, False),
        }
        timed(contenders["vargym cfg=0 (unguided)"])  # warm-up
        times = {name: [] for name in contenders}
        for _ in range(args.reps):  # alternate contenders in every repetition
            for name, fn in contenders.items():
                times[name].append(timed(fn))
        for name, ts in times.items():
            med = statistics.median(ts)
            row = {"batch": B, "contender": name, "median_s_per_call": med, "s_per_image": med / B,
                   "tokens_per_s": B * L / med, "runs_s": ts}
            results.append(row)
            runs = ", ".join(f"{t:.2f}" for t in ts)
            print(f"B={B:<3} {name:<28} {med / B:8.2f} s/image  {B * L / med:9.1f} tokens/s  runs [{runs}]")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mib:.0f} MiB")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"preset": args.preset, "threads": args.threads, "top_k": args.top_k,
                                          "top_p": args.top_p, "peak_rss_mib": peak_mib, "sgemm_gflops": gflops, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
