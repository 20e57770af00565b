"""Pretraining the tiny text-to-image LlamaGen (``vargym pretrain --preset tiny-t2i``): the embedded
text-to-image world.

Stages, each resumable exactly (batches and caption dropout are seeded per step):

1. **VQ tokenizer** on the captioned procedural images (`vargym.data.captioned`), the tiny LlamaGen's recipe.
2. **Text encoder and GPT together**: a tiny ``T5EncoderModel`` (FLAN-T5's layout: gated-GELU, relative
   positions) over a word-level vocabulary of the captions, and the t2i GPT in the official layout (caption
   slots with zero rotary rows, left padding, the caption mask, caption dropout to the null table for
   guidance), trained end to end on next-token cross-entropy under bf16 autocast, on a seeded pool of
   tokenised images (`token_pool`) with captions drawn afresh every step. Captions pass the official clean-up
   and the official tokenizer call, so the shipped encoder runs through `vargym.models.text.T5TextEncoder`
   unchanged.
3. **Two attribute classifiers** from different seeds (`vargym.data.attributes`): ``attr_reward`` (the
   ``attr`` reward) and ``attr_gold`` (the gold metric), each trained on images and their reconstructions.
4. **Text fidelity** per guidance scale on seen and held-out compositions, and the model card.

The T5 encoder is transformers' (the ``t2i`` extra): the embedded default then exercises the code path of
the real FLAN-T5, and vargym keeps no encoder of its own.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vargym.pretrain.common import PretrainResult, init_for_training, start_run, step_seed
from vargym.pretrain.config import PretrainConfig
from vargym.pretrain.loop import ProgressCallback, Stage, adamw, run_stage

__all__ = ["RL_TRAINING_DEFAULTS", "TEXT_WIDTH", "build_text_encoder", "run_pretrain_t2i", "word_vocabulary", "write_t2i_card"]

TEXT_WIDTH = 64
"""d_model of the tiny T5 = the caption width of the ``tiny-t2i`` GPT."""
RL_TRAINING_DEFAULTS = {"beta": 0.0, "steps": 36}
"""What the model's ``model.json`` recommends to ``vargym train`` (`vargym.models.training_defaults`): no KL term
and 36 iterations, the 5 minutes of the default run on a 2-core CPU (README "Text-to-image" has the runs that
chose them)."""
_T5 = {"d_kv": 16, "d_ff": 128, "num_layers": 2, "num_heads": 4, "relative_attention_num_buckets": 8,
       "relative_attention_max_distance": 16, "feed_forward_proj": "gated-gelu", "dropout_rate": 0.0}


@functools.lru_cache(maxsize=4)
def word_vocabulary(samples: int = 3000, objects: int = 1) -> list[tuple[str, float]]:
    """T5 pieces: the special tokens, then every word of the cleaned captions of ``objects`` objects (one piece
    each) and the punctuation they keep."""
    from vargym.data.captioned import caption, draw
    from vargym.models.text import clean_caption

    generator = torch.Generator().manual_seed(0)
    words: set[str] = set()
    punctuation: set[str] = set()
    for row in draw(samples, generator, "all", objects):
        for word in clean_caption(caption(row, generator)).split():
            core = word.strip(",.()")
            words.add(core)
            punctuation.update(c for c in word if c in ",.()")
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -8.0)]
    pieces += [(f"▁{w}", -1.0) for w in sorted(words)] + [(p, -2.0) for p in sorted(punctuation)]
    return pieces


def build_text_encoder(seed: int, width: int = TEXT_WIDTH, objects: int = 1) -> tuple[Any, Any]:
    """A fresh tiny ``T5EncoderModel`` and its word-level ``T5Tokenizer`` (the words of ``objects``-object
    captions)."""
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    tokenizer = T5Tokenizer(vocab=word_vocabulary(objects=objects), extra_ids=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=width, pad_token_id=0, eos_token_id=1,
                                        **_T5))
    return model, tokenizer


class TextToImage(nn.Module):
    """The two trained networks of stage 2, one module for the optimiser and the checkpoints."""

    def __init__(self, gpt: nn.Module, text: nn.Module) -> None:
        super().__init__()
        self.gpt, self.text = gpt, text


def caption_features(text: nn.Module, tokenizer: Any, captions: list[str], slots: int):
    """Left-padded caption features of ``captions`` through the official pipeline, with gradients."""
    from vargym.models.text import clean_caption
    from vargym.models.text.encoders import left_pad

    texts = [clean_caption(c) for c in captions]
    batch = tokenizer(texts, max_length=slots, padding="max_length", truncation=True, add_special_tokens=True,
                      return_attention_mask=True, return_tensors="pt")
    device = next(text.parameters()).device
    mask = batch["attention_mask"].to(device)
    hidden = text(input_ids=batch["input_ids"].to(device), attention_mask=mask).last_hidden_state  # [B, T, C]
    return left_pad(hidden, mask)


def _batches(cfg: PretrainConfig, device: torch.device):
    from vargym.data.captioned import caption, draw, render

    def batch(stage: int, step: int, size: int):
        generator = torch.Generator().manual_seed(step_seed(cfg.seed, stage, step))
        attributes = draw(size, generator, "seen", cfg.objects)
        images = render(attributes, generator, cfg.image_size).to(device)
        return images, attributes, [caption(row, generator) for row in attributes]

    return batch


POOL_BATCHES = 400
"""Stage 2 draws its images from a pool of ``POOL_BATCHES * var_batch_size`` tokenised images (fewer for short
runs; seeded, made once and kept in the run directory): tokenising fresh images would cost more than the GPT
step itself."""


@torch.no_grad()
def token_pool(cfg: PretrainConfig, vq: nn.Module, out_dir: Path, device: torch.device) -> dict[str, torch.Tensor]:
    """``{"tokens" [P, L] int64, "attributes" [P, A]}``: seen compositions, seeded; cached as safetensors."""
    from safetensors.torch import load_file, save_file

    from vargym.data.captioned import draw, render

    path = out_dir / "checkpoints" / "token_pool.safetensors"
    if path.is_file():
        return load_file(str(path))
    tokens, attributes = [], []
    for chunk in range(min(POOL_BATCHES, max(cfg.var_steps, 1))):  # never more images than the steps would draw
        generator = torch.Generator().manual_seed(step_seed(cfg.seed, 21, chunk))
        rows = draw(cfg.var_batch_size, generator, "seen", cfg.objects)
        tokens.append(vq.img_to_tokens(render(rows, generator, cfg.image_size).to(device)).cpu())
        attributes.append(rows)
    pool = {"tokens": torch.cat(tokens).contiguous(), "attributes": torch.cat(attributes).contiguous()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(pool, str(path))
    return pool


def train_text_to_image(cfg: PretrainConfig, vq: nn.Module, stack: TextToImage, tokenizer: Any, out_dir: Path,
                        progress: ProgressCallback | None = None) -> dict[str, float]:
    """Stage 2: the text encoder and the GPT, end to end, on batches of the token pool with freshly drawn
    captions (template and synonyms per step), under bf16 autocast."""
    from vargym.data.captioned import caption

    gpt, slots = stack.gpt, stack.gpt.cfg.cls_token_num
    device = gpt.output.weight.device
    pool = token_pool(cfg, vq, out_dir, device)
    optimizer = adamw(stack, cfg.var_lr, cfg.var_weight_decay, (0.9, 0.95))

    def loss(step: int):
        generator = torch.Generator().manual_seed(step_seed(cfg.seed, 1, step))
        index = torch.randint(pool["tokens"].shape[0], (cfg.var_batch_size,), generator=generator)
        tokens = pool["tokens"][index].to(device)  # [B, L]
        captions = [caption(row, generator) for row in pool["attributes"][index]]
        with torch.autocast(device.type, dtype=torch.bfloat16):
            text = caption_features(stack.text, tokenizer, captions, slots)
            torch.manual_seed(step_seed(cfg.seed, 11, step))  # caption dropout of this step
            logits = gpt(text.features, tokens, caption_mask=text.mask)  # [B, L, V]
        ce = F.cross_entropy(logits.float().flatten(0, 1), tokens.flatten())
        return ce, {"loss": ce.item()}

    stage = Stage("gpt", cfg.var_steps, stack, optimizer, cfg.var_lr, stack.parameters(), loss)
    stack.train()
    with torch.random.fork_rng(devices=[]):
        state = run_stage(stage, out_dir, resume=cfg.resume, warmup_fraction=cfg.warmup_fraction,
                          grad_clip=cfg.grad_clip, log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                          progress=progress)
    stack.eval()
    recent = state["recent"]
    return {"gpt_final_loss": sum(recent) / len(recent) if recent else float("nan"), "gpt_wall_s": state["wall_s"]}


def _classifier(cfg: PretrainConfig, out_dir: Path, name: str, seed: int, vq: nn.Module,
                progress: ProgressCallback | None) -> tuple[nn.Module, dict[str, float]]:
    from vargym.data.attributes import train_attribute_classifier
    from vargym.data.classifier import load_classifier, save_classifier

    folder = out_dir / name
    if cfg.resume and (folder / "classifier.json").is_file():
        figures = json.loads((folder / "figures.json").read_text()) if (folder / "figures.json").is_file() else {}
        return load_classifier(folder), {f"{name}_{k}": v for k, v in figures.items()}

    def reconstruct(images: torch.Tensor) -> torch.Tensor:
        return vq.tokens_to_img(vq.img_to_tokens(images))

    callback = None if progress is None else (lambda step, total, m: progress(name, step, total, m))
    model, figures = train_attribute_classifier(cfg.classifier_steps, cfg.classifier_batch_size, seed,
                                                augment=reconstruct, progress=callback,
                                                input_size=cfg.classifier_input_size, objects=cfg.objects)
    save_classifier(model, folder)
    (folder / "figures.json").write_text(json.dumps(figures, indent=2))
    return model, {f"{name}_{k}": v for k, v in figures.items()}


def write_t2i_card(path: Path, cfg: PretrainConfig, figures: dict, vq: nn.Module, gpt: nn.Module, text: nn.Module,
                   command: str) -> Path:
    """MODEL_CARD.md of a ``tiny-t2i`` run: what the model is, how it was trained, the run's own figures."""
    import platform

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    g = gpt.cfg
    fidelity = {k: v for k, v in figures.items() if k.startswith(("seen_", "held_out_"))}
    lines = [
        f"# vargym pretrained text-to-image LlamaGen ({cfg.preset} preset)", "",
        "A text-to-image raster next-token LlamaGen (VQ tokenizer, a tiny T5 encoder, the t2i GPT in the official "
        "layout) and two attribute classifiers, trained from scratch by `vargym.pretrain.text.run_pretrain_t2i`.", "",
        "## Model", "",
        f"- Images: {cfg.image_size}x{cfg.image_size} RGB in [0, 1] of the captioned procedural world "
        + ("(`vargym.data.captioned`: 10 shapes, 8 shape colours, 8 background colours, 2 sizes; captions from "
           "templates with synonyms; 10 shape/colour pairs held out of pretraining)" if cfg.objects == 1 else
           "(`vargym.data.captioned`, two objects: two of the 6 outlined shapes in 8 colours, one left of or above "
           "the other, on 8 background colours; captions from templates with synonyms, either order; scenes with a "
           "held-out shape/colour pair kept out of pretraining)"),
        f"- VQ tokenizer: {count(vq) / 1e6:.2f} M parameters; {vq.vocab_size} codes of dim "
        f"{vq.cfg.codebook_embed_dim} (L2-normalised), downsample {vq.downsample}",
        f"- Text encoder: a `T5EncoderModel` of {count(text) / 1e6:.2f} M parameters (width {TEXT_WIDTH}, "
        f"{_T5['num_layers']} layers, gated-GELU) over a word vocabulary of the captions (`text_encoder/`)",
        f"- GPT: {count(gpt) / 1e6:.2f} M parameters; {g.n_layer} layers, width {g.dim}, {g.n_head} heads, "
        f"{g.cls_token_num} caption slots of width {g.caption_dim}, {g.block_size} image tokens ({g.grid}x{g.grid}), "
        f"caption dropout {g.class_dropout_prob} (for CFG)",
        "- Classifiers: `attr_reward` (the `attr` reward) and `attr_gold` (the `text-fidelity` gold metric), "
        f"input {cfg.classifier_input_size} px, {cfg.classifier_steps} steps each, different seeds", "",
        "## Training", "", "```", command, "```", "",
        f"- Seed {cfg.seed}; torch {torch.__version__}; {platform.machine()} CPU threads {torch.get_num_threads()}",
        f"- Wall time: VQ {figures.get('vq_wall_s', 0):.0f} s, GPT {figures.get('gpt_wall_s', 0):.0f} s, "
        f"classifiers {figures.get('attr_reward_wall_s', 0) + figures.get('attr_gold_wall_s', 0):.0f} s, "
        f"evaluation {figures.get('eval_wall_s', 0):.0f} s",
        "", "| field | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in dataclasses.asdict(cfg).items()], "",
        "## Results of the run", "",
        "Text fidelity (all named attributes recognised by `attr_gold`) and per-attribute accuracy, temperature 1, "
        f"no filtering, {cfg.eval_per_class} samples per prompt of 100 seen and 50 held-out captions, per guidance "
        "scale (LlamaGen's convention: cfg <= 1 is unguided). Classifier figures: accuracy on 1024 fresh renders.", "",
        "| figure | value |", "|---|---|",
        *[f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in figures.items()
          if k in fidelity or k.startswith(("attr_", "gpt_", "vq_"))], "",
        "## Intended use", "",
        "The embedded text-to-image default of vargym: prompts, text encoders, prompt rewards and T2I training "
        "exercised on a CPU with a verifiable reward and an exact gold metric. It is not a model of natural images.",
        "",
    ]
    if cfg.objects == 1:
        lines += ["`model.json` recommends its RL settings to `vargym train` (\"training\": "
                  + ", ".join(f"{k} {v}" for k, v in RL_TRAINING_DEFAULTS.items())
                  + "; flags override them): README \"Text-to-image\" has the runs that chose them.", ""]
    path.write_text("\n".join(lines))
    return path


