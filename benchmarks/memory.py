"""Training memory per preset x minibatch x activation checkpointing, without a GPU.

For each configuration the RL update's teacher-forced pass (`Generator.forward_rl`, the pass that holds
activations for backward) runs on the **meta device**: no memory is allocated and no arithmetic is done, but
autograd records every tensor it saves for backward, and their sizes are summed (saved-tensor hooks). That
is a measurement of the activation memory of the real code path, exact up to the allocator's rounding and
the transient buffers of one kernel. The rest is counted from the parameters:

    static = weights 4 B + gradients 4 B + AdamW state 8 B per trainable parameter
             + a frozen float32 reference copy 4 B per parameter (full fine-tuning with a KL term)
    peak  ~= static + saved activations (+ one block recomputed in backward, with checkpointing)

Decoder (VQ) memory is not included: it runs without grad and one image at a time would do. float32
throughout; bf16 autocast roughly halves the activations. Figures are GiB.

A t2i preset (``llamagen-t2i-xl``) gets its own rows (``t2i_rows`` in the JSON): full fine-tuning against LoRA
(rank 16 on the attention and FFN projections; the reference is the network with its adapters off, so no copy),
each with and without checkpointing, for 120 caption slots; and the text encoder beside them: FLAN-T5-XL's
encoder resident in bf16 (as it runs on a GPU) or nothing at all with a features file (``--text-features``).

Usage:
    python benchmarks/memory.py [--presets var-d16 var-d30 llamagen-b] [--minibatch 1 8 32]
    python benchmarks/memory.py --presets llamagen-t2i-xl --minibatch 1 8 --out benchmarks/results/memory_t2i.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vargym.models import ClassCondition, SamplingConfig, as_generator, build_preset

GIB = 1024**3


def saved_bytes(generator, rows: int, cfg: float) -> int:
    """Bytes autograd keeps for backward in one teacher-forced pass of ``rows`` sequences (meta device)."""
    seen: dict[int, torch.Tensor] = {}  # held, so that ids are not reused while counting
    weights = {id(p) for p in generator.policy.parameters()}  # saved too, but not activations

    def pack(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in weights and id(getattr(t, "_base", None)) not in weights:
            seen.setdefault(id(t), t)
        return t

    labels = torch.zeros(rows, dtype=torch.long, device="meta")
    tokens = torch.zeros(rows, generator.layout.num_tokens, dtype=torch.long, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = _forward(generator, labels, tokens, cfg)
    del out
    return sum(t.numel() * t.element_size() for t in seen.values())


def _forward(generator, labels: torch.Tensor, tokens: torch.Tensor, cfg: float):
    return generator.forward_rl(ClassCondition(labels), tokens, SamplingConfig(cfg=cfg)).log_probs.sum()


FLAN_T5_XL = {"d_model": 2048, "d_kv": 64, "d_ff": 5120, "num_layers": 24, "num_heads": 32, "vocab_size": 32128,
              "feed_forward_proj": "gated-gelu"}
"""FLAN-T5-XL's published config (the encoder LlamaGen t2i reads)."""


def t5_encoder_gib(bytes_per_value: int = 2) -> float:
    """FLAN-T5-XL's encoder weights, counted on the meta device (bf16: 2 B per value)."""
    from transformers import T5Config, T5EncoderModel

    with torch.device("meta"):
        encoder = T5EncoderModel(T5Config(**FLAN_T5_XL))
    return sum(p.numel() for p in encoder.parameters()) * bytes_per_value / GIB


