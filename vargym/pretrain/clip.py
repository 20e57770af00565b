"""Pretraining a tiny CLIP on the captioned procedural world, so that CLIP-style prompt rewards (``clip`` and the
recipes built on it) run offline on images that mean something. ``vargym pretrain-clip`` runs it; this is how
the shipped ``vargym/assets/tiny-clip`` was made (see its MODEL_CARD.md).

The model is open_clip's own `open_clip.CLIP` (a ViT and a causal text transformer over open_clip's BPE
tokenizer) at a tiny size, saved in open_clip's Hugging Face layout (``open_clip_config.json`` +
``open_clip_model.safetensors``), so that `vargym.rewards.clip_models.load_clip` and open_clip itself
(``local-dir:``) both load it. It trains with CLIP's symmetric contrastive loss on fresh renders of the seen
compositions and their captions; two rows of a batch with the same attributes count as positives of each other
(captions differ only in template and synonyms there), so the loss never pushes apart a matching pair.
Batches are seeded per step, so resume is exact.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vargym.pretrain.common import start_run, step_seed
from vargym.pretrain.config import IMAGE_SIZE, VOCAB_SIZE, TinyClipConfig
from vargym.pretrain.loop import ProgressCallback, Stage, adamw, run_stage
from vargym.rewards.clip_models import (
    CONFIG_FILE,
    OPENAI_MEAN,
    OPENAI_STD,
    WEIGHTS_FILE,
    clip_preprocess,
    load_clip,
)

__all__ = ["TinyClipConfig", "build_tiny_clip", "contrastive_loss", "run_pretrain_clip", "train_tiny_clip",
           "zero_shot_accuracy"]

def build_tiny_clip(cfg: TinyClipConfig) -> nn.Module:
    """A freshly initialised `open_clip.CLIP` of ``cfg``'s architecture (seeded by ``cfg.seed``)."""
    import open_clip

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return open_clip.CLIP(**cfg.model_cfg())


def _tokenizer(context_length: int):
    import open_clip

    return open_clip.SimpleTokenizer(context_length=context_length)


def _pixels(images: torch.Tensor) -> torch.Tensor:
    """[N, 3, 64, 64] in [0, 1] -> CLIP's normalised input (OpenAI mean and std, as `ClipBackbone` feeds it)."""
    mean = torch.tensor(OPENAI_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD, device=images.device).view(1, 3, 1, 1)
    return clip_preprocess(images, IMAGE_SIZE, mean, std)


