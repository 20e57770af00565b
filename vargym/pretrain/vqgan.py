"""Pretraining the taming-transformers family from scratch: its VQGAN tokenizer, then the class-conditional
minGPT on its raster tokens, then the tiny classifier and the quality figures. ``vargym pretrain --preset
tiny-vqgan`` runs it; this is how the shipped ``vargym/assets/tiny-vqgan`` was made (see its MODEL_CARD.md).

The stages are LlamaGen's (`vargym.pretrain.llamagen`) with the VQGAN's own quantizer: the raw latent's nearest
code (no normalisation) and the official legacy loss (``|sg(e) - z|^2 + beta |e - sg(z)|^2``). The tokenizer is
trained without the VQGAN paper's adversarial and perceptual terms (L1 + MSE + edge reconstruction instead, as
the other embedded tokenizers: no discriminator or LPIPS network is needed on a CPU). The GPT has no label
dropout: the model has no unconditional branch, so its samples are unguided, as the paper's.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from vargym.devices import resolve_device
from vargym.models.vqgan.presets import VQGAN_PRESETS, build_vqgan
from vargym.models.vqgan.transformer import MinGPT
from vargym.models.vqgan.vq import VQGAN
from vargym.pretrain.common import (
    PretrainResult,
    init_for_training,
    make_batches,
    start_run,
    train_or_load_classifier,
)
from vargym.pretrain.config import PretrainConfig
from vargym.pretrain.llamagen import llamagen_quality, train_llamagen_gpt, train_llamagen_vq
from vargym.pretrain.loop import ProgressCallback

__all__ = ["EVAL_TOP_K", "run_pretrain_vqgan"]

EVAL_TOP_K = (0, 100)
"""The sampling settings the quality figures report: temperature 1, unguided, no filtering and top-k 100."""


def vqgan_forward(vq: VQGAN, images: torch.Tensor, quantise: bool):
    """Reconstruction, VQ loss, code ids and the latent rows of a batch of [0, 1] images."""
    z = vq.quant_conv(vq.encoder(images * 2 - 1))  # [B, Cq, g, g]
    quant, vq_loss, codes = vq.quantize(z)
    recon = vq.decode(quant if quantise else z).add(1).mul(0.5)
    return recon, vq_loss, codes, z.detach().permute(0, 2, 3, 1).reshape(-1, z.shape[1])


def write_vqgan_card(path: Path, cfg: PretrainConfig, figures: dict, class_names: list[str], vq: VQGAN, gpt: MinGPT,
                     command: str) -> Path:
    import platform

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    g, v = gpt.cfg, vq.cfg
    lines = [
        f"# vargym pretrained VQGAN + transformer ({cfg.preset} preset)", "",
        "A class-conditional raster next-token model in taming-transformers' architecture (VQGAN + minGPT, the "
        "class as the first token) at a tiny size, trained from scratch by "
        "`vargym.pretrain.vqgan.run_pretrain_vqgan`.", "",
        "## Model", "",
        f"- Images: {cfg.image_size}x{cfg.image_size} RGB in [0, 1]; classes ({len(class_names)}): "
        + ", ".join(f"{i} {n}" for i, n in enumerate(class_names)),
        f"- VQGAN: {count(vq) / 1e6:.2f} M parameters; {v.n_embed} codes of dim {v.embed_dim}, downsample "
        f"{v.downsample}, ch {v.ch}, ch_mult {list(v.ch_mult)}, attention at {list(v.attn_resolutions)}",
        f"- GPT: {count(gpt) / 1e6:.2f} M parameters; {g.n_layer} layers, width {g.n_embd}, {g.n_head} heads, "
        f"{g.block_size} tokens per image; no label dropout (no guidance)",
        "- Data: procedural images generated on the fly (vargym.data.procedural)",
        "- Tokenizer loss: L1 + MSE + edge reconstruction and the official legacy VQ loss; no GAN or LPIPS term", "",
        "## Training", "", "```", command, "```", "",
        f"- Seed {cfg.seed}; torch {torch.__version__}; {platform.machine()} CPU threads {torch.get_num_threads()}",
        f"- Wall time: VQGAN {figures.get('vq_wall_s', 0):.0f} s, GPT {figures.get('gpt_wall_s', 0):.0f} s, "
        f"classifier {figures.get('classifier_wall_s', 0):.0f} s, evaluation {figures.get('eval_wall_s', 0):.0f} s",
        "", "| field | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in dataclasses.asdict(cfg).items()], "",
        "## Results", "",
        f"Samples: temperature 1, unguided, top-k {' and '.join(map(str, EVAL_TOP_K))} (0: no filtering); "
        f"{cfg.eval_per_class} samples per class scored by the tiny classifier.", "",
        "| figure | value |", "|---|---|",
        *[f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in figures.items()], "",
        "## Intended use", "",
        "vargym's third embedded family: the classes of the tiny VAR and LlamaGen, so RL algorithms can be compared "
        "across families on a CPU, and guidance-free RL (seed 002's setting) tried. Not a model of natural images.", "",
    ]
    path.write_text("\n".join(lines))
    return path


def run_pretrain_vqgan(cfg: PretrainConfig, progress: ProgressCallback | None = None,
                       command: str | None = None) -> PretrainResult:
    """All stages for a VQGAN preset; writes a directory `vargym.models.load_generator` loads."""
    from vargym.models.vqgan.loading import save_vqgan_checkpoint

    out_dir = start_run(cfg, ("vq", "gpt"))
    device = resolve_device(cfg.device)
    batches, class_names = make_batches(cfg, device)
    vq_cfg, gpt_cfg = VQGAN_PRESETS[cfg.preset]
    gpt_cfg = dataclasses.replace(gpt_cfg, num_classes=len(class_names))
    if vq_cfg.resolution != cfg.image_size:
        raise ValueError(f"image_size={cfg.image_size} must be the {cfg.preset} VQGAN's resolution {vq_cfg.resolution}")
    torch.manual_seed(cfg.seed)
    vq, gpt = build_vqgan(vq_cfg, gpt_cfg)
    init_for_training(vq)  # He-normal convolutions keep the image's signal through the conv chain
    vq.to(device)
    gpt.to(device)
    figures: dict[str, float] = {}
    figures.update(train_llamagen_vq(cfg, vq, batches, out_dir, progress, forward=vqgan_forward))
    vq.requires_grad_(False)
    figures.update(train_llamagen_gpt(cfg, vq, gpt, batches, out_dir, progress))
    classifier, classifier_figures = train_or_load_classifier(cfg, out_dir, device, progress)
    figures.update(classifier_figures)
    extra = {"class_names": class_names, "pretrain": dataclasses.asdict(cfg), "figures": figures}
    save_vqgan_checkpoint(out_dir, vq, gpt, extra)
    start = time.perf_counter()
    settings = {f"samples_topk{k}": {"top_k": k} for k in EVAL_TOP_K}
    figures.update(llamagen_quality(cfg, vq, gpt, classifier, batches, class_names, out_dir, settings))
    figures["eval_wall_s"] = time.perf_counter() - start
    save_vqgan_checkpoint(out_dir, vq, gpt, {**extra, "figures": figures})
    write_vqgan_card(out_dir / "MODEL_CARD.md", cfg, figures, class_names, vq, gpt, command or f"run_pretrain({cfg!r})")
    return PretrainResult(out_dir, figures)
