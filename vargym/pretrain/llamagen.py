"""Pretraining a LlamaGen from scratch: its VQ tokenizer, then the GPT on its raster tokens, then the tiny
classifier and the quality figures. ``vargym pretrain --preset tiny-llamagen`` runs it; this is how the
shipped ``vargym/assets/tiny-llamagen`` was made (see its MODEL_CARD.md).

The tokenizer trains on L1 + MSE + edge reconstruction plus the official VQ losses (codebook
``|e - sg(z)|^2`` and commitment ``beta |sg(e) - z|^2`` on L2-normalised vectors), with a straight-through
estimator; codes unused for 50 steps are re-seeded from the batch's latents. The first
``vqvae_ae_warmup`` of the steps decode the normalised latents unquantised. The GPT trains with
teacher-forced next-token cross-entropy and label dropout ``cond_drop_rate`` (the null class), as
``train_c2i.py`` does. Batches and the label dropout are seeded per step, so resume is exact.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from vargym.devices import resolve_device
from vargym.models.llamagen.presets import LLAMAGEN_PRESETS, build_llamagen
from vargym.models.llamagen.transformer import LlamaGen
from vargym.models.llamagen.vq import LlamaGenVQ
from vargym.pretrain.common import (
    BatchFn,
    PretrainResult,
    init_for_training,
    make_batches,
    recon_loss,
    start_run,
    step_seed,
    train_or_load_classifier,
)
from vargym.pretrain.config import PretrainConfig
from vargym.pretrain.loop import ProgressCallback, Stage, adamw, run_stage

__all__ = ["run_pretrain_llamagen", "train_llamagen_gpt", "train_llamagen_vq"]


def _vq_forward(vq: LlamaGenVQ, images: torch.Tensor, quantise: bool):
    """Reconstruction, VQ loss, code ids and the normalised latents of a batch of [0, 1] images."""
    z = F.normalize(vq.encode_latent(images * 2 - 1), dim=1)  # [B, Cq, g, g]
    B, C, g, _ = z.shape
    codes = vq.quantize.indices(z.detach())  # [B, g*g]
    e = vq.quantize.lookup(codes, g)  # [B, Cq, g, g]
    vq_loss = F.mse_loss(e, z.detach()) + vq.cfg.commit_loss_beta * F.mse_loss(z, e.detach())
    quant = z + (e - z).detach() if quantise else z
    recon = vq.decoder(vq.post_quant_conv(quant)).add(1).mul(0.5)
    return recon, vq_loss, codes, z.detach().permute(0, 2, 3, 1).reshape(-1, C)


def train_llamagen_vq(cfg: PretrainConfig, vq: LlamaGenVQ, batches: BatchFn, out_dir: Path,
                      progress: ProgressCallback | None = None, forward: Callable = _vq_forward) -> dict[str, float]:
    """Train ``vq`` in place (see the module docstring); figures ``vq_final_loss``, ``vq_final_recon_l1``,
    ``vq_codes_used`` and ``vq_wall_s``. ``forward(vq, images, quantise)`` -> (reconstruction, VQ loss, code
    ids, latent rows): another tokenizer's (the VQGAN's) forward reuses the stage."""
    V = vq.vocab_size
    ae_steps = round(cfg.vqvae_steps * cfg.vqvae_ae_warmup)
    optimizer = adamw(vq, cfg.vqvae_lr, 0.0, (0.9, 0.99))
    hits = torch.zeros(V, dtype=torch.long)
    tracked = {"codes_used": float("nan")}
    last: dict = {}

    def loss(step: int):
        images, _ = batches(0, step, cfg.vqvae_batch_size)
        recon, vq_loss, codes, latents = forward(vq, images, quantise=step >= ae_steps)
        last["codes"], last["latents"] = codes, latents
        total, l1 = recon_loss(recon, images, cfg.edge_weight, vq_loss)
        return total, {"loss": total.item(), "recon_l1": l1.item(), "vq_loss": vq_loss.item()}

    @torch.no_grad()
    def after_step(step: int) -> dict[str, float]:
        hits.add_(torch.bincount(last.pop("codes").flatten().cpu(), minlength=V))
        latents = last.pop("latents")
        metrics = {}
        if (step + 1) % 50 == 0:
            tracked["codes_used"] = metrics["codes_used"] = float((hits > 0).float().mean())
            dead = torch.nonzero(hits == 0).squeeze(1)
            if len(dead) and step + 1 < cfg.vqvae_steps:
                gen = torch.Generator().manual_seed(step_seed(cfg.seed, 12, step))
                pick = torch.randint(0, latents.shape[0], (len(dead),), generator=gen)
                vq.quantize.embedding.weight[dead.to(latents.device)] = latents[pick.to(latents.device)]
            metrics["codes_reseeded"] = float(len(dead))
            hits.zero_()
        return metrics

    def restore(extra: dict[str, torch.Tensor], state: dict) -> None:
        hits.copy_(extra["code_hits"].cpu())
        tracked["codes_used"] = state.get("codes_used", float("nan"))

    stage = Stage("vq", cfg.vqvae_steps, vq, optimizer, cfg.vqvae_lr, vq.parameters(), loss, after_step,
                  recent=("loss", "recon_l1"), extra_tensors=lambda: {"code_hits": hits},
                  extra_json=lambda: {"codes_used": tracked["codes_used"]}, restore=restore)
    vq.train()
    state = _run(cfg, stage, out_dir, progress)
    vq.eval()
    recent = state["recent"]
    final = [sum(c) / len(c) for c in zip(*recent)] if recent else [float("nan")] * 2
    return {"vq_final_loss": final[0], "vq_final_recon_l1": final[1], "vq_codes_used": tracked["codes_used"],
            "vq_wall_s": state["wall_s"]}


def train_llamagen_gpt(cfg: PretrainConfig, vq: LlamaGenVQ, gpt: LlamaGen, batches: BatchFn, out_dir: Path,
                       progress: ProgressCallback | None = None) -> dict[str, float]:
    """Train ``gpt`` in place on the frozen ``vq``'s tokens; figures ``gpt_final_loss`` and ``gpt_wall_s``.
    Any raster GPT with ``gpt(labels, tokens) -> logits [B, L, V]`` and a tokenizer with ``img_to_tokens``
    trains here (the VQGAN family's too)."""
    optimizer = adamw(gpt, cfg.var_lr, cfg.var_weight_decay, (0.9, 0.95))

    def loss(step: int):
        images, labels = batches(1, step, cfg.var_batch_size)
        tokens = vq.img_to_tokens(images)  # [B, L]
        torch.manual_seed(step_seed(cfg.seed, 11, step))  # label dropout of this step
        logits = gpt(labels, tokens)  # [B, L, V]
        ce = F.cross_entropy(logits.flatten(0, 1), tokens.flatten())
        return ce, {"loss": ce.item()}

    stage = Stage("gpt", cfg.var_steps, gpt, optimizer, cfg.var_lr, gpt.parameters(), loss)
    gpt.train()
    device = next(gpt.parameters()).device
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        state = _run(cfg, stage, out_dir, progress)
    gpt.eval()
    recent = state["recent"]
    return {"gpt_final_loss": sum(recent) / len(recent) if recent else float("nan"), "gpt_wall_s": state["wall_s"]}


def _run(cfg: PretrainConfig, stage: Stage, out_dir: Path, progress: ProgressCallback | None) -> dict:
    return run_stage(stage, out_dir, resume=cfg.resume, warmup_fraction=cfg.warmup_fraction, grad_clip=cfg.grad_clip,
                     log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every, progress=progress)


@torch.no_grad()
def llamagen_quality(cfg: PretrainConfig, vq: LlamaGenVQ, gpt: LlamaGen, classifier, batches: BatchFn,
                     class_names: list[str], out_dir: Path, settings: dict[str, dict] | None = None) -> dict[str, float]:
    """Reconstruction PSNR and classifier top-1; per sampling setting the samples' top-1, overall and per class,
    and the best setting's grid PNG. ``settings``: figure key -> ``gpt.sample`` keywords; default: each
    guidance scale of ``cfg.eval_cfgs`` (temperature 1, no filtering; LlamaGen's convention: cfg <= 1 is
    unguided)."""
    from vargym.data.classifier import classifier_accuracy
    from vargym.data.grid import save_grid

    if cfg.eval_per_class == 0:
        return {}
    if settings is None:
        settings = {f"samples_cfg{guidance:g}": {"cfg": guidance} for guidance in cfg.eval_cfgs}
    figures: dict[str, float] = {}
    C = len(class_names)
    images, labels = batches(2, 0, max(64, 3 * C * cfg.eval_per_class))
    recon = vq.tokens_to_img(vq.img_to_tokens(images))
    figures["recon_psnr"] = float(10 * torch.log10(1 / (recon - images).square().mean().clamp_min(1e-10)))
    if classifier is not None:
        figures["recon_classifier_top1"] = classifier_accuracy(classifier, recon, labels, topk=(1,))["top1"]
    best = None
    device = next(gpt.parameters()).device
    sample_labels = torch.arange(C, device=device).repeat_interleave(cfg.eval_per_class)
    for key, kwargs in settings.items():
        generator = torch.Generator(device=device).manual_seed(cfg.seed)
        tokens = torch.cat([gpt.sample(chunk, generator=generator, **kwargs) for chunk in sample_labels.split(200)])
        samples = vq.tokens_to_img(tokens)
        if classifier is None:
            continue
        pred = classifier(samples).argmax(-1)
        top1 = float((pred == sample_labels).float().mean())
        figures[f"{key}_classifier_top1"] = top1
        for c, name in enumerate(class_names):
            figures[f"{key}_top1_{name}"] = float((pred[sample_labels == c] == c).float().mean())
        if best is None or top1 > best[0]:
            best = (top1, kwargs, samples)
    if best is not None:
        per_row = min(cfg.eval_per_class, 10)
        keep = torch.cat([torch.nonzero(sample_labels == c).squeeze(1)[:per_row] for c in range(C)])
        save_grid(best[2][keep], Path(cfg.grid_path) if cfg.grid_path else out_dir / "samples.png", nrow=per_row,
                  row_labels=class_names)
        figures.update({f"grid_{k}": v for k, v in best[1].items()})
    return figures


def write_llamagen_card(path: Path, cfg: PretrainConfig, figures: dict, class_names: list[str], vq: LlamaGenVQ,
                        gpt: LlamaGen, command: str) -> Path:
    import platform

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    g = gpt.cfg
    lines = [
        f"# vargym pretrained LlamaGen ({cfg.preset} preset)", "",
        "A class-conditional raster next-token LlamaGen (GPT + VQ tokenizer, the official architecture at a tiny "
        "size), trained from scratch by `vargym.pretrain.llamagen.run_pretrain_llamagen`.", "",
        "## Model", "",
        f"- Images: {cfg.image_size}x{cfg.image_size} RGB in [0, 1]; classes ({len(class_names)}): "
        + ", ".join(f"{i} {n}" for i, n in enumerate(class_names)),
        f"- VQ tokenizer: {count(vq) / 1e6:.2f} M parameters; {vq.vocab_size} codes of dim "
        f"{vq.cfg.codebook_embed_dim} (L2-normalised), downsample {vq.downsample}, ch {vq.cfg.ch}, "
        f"ch_mult {list(vq.cfg.encoder_ch_mult)}",
        f"- GPT: {count(gpt) / 1e6:.2f} M parameters; {g.n_layer} layers, width {g.dim}, {g.n_head} heads, "
        f"{g.block_size} tokens per image ({g.grid}x{g.grid}), label dropout {g.class_dropout_prob} (for CFG)",
        "- Data: procedural images generated on the fly (vargym.data.procedural)", "",
        "## Training", "", "```", command, "```", "",
        f"- Seed {cfg.seed}; torch {torch.__version__}; {platform.machine()} CPU threads {torch.get_num_threads()}",
        f"- Wall time: VQ {figures.get('vq_wall_s', 0):.0f} s, GPT {figures.get('gpt_wall_s', 0):.0f} s, "
        f"classifier {figures.get('classifier_wall_s', 0):.0f} s, evaluation {figures.get('eval_wall_s', 0):.0f} s",
        "", "| field | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in dataclasses.asdict(cfg).items()], "",
        "## Results", "",
        "Samples: temperature 1, no top-k/top-p, guidance in LlamaGen's convention (`uncond + (cond - uncond) * "
        f"cfg`, cfg <= 1 = unguided); {cfg.eval_per_class} samples per class scored by the tiny classifier.", "",
        "| figure | value |", "|---|---|",
        *[f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in figures.items()], "",
        "## Intended use", "",
        "vargym's second embedded family: the same classes as the tiny VAR, so RL algorithms and rewards can be "
        "compared across next-scale and next-token generators on a CPU. It is not a model of natural images.", "",
    ]
    path.write_text("\n".join(lines))
    return path


def run_pretrain_llamagen(cfg: PretrainConfig, progress: ProgressCallback | None = None,
                          command: str | None = None) -> PretrainResult:
    """All stages for a LlamaGen preset; writes a directory `vargym.models.load_generator` loads."""
    from vargym.models.llamagen.loading import save_llamagen_checkpoint

    out_dir = start_run(cfg, ("vq", "gpt"))
    device = resolve_device(cfg.device)
    batches, class_names = make_batches(cfg, device)
    vq_cfg, gpt_cfg = LLAMAGEN_PRESETS[cfg.preset]
    gpt_cfg = dataclasses.replace(gpt_cfg, num_classes=len(class_names), class_dropout_prob=cfg.cond_drop_rate)
    torch.manual_seed(cfg.seed)
    vq, gpt = build_llamagen(vq_cfg, gpt_cfg)
    init_for_training(vq)  # He-normal convolutions keep the image's signal through the conv chain
    torch.nn.init.normal_(gpt.output.weight, std=gpt_cfg.initializer_range)  # a zero head learns slower
    vq.to(device)
    gpt.to(device)
    figures: dict[str, float] = {}
    figures.update(train_llamagen_vq(cfg, vq, batches, out_dir, progress))
    vq.requires_grad_(False)
    figures.update(train_llamagen_gpt(cfg, vq, gpt, batches, out_dir, progress))
    classifier, classifier_figures = train_or_load_classifier(cfg, out_dir, device, progress)
    figures.update(classifier_figures)
    extra = {"class_names": class_names, "pretrain": dataclasses.asdict(cfg), "figures": figures}
    save_llamagen_checkpoint(out_dir, vq, gpt, extra)
    start = time.perf_counter()
    figures.update(llamagen_quality(cfg, vq, gpt, classifier, batches, class_names, out_dir))
    figures["eval_wall_s"] = time.perf_counter() - start
    save_llamagen_checkpoint(out_dir, vq, gpt, {**extra, "figures": figures})
    write_llamagen_card(out_dir / "MODEL_CARD.md", cfg, figures, class_names, vq, gpt,
                        command or f"run_pretrain({cfg!r})")
    return PretrainResult(out_dir, figures)
