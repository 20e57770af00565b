"""LlamaGen sampling speed against the official FoundationVision/LlamaGen code itself, same weights, one process.

Contenders, alternated in every repetition and reported as medians (seconds per image, VQ decode included):
- ``official float32``: the official ``generate`` (``autoregressive/models/generate.py``) on the official
  ``Transformer`` and ``VQModel.decode_code``, imported from a checkout given with ``--official`` (kept
  outside this repository) and loaded with vargym's random weights (``load_state_dict(strict=True)``: the
  key names are the official ones). Absent -> skipped, and said so.
- ``vargym float32``: ``generator.sample`` + ``generator.decode`` at the same settings and numerics.
- ``vargym bfloat16`` (+ ``bf16 decode``): the GPT (and the decoder) under bf16 autocast.

The default settings are the official demos': ``sample_c2i.py`` (cfg 4.0, top-k 2000) for a c2i preset,
``sample_t2i.py`` (cfg 7.5, top-k 1000) for a t2i one; top-p 1, temperature 1. A t2i preset (``llamagen-t2i-xl``)
samples from random caption features, left-padded to prompt lengths 9 to 33 of the 120 slots, with their masks
(the text encoder is left out on both sides: it is the same T5 either way); vargym trims the caption window to
the batch's longest prompt, the official ``generate`` runs all 120 slots.

Usage:
    python benchmarks/llamagen_speed.py --official /path/to/LlamaGen [--preset llamagen-b] [--batch 4] [--reps 3]
    python benchmarks/llamagen_speed.py --official /path/to/LlamaGen --preset llamagen-t2i-xl --batch 2 --reps 2
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from vargym.models import ClassCondition, LlamaGenGenerator, SamplingConfig, build_preset
from vargym.models.generator import autocast


def official_models(path: Path, vq, gpt):
    """The official VQModel and Transformer from ``path``, holding vargym's weights."""
    sys.path.insert(0, str(path))
    from autoregressive.models.generate import generate
    from autoregressive.models.gpt import ModelArgs, Transformer
    from tokenizer.tokenizer_image.vq_model import Decoder, Encoder, VQModel
    from tokenizer.tokenizer_image.vq_model import ModelArgs as VQArgs

    c, g = vq.cfg, gpt.cfg
    official_vq = VQModel(VQArgs(codebook_size=c.codebook_size, codebook_embed_dim=c.codebook_embed_dim,
                                 encoder_ch_mult=list(c.encoder_ch_mult), decoder_ch_mult=list(c.decoder_ch_mult),
                                 z_channels=c.z_channels))
    if c.ch != 128 or c.num_res_blocks != 2:  # VQModel fixes these; swap in the official blocks at our size
        official_vq.encoder = Encoder(ch=c.ch, ch_mult=c.encoder_ch_mult, num_res_blocks=c.num_res_blocks,
                                      z_channels=c.z_channels)
        official_vq.decoder = Decoder(ch=c.ch, ch_mult=c.decoder_ch_mult, num_res_blocks=c.num_res_blocks,
                                      z_channels=c.z_channels)
    official_gpt = Transformer(ModelArgs(dim=g.dim, n_layer=g.n_layer, n_head=g.n_head, n_kv_head=g.n_kv_head,
                                         vocab_size=g.vocab_size, block_size=g.block_size, num_classes=g.num_classes,
                                         cls_token_num=g.cls_token_num, model_type=g.model_type,
                                         caption_dim=g.caption_dim))
    official_vq.load_state_dict(vq.state_dict(), strict=True)
    official_gpt.load_state_dict(gpt.state_dict(), strict=True)
    return official_vq.eval(), official_gpt.eval(), generate