def contrastive_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor,
                     attributes: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric cross-entropy over a batch, every row with the same attributes a positive."""
    logits = logit_scale.exp() * F.normalize(image_emb, dim=-1) @ F.normalize(text_emb, dim=-1).T  # [B, B]
    same = (attributes[:, None, :] == attributes[None, :, :]).all(-1).float()  # [B, B], diagonal 1
    targets = same / same.sum(1, keepdim=True)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


def _batch(cfg: TinyClipConfig, step: int, size: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from vargym.data.captioned import caption, draw, render

    generator = torch.Generator().manual_seed(step_seed(cfg.seed, 31, step))
    rows = draw(size, generator, "seen", cfg.objects)
    return render(rows, generator, IMAGE_SIZE), rows, [caption(row, generator) for row in rows]


def train_tiny_clip(cfg: TinyClipConfig, model: nn.Module, out_dir: Path,
                    progress: ProgressCallback | None = None) -> dict[str, float]:
    """Train ``model`` in place (see the module docstring); figures ``clip_final_loss`` and ``clip_wall_s``."""
    device = next(model.parameters()).device
    tokenizer = _tokenizer(cfg.context_length)
    optimizer = adamw(model, cfg.lr, cfg.weight_decay, (0.9, 0.98))

    def loss(step: int):
        images, rows, captions = _batch(cfg, step, cfg.batch_size)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            image_emb = model.encode_image(_pixels(images.to(device)))  # [B, D]
            text_emb = model.encode_text(tokenizer(captions).to(device))  # [B, D]
        value = contrastive_loss(image_emb.float(), text_emb.float(), model.logit_scale, rows.to(device))
        return value, {"loss": value.item(), "logit_scale": float(model.logit_scale.detach().exp())}

    @torch.no_grad()
    def after_step(step: int) -> dict[str, float]:
        model.logit_scale.clamp_(0, 4.6052)  # CLIP's cap: a temperature of at least 1/100
        return {}

    stage = Stage("clip", cfg.steps, model, optimizer, cfg.lr, model.parameters(), loss, after_step)
    model.train()
    with torch.random.fork_rng(devices=[]):
        state = run_stage(stage, out_dir, resume=cfg.resume, warmup_fraction=cfg.warmup_fraction, grad_clip=1.0,
                          log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every, progress=progress)
    model.eval()
    recent = state["recent"]
    return {"clip_final_loss": sum(recent) / len(recent) if recent else float("nan"), "clip_wall_s": state["wall_s"]}


def _variants(row: torch.Tensor, position: int) -> tuple[list[torch.Tensor], int] | None:
    """``row`` with its attribute at ``position`` set to each value a caption of that kind can name, and the
    index of ``row``'s own value among them; None where the caption does not name that attribute."""
    from vargym.data.captioned import ATTRIBUTE_VALUES, SIZED_SHAPES, schema

    name = schema(row.shape[0])[position]
    value = int(row[position])
    if value < 0:
        return None
    values = list(range(len(ATTRIBUTE_VALUES[name])))
    if name in ("shape", "shape2"):  # an outlined shape has a size, a texture none; scenes have outlines only
        values = [v for v in values if (v < SIZED_SHAPES) == (value < SIZED_SHAPES)]
    rows = []
    for v in values:
        variant = row.clone()
        variant[position] = v
        rows.append(variant)
    return rows, values.index(value)


@torch.no_grad()
def zero_shot_accuracy(backbone: Any, split: str = "seen", num: int = 512, seed: int = 0,
                       objects: int = 1) -> dict[str, float]:
    """Per attribute, how often ``backbone`` (a `vargym.rewards.clip_models.ClipBackbone`) scores a render's
    own caption above every caption that names another value of that attribute only (same template and
    synonyms); ``mean`` averages the attributes. Renders of ``num`` compositions of ``split``, seeded."""
    from vargym.data.captioned import caption, draw, render, schema

    generator = torch.Generator().manual_seed(seed)
    rows = draw(num, generator, split, objects)
    images = render(rows, generator, IMAGE_SIZE)
    image_emb = torch.cat([backbone.encode_images(images[i:i + 256]) for i in range(0, num, 256)])  # [N, D]
    names = schema(rows.shape[1])
    right: dict[str, list[bool]] = {name: [] for name in names}
    for i, row in enumerate(rows):
        for position, name in enumerate(names):
            found = _variants(row, position)
            if found is None:
                continue
            variants, own = found
            captions = [caption(v, torch.Generator().manual_seed(seed * 100_003 + i)) for v in variants]
            scores = backbone.encode_texts(captions) @ image_emb[i]  # [V]
            right[name].append(int(scores.argmax()) == own)
    out = {name: sum(hits) / len(hits) for name, hits in right.items() if hits}
    out["mean"] = sum(out.values()) / len(out)
    return out


def save_tiny_clip(model: nn.Module, cfg: TinyClipConfig, out_dir: Path, figures: dict[str, float]) -> None:
    """open_clip's Hugging Face layout: ``open_clip_model.safetensors`` (float16 weights: half the file, and the
    figures are measured on the weights as stored) and `write_clip_config`."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(out_dir / WEIGHTS_FILE))
    write_clip_config(cfg, out_dir, figures)


def write_clip_config(cfg: TinyClipConfig, out_dir: Path, figures: dict[str, float]) -> None:
    """``open_clip_config.json``: the architecture, the preprocessing, this run's settings and figures."""
    config = {"model_cfg": cfg.model_cfg(),
              "preprocess_cfg": {"mean": list(OPENAI_MEAN), "std": list(OPENAI_STD), "interpolation": "bicubic",
                                 "resize_mode": "shortest"},
              "vargym": {"pretrain": dataclasses.asdict(cfg), "figures": figures}}
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")