@torch.no_grad()
def text_fidelity(generator: Any, gold: nn.Module, prompts: Any, cfgs: tuple[float, ...], per_prompt: int,
                  seed: int) -> dict[str, float]:
    """Gold text fidelity and per-attribute accuracy of samples of ``prompts`` (a PromptSet with attribute
    metadata) per guidance scale (temperature 1, no filtering)."""
    from vargym.data.attributes import attribute_fidelity
    from vargym.data.captioned import attributes_from_metadata
    from vargym.models import SamplingConfig

    source = generator.condition_source(prompts)
    condition = source.first(source.pool_size, generator.device).repeat_interleave(per_prompt)
    attributes = attributes_from_metadata(condition.metadata)
    out: dict[str, float] = {}
    for guidance in cfgs:
        rng = torch.Generator(device=generator.device).manual_seed(seed)
        images = torch.cat([generator.decode(generator.sample(chunk, SamplingConfig(cfg=guidance), rng))
                            for chunk in (condition.index(slice(i, i + 256)) for i in range(0, len(condition), 256))])
        for key, value in attribute_fidelity(gold, images, attributes).items():
            out[f"cfg{guidance:g}_{key}"] = value
    return out


def run_pretrain_t2i(cfg: PretrainConfig, progress: ProgressCallback | None = None,
                     command: str | None = None) -> PretrainResult:
    """All stages for the ``tiny-t2i`` preset; writes a directory `vargym.models.load_generator` loads."""
    from vargym.data.prompts import procedural_prompts
    from vargym.devices import resolve_device
    from vargym.models.llamagen.generator import LlamaGenTextGenerator
    from vargym.models.llamagen.loading import save_llamagen_checkpoint
    from vargym.models.llamagen.presets import LLAMAGEN_PRESETS, build_llamagen
    from vargym.models.text import T5TextEncoder
    from vargym.pretrain.llamagen import train_llamagen_vq

    out_dir = start_run(cfg, ("vq", "gpt"))
    device = resolve_device(cfg.device)
    batches = _batches(cfg, device)
    vq_cfg, gpt_cfg = LLAMAGEN_PRESETS[cfg.preset]
    gpt_cfg = dataclasses.replace(gpt_cfg, class_dropout_prob=cfg.cond_drop_rate)
    torch.manual_seed(cfg.seed)
    vq, gpt = build_llamagen(vq_cfg, gpt_cfg)
    init_for_training(vq)
    torch.nn.init.normal_(gpt.output.weight, std=gpt_cfg.initializer_range)
    text, tokenizer = build_text_encoder(cfg.seed, gpt_cfg.caption_dim, cfg.objects)
    vq.to(device)
    stack = TextToImage(gpt, text).to(device)
    figures: dict[str, float] = {}
    figures.update(train_llamagen_vq(cfg, vq, lambda stage, step, size: batches(stage, step, size)[:2], out_dir,
                                     progress))
    vq.requires_grad_(False)
    figures.update(train_text_to_image(cfg, vq, stack, tokenizer, out_dir, progress))
    text_dir = out_dir / "text_encoder"
    text.save_pretrained(text_dir, safe_serialization=True)
    tokenizer.save_pretrained(text_dir)
    reward_model, reward_figures = _classifier(cfg, out_dir, "attr_reward", cfg.seed + 1, vq, progress)
    gold, gold_figures = _classifier(cfg, out_dir, "attr_gold", cfg.seed + 2, vq, progress)
    figures.update(reward_figures)
    figures.update(gold_figures)
    prompts = "procedural" if cfg.objects == 1 else "procedural-two-objects"
    extra = {"text_encoder": "text_encoder", "pretrain": dataclasses.asdict(cfg), "default_prompts": prompts,
             "gold": {"reward": "text-fidelity", "kwargs": {"classifier": "attr_gold"}}}
    if cfg.objects == 1:  # measured on this world only (README "Text-to-image")
        extra["training"] = RL_TRAINING_DEFAULTS
    save_llamagen_checkpoint(out_dir, vq, gpt, {**extra, "figures": figures})
    if cfg.eval_per_class:
        start = time.perf_counter()
        encoder = T5TextEncoder(text_dir, device=device, max_length=gpt_cfg.cls_token_num)
        generator = LlamaGenTextGenerator(vq, gpt, encoder)
        seen = procedural_prompts(100, cfg.seed + 3, objects=cfg.objects)
        held_out = procedural_prompts(50, cfg.seed + 4, "held_out", cfg.objects)
        for split, prompts in (("seen", seen), ("held_out", held_out)):
            figures.update({f"{split}_{k}": v for k, v in text_fidelity(
                generator, gold, prompts, cfg.eval_cfgs, cfg.eval_per_class, cfg.seed).items()})
        figures["eval_wall_s"] = time.perf_counter() - start
        save_llamagen_checkpoint(out_dir, vq, gpt, {**extra, "figures": figures})
    write_t2i_card(out_dir / "MODEL_CARD.md", cfg, figures, vq, gpt, text,
                   command or f"vargym pretrain --preset {cfg.preset}")
    return PretrainResult(out_dir, figures)