def probes(size: int = 1024, reps: int = 5) -> tuple[float, float]:
    """(float32 matmul GFLOP/s, weight-streaming GB/s of an 8-row matmul), to show the host was steady."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    gflops = 2 * size**3 * reps / (time.perf_counter() - start) / 1e9
    w, x = torch.randn(16384, 4096), torch.randn(8, 4096)
    x @ w.t()
    start = time.perf_counter()
    for _ in range(reps):
        x @ w.t()
    return gflops, w.numel() * 4 * reps / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, default=None, help="a checkout of FoundationVision/LlamaGen")
    parser.add_argument("--preset", default="llamagen-b")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cfg", type=float, default=None, help="default: the official demo's (c2i 4.0, t2i 7.5)")
    parser.add_argument("--top-k", type=int, default=None, help="default: the official demo's (c2i 2000, t2i 1000)")
    parser.add_argument("--skip-bf16", action="store_true", help="time float32 only (official vs vargym)")
    parser.add_argument("--out", default=None, help="default: benchmarks/results/llamagen_speed[_t2i].json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    vq, gpt = build_preset(args.preset)
    for p in gpt.parameters():  # the official init zeroes the head (uniform logits): give it a real distribution
        if p.ndim == 2:
            torch.nn.init.normal_(p, std=0.02)
    text = gpt.cfg.model_type == "t2i"
    args.cfg = args.cfg if args.cfg is not None else (7.5 if text else 4.0)
    args.top_k = args.top_k if args.top_k is not None else (1000 if text else 2000)
    vq, gpt = vq.eval(), gpt.eval()
    generator = None if text else LlamaGenGenerator(vq, gpt)
    official = None
    if args.official is not None and (args.official / "autoregressive" / "models" / "gpt.py").is_file():
        official = official_models(args.official, vq, gpt)
    else:
        print(f"official contender skipped: no FoundationVision/LlamaGen checkout at {args.official}")
    gflops, gbps = probes()
    B, L = args.batch, gpt.block_size
    print(f"probes: sgemm {gflops:.0f} GFLOP/s, weight streaming {gbps:.1f} GB/s; {args.preset}, B={B}, "
          f"threads {torch.get_num_threads()}; cfg {args.cfg}, top_k {args.top_k}; decode included")
    labels = torch.tensor([207, 360, 387, 974, 88, 979, 417, 279])[:B] % gpt.num_classes
    cond = ClassCondition(labels)
    if text:  # random caption features, left-padded to prompt lengths 9..33, padded slots zero (as the scripts do)
        T = gpt.cfg.cls_token_num
        lengths = torch.tensor([18, 33, 9, 25, 12, 30, 21, 15])[:B]
        mask = torch.arange(T).unsqueeze(0) >= (T - lengths).unsqueeze(1)  # [B, T]
        labels = torch.randn(B, T, gpt.cfg.caption_dim) * mask.unsqueeze(-1)  # the official generate's `cond`

    def ours(precision: str, decode: str = "float32") -> None:
        sampling = SamplingConfig(cfg=args.cfg, top_k=args.top_k, precision=precision, decode_precision=decode)
        with torch.no_grad():
            if not text:
                generator.decode(generator.sample(cond, sampling, torch.Generator().manual_seed(0)), decode)
                return
            sampler = gpt.make_sampler(labels, cfg=args.cfg, top_k=args.top_k, generator=torch.Generator().manual_seed(0),
                                       precision=precision, caption_mask=mask)
            tokens, _ = sampler.run()
            with autocast(decode, "cpu"):
                vq.decode_code(tokens)

    contenders = {"vargym float32": lambda: ours("float32")}
    if not args.skip_bf16:
        contenders["vargym bfloat16"] = lambda: ours("bfloat16")
        contenders["vargym bfloat16 + bf16 decode"] = lambda: ours("bfloat16", "bfloat16")
    if official is not None:
        official_vq, official_gpt, generate = official
        grid = vq.cfg.codebook_embed_dim, gpt.cfg.grid

        def official_sample() -> None:
            torch.manual_seed(0)
            with torch.no_grad():
                tokens = generate(official_gpt, labels, L, cfg_scale=args.cfg, cfg_interval=-1, temperature=1.0,
                                  top_k=args.top_k, top_p=1.0, sample_logits=True,
                                  **({"emb_masks": mask.long()} if text else {}))
                official_vq.decode_code(tokens, [B, grid[0], grid[1], grid[1]])

        contenders = {"official float32": official_sample, **contenders}
    ours("float32")  # warm-up
    times: dict[str, list[float]] = {name: [] for name in contenders}
    import warnings

    for _ in range(args.reps):  # alternate the contenders in every repetition
        for name, fn in contenders.items():
            start = time.perf_counter()
            with warnings.catch_warnings():  # the official loop enters a deprecated sdp_kernel context per step
                warnings.simplefilter("ignore", FutureWarning)
                fn()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["official float32"]) if official is not None else None
    results = []
    print(f"{'contender':<32} {'s/image':>8}  {'vs official':>11}  runs (s per call of {B})")
    for name, ts in times.items():
        med = statistics.median(ts)
        speedup = base / med if base else None
        results.append({"contender": name, "s_per_image": med / B, "runs_s": ts, "speedup_vs_official": speedup})
        runs = ", ".join(f"{t:.2f}" for t in ts)
        print(f"{name:<32} {med / B:8.2f}  {f'{speedup:.2f}x' if speedup else '-':>11}  [{runs}]")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mib:.0f} MiB")
    args.out = args.out or f"benchmarks/results/llamagen_speed{'_t2i' if text else ''}.json"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "preset": args.preset, "batch": B, "threads": args.threads, "cfg": args.cfg, "top_k": args.top_k,
        "official": str(args.official) if official is not None else None, "sgemm_gflops": gflops,
        "weight_streaming_gbps": gbps, "peak_rss_mib": peak_mib, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
