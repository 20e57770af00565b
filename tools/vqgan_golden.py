"""Golden values of the official taming-transformers code (VQGAN + class-conditional transformer) on tiny
random models, for `tests/models/test_vqgan_golden.py`.

Runs the unmodified official modules (``VQModel``, ``Net2NetTransformer``, minGPT's ``GPT`` and
``sample_with_past``) from a checkout of CompVis/taming-transformers kept outside this repository, on tiny
configurations whose every weight is redrawn (the official init leaves ``pos_emb`` at zero and LayerNorms at
identity, which would hide indexing bugs), and writes their inputs and outputs:

- the VQGAN: an image in [-1, 1] -> encoder features, quantised latent, indices; decode of the latent and of the
  indices (``decode_to_img``);
- the transformer: teacher-forced logits of ``Net2NetTransformer.forward`` (class token + image tokens);
- samples: greedy (``sample_with_past``, ``sample_logits=False``), and seeded stochastic samples with top-k and a
  temperature (``sample_with_past`` under ``torch.manual_seed``: one ``torch.multinomial`` per step) with each
  step's filtered probabilities, so a reimplementation can replay the draws.

The weights are stored too (float16 values, stored exactly; the causal-mask buffers left out). Two
configurations: ``a`` (f4: 8x8 tokens of a 32 px image, attention at the lowest level) and ``b`` (f2, widths that
shrink, two residual blocks, 16x16 tokens, attention at the full-resolution level only).

Stand-ins, none of which touches a computation: ``main.instantiate_from_config`` (the official ``main.py``
imports training-only modules that no longer import), and ``transformers.top_k_top_p_filtering``, which current
transformers removed; the stand-in is the 4.3.1 function's rule (keep logits >= the k-th largest, then the
nucleus rule; at ``top_p=1.0`` it keeps everything the top-k kept).

Usage (in an environment with torch, einops and pytorch_lightning):
    python tools/vqgan_golden.py --official /path/to/taming-transformers --out tests/models/golden/vqgan
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import types
from pathlib import Path

import torch
from safetensors.torch import save_file

CONFIGS = {
    "a": {"ddconfig": {"double_z": False, "z_channels": 32, "resolution": 32, "in_channels": 3, "out_ch": 3,
                       "ch": 32, "ch_mult": [1, 1, 2], "num_res_blocks": 1, "attn_resolutions": [8],
                       "dropout": 0.0},
          "n_embed": 96, "embed_dim": 8, "gpt": {"n_layer": 2, "n_head": 4, "n_embd": 64}, "image_size": 32},
    "b": {"ddconfig": {"double_z": False, "z_channels": 64, "resolution": 32, "in_channels": 3, "out_ch": 3,
                       "ch": 32, "ch_mult": [2, 1], "num_res_blocks": 2, "attn_resolutions": [32],
                       "dropout": 0.0},
          "n_embed": 40, "embed_dim": 4, "gpt": {"n_layer": 3, "n_head": 2, "n_embd": 32}, "image_size": 32},
}


def _stand_ins() -> None:
    main = types.ModuleType("main")

    def instantiate_from_config(config):
        module, name = config["target"].rsplit(".", 1)
        return getattr(importlib.import_module(module), name)(**config.get("params", {}))

    main.instantiate_from_config = instantiate_from_config
    sys.modules["main"] = main
    try:
        from transformers import top_k_top_p_filtering  # noqa: F401
    except ImportError:
        fake = types.ModuleType("transformers")

        def top_k_top_p_filtering(logits, top_k=0, top_p=1.0, filter_value=-float("inf"), min_tokens_to_keep=1):
            if top_k > 0:
                top_k = min(max(top_k, min_tokens_to_keep), logits.size(-1))
                logits = logits.masked_fill(logits < torch.topk(logits, top_k)[0][..., -1, None], filter_value)
            if top_p < 1.0:
                sorted_logits, sorted_indices = torch.sort(logits, descending=True)
                cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
                remove = cumulative > top_p
                if min_tokens_to_keep > 1:
                    remove[..., :min_tokens_to_keep] = 0
                remove[..., 1:] = remove[..., :-1].clone()
                remove[..., 0] = 0
                logits = logits.masked_fill(remove.scatter(1, sorted_indices, remove), filter_value)
            return logits

        fake.top_k_top_p_filtering = top_k_top_p_filtering
        sys.modules["transformers"] = fake


def _redraw(model: torch.nn.Module, seed: int) -> None:
    """Every parameter drawn anew (scaled so activations stay O(1)) and rounded to float16 values, so the file
    stores them in half the bytes and exactly; buffers (the causal masks) kept."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=generator))
            else:
                fan_in = p[0].numel() if p.ndim > 1 else 1
                p.copy_(torch.randn(p.shape, generator=generator) / fan_in ** 0.5)
            p.copy_(p.half().float())


