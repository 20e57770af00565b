"""The taming-transformers sampler against the official one, same random weights, one process.

Contenders, alternated in every repetition and reported as medians (seconds per image, tokens only: the VQGAN
decode is the same convolution stack on both sides and is timed once on its own):
- ``official float32``: ``sample_with_past`` (the KV-cached sampler ``scripts/sample_fast.py`` uses) on the
  official minGPT ``GPT``, imported from a checkout given with ``--official`` (kept outside this repository;
  transformers' removed ``top_k_top_p_filtering`` is stood in by the same rule) and loaded with vargym's
  weights (the key names are the official ones).
- ``official bfloat16``: the same under ``torch.autocast`` (the official code has no precision option).
- ``vargym float32`` / ``vargym bfloat16``: ``MinGPT.sample`` (`MinGPTSampler`) at the same settings.

Settings are ``sample_fast.py``'s defaults (top-k 250, temperature 1, top-p 1). The GPT is random (every weight
drawn, so the distributions are not uniform) at ``--layers``/``--width`` (default 12 x 768, a GPT-B; the
released 48 x 1536 takes minutes per image on two cores), with the released vocabulary and 16 x 16 tokens.

Usage:
    python benchmarks/vqgan_speed.py --official /path/to/taming-transformers [--batch 8] [--reps 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from vargym.models.generator import autocast, top_k_top_p_filter
from vargym.models.vqgan import VQGAN, MinGPT, MinGPTConfig
from vargym.models.vqgan.presets import CIN_VQGAN


def official_gpt(path: Path, gpt: MinGPT):
    """The official GPT and ``sample_with_past`` from ``path``, holding ``gpt``'s weights."""
    import transformers

    if not hasattr(transformers, "top_k_top_p_filtering"):  # removed from transformers >= 4.40
        transformers.top_k_top_p_filtering = lambda logits, top_k=0, top_p=1.0: top_k_top_p_filter(logits, top_k, top_p)
    spec = importlib.util.spec_from_file_location("official_mingpt", path / "taming/modules/transformer/mingpt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = gpt.cfg
    official = module.GPT(vocab_size=c.vocab_size, block_size=c.block_size, n_layer=c.n_layer, n_head=c.n_head,
                          n_embd=c.n_embd)
    missing, unexpected = official.load_state_dict(gpt.state_dict(), strict=False)
    assert not unexpected and all(k.endswith("attn.mask") for k in missing), (missing, unexpected)
    return official.eval(), module.sample_with_past


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, default=None, help="a checkout of CompVis/taming-transformers")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=250)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/results/vqgan_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gpt = MinGPT(MinGPTConfig(vocab_size=16384, block_size=256, n_layer=args.layers, n_head=args.heads,
                              n_embd=args.width, num_classes=1000)).eval()
    with torch.no_grad():
        for p in gpt.parameters():  # the official init zeroes the positions: draw every weight
            p.normal_(0, 0.02 if p.ndim > 1 else 0.1)
    labels = torch.tensor([207, 360, 387, 974, 88, 979, 417, 279] * 4)[: args.batch]
    B, L = args.batch, gpt.block_size
    official = None
    if args.official is not None and (args.official / "taming/modules/transformer/mingpt.py").is_file():
        official = official_gpt(args.official, gpt)
    else:
        print(f"official contender skipped: no CompVis/taming-transformers checkout at {args.official}")

    def ours(precision: str) -> None:
        from vargym.models.vqgan import MinGPTSampler

        MinGPTSampler(gpt, labels, top_k=args.top_k, precision=precision,
                      generator=torch.Generator().manual_seed(0)).run()

    contenders = {"vargym float32": lambda: ours("float32"), "vargym bfloat16": lambda: ours("bfloat16")}
    if official is not None:
        official_model, sample_with_past = official

        def official_sample(precision: str) -> None:
            torch.manual_seed(0)
            with torch.no_grad(), autocast(precision, "cpu"):
                sample_with_past(labels[:, None], official_model, steps=L, top_k=args.top_k, top_p=1.0)

        contenders = {"official float32": lambda: official_sample("float32"),
                      "official bfloat16": lambda: official_sample("bfloat16"), **contenders}
    with torch.no_grad():
        ours("float32")  # warm-up
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.reps):  # alternate the contenders in every repetition
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        vq = VQGAN(CIN_VQGAN).eval()  # the released VQGAN's size: one decode of the batch, for scale
        start = time.perf_counter()
        vq.decode_code(torch.randint(16384, (B, L)))
        decode_s = time.perf_counter() - start
    results = []
    print(f"GPT {args.layers} x {args.width}, vocab 16384, {L} tokens, B={B}, top-k {args.top_k}, "
          f"threads {torch.get_num_threads()}")
    print(f"{'contender':<20} {'s/image':>8}  {'vs official f32':>15}  runs (s per call of {B})")
    base = {p: statistics.median(times[f"official {p}"]) for p in ("float32", "bfloat16")} if official else None
    for name, ts in times.items():
        med = statistics.median(ts)
        speedup = base["float32"] / med if base else None
        results.append({"contender": name, "s_per_image": med / B, "runs_s": ts, "speedup_vs_official_f32": speedup})
        print(f"{name:<20} {med / B:8.3f}  {f'{speedup:.2f}x' if speedup else '-':>15}  "
              f"[{', '.join(f'{t:.2f}' for t in ts)}]")
    print(f"released-size VQGAN decode (float32): {decode_s / B:.3f} s/image")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "layers": args.layers, "width": args.width, "batch": B, "top_k": args.top_k, "threads": args.threads,
        "official": str(args.official) if official else None, "decode_s_per_image": decode_s / B,
        "peak_rss_mib": peak_mib, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