def write_clip_card(path: Path, cfg: TinyClipConfig, model: nn.Module, figures: dict[str, float], command: str) -> Path:
    """MODEL_CARD.md of a tiny-CLIP run: what the model is, how it was trained, the run's own figures."""
    import platform

    count = sum(p.numel() for p in model.parameters())
    embedding = model.token_embedding.weight.numel()
    world = ("one shape on a background" if cfg.objects == 1 else "two shapes and their relation on a background")
    lines = [
        "# vargym pretrained tiny CLIP", "",
        f"open_clip's `CLIP` at a tiny size, trained from scratch by `vargym.pretrain.clip` on the captioned "
        f"procedural world (`vargym.data.captioned`, {world}; seen compositions only).", "",
        "## Model", "",
        f"- {count / 1e6:.2f} M parameters, {embedding / 1e6:.2f} M of them the token embedding of open_clip's BPE "
        f"vocabulary ({VOCAB_SIZE} tokens); stored as float16",
        f"- Image tower: ViT, {IMAGE_SIZE} px, patch {cfg.patch_size}, width {cfg.vision_width}, {cfg.vision_layers} "
        f"blocks; text tower: width {cfg.text_width}, {cfg.text_layers} blocks, {cfg.context_length} tokens; "
        f"embedding {cfg.embed_dim}",
        "- Files: open_clip's Hugging Face layout (`open_clip_config.json`, `open_clip_model.safetensors`); "
        "`load_clip(\"tiny-clip\")` or open_clip's `create_model(\"local-dir:DIR\")` load it", "",
        "## Training", "", "```", command, "```", "",
        f"- Seed {cfg.seed}; torch {torch.__version__}; {platform.machine()} CPU threads {torch.get_num_threads()}",
        f"- Wall time: {figures.get('clip_wall_s', 0):.0f} s", "",
        "| field | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in dataclasses.asdict(cfg).items()], "",
        "## Results of the run", "",
        "Zero-shot swap test: how often a render's own caption scores above every caption that names another "
        "value of one attribute only (same template and synonyms), per attribute, on "
        f"{cfg.eval_images} renders of seen and of held-out compositions (shape/colour pairs never trained on).",
        "", "| figure | value |", "|---|---|",
        *[f"| {k} | {v:.4g} |" for k, v in figures.items()], "",
        "## Intended use", "",
        "Exercising CLIP-style prompt rewards (`clip`, the recipes built on it) offline on vargym's embedded "
        "text-to-image world. It is not a model of natural images or of natural language.", "",
    ]
    path.write_text("\n".join(lines))
    return path


def run_pretrain_clip(cfg: TinyClipConfig, progress: ProgressCallback | None = None,
                      command: str | None = None) -> Path:
    """Train, save and evaluate a tiny CLIP; returns the model directory (``load_clip(str(dir))`` loads it)."""
    from vargym.devices import resolve_device

    out_dir = start_run(cfg, ("clip",))
    device = resolve_device(cfg.device)
    model = build_tiny_clip(cfg).to(device)
    figures = train_tiny_clip(cfg, model, out_dir, progress)
    save_tiny_clip(model, cfg, out_dir, figures)
    if cfg.eval_images:
        start = time.perf_counter()
        backbone = load_clip(str(out_dir), device=device)  # the weights as stored
        for split in ("seen", "held_out"):
            accuracy = zero_shot_accuracy(backbone, split, cfg.eval_images, cfg.seed + 1, cfg.objects)
            figures.update({f"{split}_{k}": v for k, v in accuracy.items()})
        figures["eval_wall_s"] = time.perf_counter() - start
        write_clip_config(cfg, out_dir, figures)
    write_clip_card(out_dir / "MODEL_CARD.md", cfg, model, figures,
                    command or f"vargym pretrain-clip --out {cfg.out_dir} --steps {cfg.steps}")
    return out_dir