def t2i_saved_bytes(gpt, rows: int, cfg: float) -> int:
    """As `saved_bytes`, for a t2i GPT on caption features [rows, T, Cd] with a left-padded mask."""
    seen: dict[int, torch.Tensor] = {}
    weights = {id(p) for p in gpt.parameters()}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if id(t) not in weights and id(getattr(t, "_base", None)) not in weights:
            seen.setdefault(id(t), t)
        return t

    T, Cd = gpt.cfg.cls_token_num, gpt.cfg.caption_dim
    captions = torch.zeros(rows, T, Cd, device="meta")
    mask = torch.ones(rows, T, dtype=torch.bool, device="meta")
    tokens = torch.zeros(rows, gpt.block_size, dtype=torch.long, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = gpt.forward_rl(captions, tokens, cfg=cfg, caption_mask=mask).log_probs.sum()
    del out
    return sum(t.numel() * t.element_size() for t in seen.values())


def t2i_rows(preset: str, minibatches: list[int], cfg: float, lora_rank: int = 16) -> list[dict]:
    """Full vs LoRA x checkpointing off/on x minibatch, plus the text encoder's share."""
    from vargym.models.lora import LoRAConfig, apply_lora
    from vargym.models.registry import get_family

    t5 = t5_encoder_gib()
    rows = []
    print(f"{preset}: FLAN-T5-XL encoder resident (bf16) {t5:.2f} GiB; with --text-features 0")
    print(f"{'mode':<10} {'trainable':>10} {'static':>7} {'mb':>4} {'act off':>8} {'peak off':>9} {'act on':>7} "
          f"{'peak on':>8} {'+T5 on':>7}   (GiB, float32, AdamW)")
    for mode in ("full", f"lora-{lora_rank}"):
        with torch.device("meta"):
            _, gpt = build_preset(preset)
            if mode != "full":
                apply_lora(gpt, LoRAConfig(rank=lora_rank, targets=get_family("llamagen").lora_targets))
        gpt.eval()
        gpt.trim_caption_window = False  # the mask is full here (120 valid slots): nothing to trim, and no .item() on meta
        if mode == "full":
            gpt.requires_grad_(True)
        params = sum(p.numel() for p in gpt.parameters())
        trainable = sum(p.numel() for p in gpt.parameters() if p.requires_grad)
        # full: weights, grads, AdamW and a frozen reference copy; LoRA: frozen weights + the adapters' state
        static = params * 8 + trainable * 12 if mode == "full" else params * 4 + trainable * 12
        for mb in minibatches:
            gpt.gradient_checkpointing = False
            off = t2i_saved_bytes(gpt, mb, cfg)
            gpt.gradient_checkpointing = True
            on = t2i_saved_bytes(gpt, mb, cfg)
            block = (off - on) / len(gpt.layers)
            row = {"preset": preset, "mode": mode, "params": params, "trainable": trainable, "minibatch": mb,
                   "static_gib": static / GIB, "activations_gib": off / GIB, "peak_gib": (static + off) / GIB,
                   "activations_checkpointed_gib": on / GIB,
                   "peak_checkpointed_gib": (static + on + block) / GIB, "t5_resident_gib": t5}
            rows.append(row)
            print(f"{mode:<10} {trainable / 1e6:9.1f}M {static / GIB:7.2f} {mb:>4} {off / GIB:8.2f} "
                  f"{row['peak_gib']:9.2f} {on / GIB:7.2f} {row['peak_checkpointed_gib']:8.2f} "
                  f"{row['peak_checkpointed_gib'] + t5:7.2f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+",
                        default=["var-d16", "var-d20", "var-d24", "var-d30", "llamagen-b", "llamagen-l"])
    parser.add_argument("--minibatch", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--cfg", type=float, default=0.0, help="guidance in the update (doubles the rows when on)")
    parser.add_argument("--out", default="benchmarks/results/memory.json")
    args = parser.parse_args()
    rows = []
    print(f"{'preset':<12} {'params':>8} {'static':>7} {'mb':>4} {'act off':>8} {'peak off':>9} "
          f"{'act on':>7} {'peak on':>8}   (GiB, float32, AdamW, full fine-tuning + reference)")
    t2i = []
    for preset in args.presets:
        if "-t2i" in preset:
            t2i += t2i_rows(preset, args.minibatch, args.cfg)
            continue
        with torch.device("meta"):
            generator = as_generator(build_preset(preset))
        generator.policy.eval().requires_grad_(True)
        params = sum(p.numel() for p in generator.policy.parameters())
        static = params * (4 + 4 + 8 + 4)
        depth = len(getattr(generator.policy, "blocks", getattr(generator.policy, "layers", [])))
        for mb in args.minibatch:
            generator.set_gradient_checkpointing(False)
            off = saved_bytes(generator, mb, args.cfg)
            generator.set_gradient_checkpointing(True)
            on = saved_bytes(generator, mb, args.cfg)
            block = (off - on) / max(depth, 1)  # one block's activations, recomputed during backward
            row = {"preset": preset, "params": params, "minibatch": mb, "static_gib": static / GIB,
                   "activations_gib": off / GIB, "peak_gib": (static + off) / GIB,
                   "activations_checkpointed_gib": on / GIB, "peak_checkpointed_gib": (static + on + block) / GIB}
            rows.append(row)
            print(f"{preset:<12} {params / 1e6:7.0f}M {static / GIB:7.2f} {mb:>4} {off / GIB:8.2f} "
                  f"{row['peak_gib']:9.2f} {on / GIB:7.2f} {row['peak_checkpointed_gib']:8.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"method": "meta-device saved-tensor count + parameter arithmetic",
                                          "cfg": args.cfg, "rows": rows, "t2i_rows": t2i}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
