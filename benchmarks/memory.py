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

Usage:
    python benchmarks/memory.py [--presets var-d16 var-d30 llamagen-b] [--minibatch 1 8 32]
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
    for preset in args.presets:
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
                                          "cfg": args.cfg, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