def build(name: str, seed: int):
    from taming.models.cond_transformer import Net2NetTransformer

    cfg = CONFIGS[name]
    latent = cfg["image_size"] // 2 ** (len(cfg["ddconfig"]["ch_mult"]) - 1)
    tokens = latent * latent
    model = Net2NetTransformer(
        transformer_config={"target": "taming.modules.transformer.mingpt.GPT",
                            "params": {"vocab_size": cfg["n_embed"], "block_size": tokens, **cfg["gpt"]}},
        first_stage_config={"target": "taming.models.vqgan.VQModel",
                            "params": {"ddconfig": cfg["ddconfig"], "n_embed": cfg["n_embed"],
                                       "embed_dim": cfg["embed_dim"],
                                       "lossconfig": {"target": "taming.modules.losses.DummyLoss"}}},
        cond_stage_config={"target": "taming.modules.util.Labelator", "params": {"n_classes": 10}},
        first_stage_key="image", cond_stage_key="class_label")
    _redraw(model, seed)
    with torch.no_grad():  # codes spread like the encoder's outputs, so the argmin is not degenerate
        model.first_stage_model.quantize.embedding.weight.mul_(2.0)  # exact: still float16 values
    return model.eval(), latent, tokens


@torch.no_grad()
def golden(name: str, seed: int) -> tuple[dict[str, torch.Tensor], dict]:
    from taming.modules.transformer.mingpt import sample_with_past

    model, latent, tokens = build(name, seed)
    vq = model.first_stage_model
    g = torch.Generator().manual_seed(seed + 1)
    size = CONFIGS[name]["image_size"]
    image = torch.rand(2, 3, size, size, generator=g) * 2 - 1  # [-1, 1], the official input range
    features = vq.quant_conv(vq.encoder(image))
    quant, _, (_, _, indices) = vq.encode(image)
    out = {"image": image, "features": features, "quant": quant, "indices": indices,
           "decoded": vq.decode(quant)}
    labels = torch.tensor([3, 7])
    z = torch.randint(CONFIGS[name]["n_embed"], (2, tokens), generator=g)
    zshape = [2, CONFIGS[name]["embed_dim"], latent, latent]
    out["decoded_from_indices"] = model.decode_to_img(z, zshape)
    logits, target = model(image, labels[:, None])
    out.update(labels=labels, tf_logits=logits, tf_target=target)
    # teacher forcing on given tokens (not the encoder's): the GPT on [class, z[:-1]]
    out["z"] = z
    out["z_logits"] = model.transformer(torch.cat([labels[:, None], z[:, :-1]], 1))[0]
    c = labels[:, None]
    out["greedy"] = sample_with_past(c, model.transformer, steps=tokens, sample_logits=False)
    out["greedy_no_cache"] = model.sample(c[:, :0], c, steps=tokens, sample=False)
    meta = {"config": CONFIGS[name], "seed": seed, "latent": latent, "tokens": tokens, "sampled": []}
    for case, (top_k, temperature, draw_seed) in enumerate(((5, 1.0, 11), (20, 0.7, 12))):
        probs: list[torch.Tensor] = []
        original = torch.multinomial

        def recording(p, num_samples, *args, probs=probs, original=original, **kwargs):
            probs.append(p.clone())
            return original(p, num_samples, *args, **kwargs)

        torch.multinomial = recording
        try:
            torch.manual_seed(draw_seed)
            sample = sample_with_past(c, model.transformer, steps=tokens, temperature=temperature, top_k=top_k,
                                      top_p=1.0)
        finally:
            torch.multinomial = original
        out[f"sample{case}"] = sample
        out[f"sample{case}_probs"] = torch.stack(probs, 1)  # [B, steps, V] of every draw
        meta["sampled"].append({"key": f"sample{case}", "top_k": top_k, "temperature": temperature,
                                "torch_seed": draw_seed})
    # the weights as float16 (exact, see _redraw), without the causal-mask buffers (tril of ones)
    out.update({f"state.{k}": v.half() for k, v in model.state_dict().items() if not k.endswith("attn.mask")})
    return {k: v.contiguous() for k, v in out.items()}, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, help="a checkout of CompVis/taming-transformers")
    parser.add_argument("--out", default="tests/models/golden/vqgan")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.official).resolve()))
    _stand_ins()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(CONFIGS):
        tensors, meta = golden(name, seed=100 + index)
        save_file(tensors, str(out / f"{name}.safetensors"))
        (out / f"{name}.json").write_text(json.dumps(meta, indent=2))
        print(f"{name}: {len(tensors)} tensors, {meta['tokens']} tokens -> {out / name}.safetensors")


if __name__ == "__main__":
    main()
