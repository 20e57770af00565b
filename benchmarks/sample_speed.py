"""Sampling speed against the official FoundationVision/VAR code itself, on the same weights, in one process.

Contenders, alternated in every repetition and reported as medians (seconds per image, decode included):
- ``official``: the official ``VAR.autoregressive_infer_cfg`` and ``VQVAE`` classes, imported from a checkout
  given with ``--official`` (kept outside this repository), loaded with vargym's random weights
  (``load_state_dict(strict=True)``: the key names are the official ones). Absent -> skipped, and said so.
- ``vargym float32`` / ``vargym bfloat16``: ``generator.sample`` + ``generator.decode`` with the same guidance,
  top-k and top-p; bfloat16 autocasts the transformer; ``bfloat16 + bf16 decode`` the decoder too.
- ``vargym float32 cfg=0``: unguided (B rows instead of 2B), for reference.

Usage:
    python benchmarks/sample_speed.py --official /path/to/VAR [--preset var-d16] [--batches 1 4] [--reps 3]
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

from vargym.models import ClassCondition, SamplingConfig, VARGenerator, build_preset, preset_configs


def official_models(path: Path, vqvae, var):
    """The official VQVAE and VAR classes from ``path``, holding vargym's weights."""
    sys.path.insert(0, str(path))
    from models import VAR, VQVAE  # the official checkout's own modules

    vq_cfg, var_cfg = vqvae.cfg, var.cfg
    official_vae = VQVAE(vocab_size=vq_cfg.vocab_size, z_channels=vq_cfg.z_channels, ch=vq_cfg.ch, test_mode=True,
                         share_quant_resi=vq_cfg.share_quant_resi, v_patch_nums=vq_cfg.v_patch_nums)
    official_var = VAR(vae_local=official_vae, num_classes=var_cfg.num_classes, depth=var_cfg.depth,
                       embed_dim=var_cfg.embed_dim, num_heads=var_cfg.num_heads, mlp_ratio=var_cfg.mlp_ratio,
                       drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=var_cfg.drop_path_rate,
                       norm_eps=var_cfg.norm_eps, shared_aln=var_cfg.shared_aln, cond_drop_rate=var_cfg.cond_drop_rate,
                       attn_l2_norm=var_cfg.attn_l2_norm, patch_nums=var_cfg.patch_nums,
                       flash_if_available=False, fused_if_available=False)
    official_vae.load_state_dict(vqvae.state_dict(), strict=True)
    official_var.load_state_dict(var.state_dict(), strict=True)
    return official_vae.eval(), official_var.eval()


def sgemm_gflops(size: int = 1024, reps: int = 5) -> float:
    """The machine's float32 matmul speed (the issue's baseline figures came with about 180 GFLOP/s)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * size**3 * reps / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, default=None, help="a checkout of FoundationVision/VAR")
    parser.add_argument("--preset", default="var-d16")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cfg", type=float, default=1.5)
    parser.add_argument("--top-k", type=int, default=900)
    parser.add_argument("--top-p", type=float, default=0.96)
    parser.add_argument("--out", default="benchmarks/results/sample_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    preset_configs(args.preset)
    torch.manual_seed(0)
    vqvae, var = build_preset(args.preset)
    generator = VARGenerator(vqvae.eval(), var.eval())
    official = None
    if args.official is not None and (args.official / "models" / "var.py").is_file():
        official = official_models(args.official, vqvae, var)
    else:
        print(f"official contender skipped: no FoundationVision/VAR checkout at {args.official} (pass --official)")
    gflops = sgemm_gflops()
    print(f"sgemm probe: {gflops:.0f} GFLOP/s; preset {args.preset}; threads {torch.get_num_threads()}; "
          f"cfg {args.cfg}, top_k {args.top_k}, top_p {args.top_p}; decode included")
    results = []
    for B in args.batches:
        labels = torch.arange(B) % var.num_classes
        cond = ClassCondition(labels)

        def ours(precision: str, cfg: float = args.cfg, cond: ClassCondition = cond, decode: str = "float32") -> None:
            sampling = SamplingConfig(cfg=cfg, top_k=args.top_k, top_p=args.top_p, precision=precision,
                                      decode_precision=decode)
            with torch.no_grad():
                generator.decode(generator.sample(cond, sampling, torch.Generator().manual_seed(0)), decode)

        contenders = {
            "vargym float32": lambda: ours("float32"),
            "vargym bfloat16": lambda: ours("bfloat16"),
            "vargym bfloat16 + bf16 decode": lambda: ours("bfloat16", decode="bfloat16"),
            "vargym float32 cfg=0": lambda: ours("float32", 0.0),
        }
        if official is not None:
            def official_sample(B: int = B, labels: torch.Tensor = labels) -> None:
                with torch.no_grad():
                    official[1].autoregressive_infer_cfg(B, labels, g_seed=0, cfg=args.cfg, top_k=args.top_k,
                                                         top_p=args.top_p)

            contenders = {"official float32": official_sample, **contenders}
        ours("float32")  # warm-up
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.reps):  # alternate the contenders in every repetition
            for name, fn in contenders.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        base = statistics.median(times["official float32"]) if official is not None else None
        for name, ts in times.items():
            med = statistics.median(ts)
            speedup = base / med if base else None
            results.append({"batch": B, "contender": name, "s_per_image": med / B, "runs_s": ts,
                            "speedup_vs_official": speedup})
            runs = ", ".join(f"{t:.2f}" for t in ts)
            extra = f"  {speedup:.2f}x official" if speedup else ""
            print(f"B={B:<3} {name:<30} {med / B:7.2f} s/image{extra}  runs [{runs}]")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mib:.0f} MiB")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({
        "preset": args.preset, "threads": args.threads, "cfg": args.cfg, "top_k": args.top_k, "top_p": args.top_p,
        "official": str(args.official) if official is not None else None, "sgemm_gflops": gflops,
        "peak_rss_mib": peak_mib, "results": results}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
