"""Pretraining from scratch: VQ-VAE (optionally its decoder fine-tuned on frozen tokens), then the VAR on its
tokens, then the tiny classifier.

This is how the embedded default ``vargym/assets/tiny`` was made (see its MODEL_CARD.md). Every stage
draws batch ``step`` from its own generator seeded by ``(seed, stage, step)`` and reseeds torch's RNG per
step (label dropout), so a run resumed from a checkpoint ends with the same weights as an uninterrupted one.

Output directory layout::

    out_dir/
      model.json, vqvae.safetensors, var.safetensors   # `load_model(out_dir)` / `load_checkpoint(out_dir)`
      classifier.json, classifier.safetensors          # `vargym.data.classifier.load_classifier(out_dir)`
      MODEL_CARD.md, samples.png, pretrain_log.jsonl
      checkpoints/{vqvae,decoder,var}/                 # weights, optimizer state, step (for resume)

Example:
    >>> from vargym.pretrain.stages import PretrainConfig, rich_progress, run_pretrain
    >>> with rich_progress() as progress:
    ...     result = run_pretrain(PretrainConfig(out_dir="runs/tiny"), progress=progress)
    >>> result.figures["var_final_loss"]
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from vargym.devices import resolve_device
from vargym.models.presets import preset_configs
from vargym.models.var.presets import build
from vargym.models.var.transformer import VAR
from vargym.models.var.vqvae import VQVAE
from vargym.pretrain.codebook import EmaCodebook
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

__all__ = [
    "PretrainConfig",
    "PretrainResult",
    "ProgressCallback",
    "rich_progress",
    "run_pretrain",
    "train_decoder",
    "train_var",
    "train_vqvae",
]

logger = logging.getLogger(__name__)

_STAGES = ("vqvae", "decoder", "var", "classifier")


# ----------------------------------------------------------------------------------------------- VQ-VAE
def train_vqvae(
    cfg: PretrainConfig,
    vqvae: VQVAE,
    batches: BatchFn,
    out_dir: Path,
    progress: ProgressCallback | None = None,
) -> dict[str, float]:
    """Train ``vqvae`` (built with ``test_mode=False``) in place on L1 + MSE + edge + VQ loss.

    The first ``cfg.vqvae_ae_warmup`` of the steps decode the continuous latent (a plain autoencoder), so
    encoder and decoder agree on colour and shape before quantisation noise enters; the codebook follows
    the latents throughout as an online k-means (``vargym.pretrain.codebook.EmaCodebook``).

    Args:
        cfg: run settings (``vqvae_*``, ``edge_weight``, ``codebook_decay``, ``checkpoint_every``).
        vqvae: the model to train, on the training device.
        batches: ``batches(stage, step, batch_size)`` -> images ``[B, 3, H, W]`` in [0, 1] and labels ``[B]``.
        out_dir: run directory (checkpoints under ``checkpoints/vqvae``, log in ``pretrain_log.jsonl``).
        progress: optional callback ``progress("vqvae", step, total, metrics)``.

    Returns:
        figures ``vqvae_final_loss``, ``vqvae_final_recon_l1``, ``vqvae_codes_used`` (fraction of the codebook
        hit in the last 25 steps), ``vqvae_wall_s`` (including earlier sessions when resumed).
    """
    total = cfg.vqvae_steps
    ae_steps = round(total * cfg.vqvae_ae_warmup)
    codebook = EmaCodebook(vqvae.quantize, cfg.codebook_decay)
    optimizer = adamw(vqvae, cfg.vqvae_lr, 0.0, (0.9, 0.99))
    V = vqvae.vocab_size
    hits = torch.zeros(V, dtype=torch.long)
    restart_rng = torch.Generator().manual_seed(step_seed(cfg.seed, 10, 0))
    tracked = {"codes_used": float("nan")}
    last: dict = {}

    def loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        images, _ = batches(0, step, cfg.vqvae_batch_size)
        autoencoder = step < ae_steps
        out = last["out"] = vqvae(images, bypass_quantizer=autoencoder)
        total_loss, l1 = recon_loss(out.recon, images, cfg.edge_weight, 0.0 if autoencoder else out.vq_loss)
        return total_loss, {"loss": total_loss.item(), "recon_l1": l1.item(), "vq_loss": out.vq_loss.item()}

    def after_step(step: int) -> dict[str, float]:
        out = last.pop("out")
        metrics = {"codes_reseeded": codebook.update(out.residuals, out.tokens, restart_rng)}
        hits.add_(torch.bincount(torch.cat(out.tokens, dim=1).flatten().cpu(), minlength=V))
        if (step + 1) % 25 == 0:
            tracked["codes_used"] = metrics["codes_used"] = float((hits > 0).float().mean())
            hits.zero_()
        return metrics

    def restore(extra: dict[str, torch.Tensor], state: dict) -> None:
        hits.copy_(extra.pop("code_hits").cpu())
        codebook.load_state(extra)
        restart_rng.set_state(torch.tensor(state["restart_rng"], dtype=torch.uint8))
        tracked["codes_used"] = state.get("codes_used", float("nan"))
        logger.info("vqvae: resumed at step %d", state["step"])

    stage = Stage(
        "vqvae", total, vqvae, optimizer, cfg.vqvae_lr, vqvae.parameters(), loss, after_step,
        recent=("loss", "recon_l1"),
        extra_tensors=lambda: {"code_hits": hits, **codebook.state()},
        extra_json=lambda: {"codes_used": tracked["codes_used"], "restart_rng": restart_rng.get_state().tolist()},
        restore=restore,
    )
    vqvae.train()
    state = _run(cfg, stage, out_dir, progress)
    vqvae.eval()
    recent = state["recent"]
    final = [sum(col) / len(col) for col in zip(*recent)] if recent else [float("nan")] * 2
    return {
        "vqvae_final_loss": final[0],
        "vqvae_final_recon_l1": final[1],
        "vqvae_codes_used": tracked["codes_used"],
        "vqvae_wall_s": state["wall_s"],
    }


def train_decoder(
    cfg: PretrainConfig,
    vqvae: VQVAE,
    batches: BatchFn,
    out_dir: Path,
    progress: ProgressCallback | None = None,
) -> dict[str, float]:
    """Fine-tune ``post_quant_conv`` and the decoder of a trained ``vqvae`` in place on frozen tokens.

    Why: the VQ-VAE stage trains encoder, codebook and decoder together on a small budget; once the tokens
    are fixed the decoder can keep learning to draw them (a decoder-only fine-tune, as done for latent
    diffusion autoencoders). Encoder, codebook and phi convs are frozen, so ``img_to_tokens`` is unchanged
    and a VAR trained before or after this stage stays valid. Loss: L1 + MSE + ``edge_weight`` x edge L1.

    Returns:
        figures ``decoder_final_recon_l1`` (mean of the last 20 steps) and ``decoder_wall_s``; empty when
        ``cfg.decoder_steps`` is 0.
    """
    total = cfg.decoder_steps
    if total == 0:
        return {}
    trainable = [*vqvae.post_quant_conv.parameters(), *vqvae.decoder.parameters()]
    flags = [p.requires_grad for p in vqvae.parameters()]
    vqvae.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    optimizer = adamw(vqvae, cfg.decoder_lr, 0.0, (0.9, 0.99))  # only the trainable parameters

    def loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        images, _ = batches(2, step, cfg.decoder_batch_size)
        with torch.no_grad():
            f_hat = vqvae.quantize.quantize(vqvae.encode_latent(images)).f_hat  # [B, Cv, h, w]
        total_loss, l1 = recon_loss(vqvae.fhat_to_img(f_hat, clamp=False), images, cfg.edge_weight)
        return total_loss, {"loss": total_loss.item(), "recon_l1": l1.item()}

    stage = Stage("decoder", total, vqvae, optimizer, cfg.decoder_lr, trainable, loss, recent=("recon_l1",))
    vqvae.eval()  # no layer behaves differently in training; eval keeps the quantiser's loss path off
    state = _run(cfg, stage, out_dir, progress)
    for p, flag in zip(vqvae.parameters(), flags):
        p.requires_grad_(flag)
    recent = state["recent"]
    final = sum(recent) / len(recent) if recent else float("nan")
    return {"decoder_final_recon_l1": final, "decoder_wall_s": state["wall_s"]}


def train_var(
    cfg: PretrainConfig, var: VAR, batches: BatchFn, out_dir: Path, progress: ProgressCallback | None = None
) -> dict[str, float]:
    """Train ``var`` in place with teacher-forced next-scale cross-entropy on tokens of its frozen VQ-VAE.

    Images are tokenised on the fly (``var.vqvae.img_to_tokens``); labels are dropped to the null class
    with ``cfg.cond_drop_rate`` so classifier-free guidance works. AdamW betas (0.9, 0.95), gradient clip.

    Args:
        cfg: run settings (``var_*``, ``cond_drop_rate``, ``grad_clip``, ``checkpoint_every``).
        var: the transformer, attached to a trained VQ-VAE, on the training device.
        batches: ``batches(stage, step, batch_size)`` -> images ``[B, 3, H, W]`` in [0, 1] and labels ``[B]``.
        out_dir: run directory (checkpoints under ``checkpoints/var``).
        progress: optional callback ``progress("var", step, total, metrics)``.

    Returns:
        figures ``var_final_loss`` (mean of the last 20 steps) and ``var_wall_s``.
    """
    optimizer = adamw(var, cfg.var_lr, cfg.var_weight_decay, (0.9, 0.95))
    vqvae = var.vqvae

    def loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        images, labels = batches(1, step, cfg.var_batch_size)
        tokens = vqvae.img_to_tokens(images)  # K maps [B, pn_k^2]
        torch.manual_seed(step_seed(cfg.seed, 11, step))  # label dropout of this step
        ce = var.teacher_forcing_loss(labels, tokens, cond_drop_rate=cfg.cond_drop_rate)
        return ce, {"loss": ce.item()}

    stage = Stage("var", cfg.var_steps, var, optimizer, cfg.var_lr, var.parameters(), loss)
    var.train()
    devices = [var.pos_1LC.device] if var.pos_1LC.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # per-step reseeding must not leak into the caller's RNG
        state = _run(cfg, stage, out_dir, progress)
    var.eval()
    recent = state["recent"]
    final = sum(recent) / len(recent) if recent else float("nan")
    return {"var_final_loss": final, "var_wall_s": state["wall_s"]}


def _run(cfg: PretrainConfig, stage: Stage, out_dir: Path, progress: ProgressCallback | None) -> dict:
    return run_stage(stage, out_dir, resume=cfg.resume, warmup_fraction=cfg.warmup_fraction, grad_clip=cfg.grad_clip,
                     log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every, progress=progress)


# ---------------------------------------------------------------------------------------------- driver
def run_pretrain(
    cfg: PretrainConfig, progress: ProgressCallback | None = None, command: str | None = None
) -> PretrainResult:
    """Run all stages and write a loadable model directory with a classifier and MODEL_CARD.md.

    Stages: VQ-VAE (``train_vqvae``), decoder fine-tune (``train_decoder``, when ``cfg.decoder_steps``), VAR
    (``train_var``), classifier (``vargym.data.train_classifier``,
    procedural data only), then the quality figures (``vargym.pretrain.report``) and the model card.
    With ``cfg.resume`` each stage continues from its last checkpoint; a finished stage is not rerun.

    Args:
        cfg: the run configuration.
        progress: optional ``progress(stage, step, total, metrics)`` callback (see ``rich_progress``).
        command: the command line to record in the model card (defaults to the config's repr).

    Returns:
        ``PretrainResult(out_dir, figures)``; ``vargym.models.load_model(out_dir)`` loads the model.

    Example:
        >>> result = run_pretrain(PretrainConfig(out_dir="runs/tiny", vqvae_steps=500, var_steps=1200))
    """
    from vargym.models.presets import preset_family
    from vargym.models.var.loading import save_checkpoint
    from vargym.pretrain.report import quality_figures, write_model_card


    if getattr(preset_configs(cfg.preset)[1], "model_type", "c2i") == "t2i":
        from vargym.pretrain.text import run_pretrain_t2i

        return run_pretrain_t2i(cfg, progress, command)
    if preset_family(cfg.preset) == "llamagen":
        from vargym.pretrain.llamagen import run_pretrain_llamagen

        return run_pretrain_llamagen(cfg, progress, command)
    if preset_family(cfg.preset) == "vqgan":
        from vargym.pretrain.vqgan import run_pretrain_vqgan

        return run_pretrain_vqgan(cfg, progress, command)
    out_dir = start_run(cfg, ("vqvae", "decoder", "var"))
    device = resolve_device(cfg.device)
    batches, class_names = make_batches(cfg, device)
    vq_cfg, var_cfg = preset_configs(cfg.preset)
    var_cfg = dataclasses.replace(var_cfg, num_classes=len(class_names), cond_drop_rate=cfg.cond_drop_rate)
    torch.manual_seed(cfg.seed)
    train_vq, _ = build(dataclasses.replace(vq_cfg, test_mode=False), var_cfg)
    init_for_training(train_vq)
    train_vq.to(device)
    figures: dict[str, float] = {}
    figures.update(train_vqvae(cfg, train_vq, batches, out_dir, progress))
    figures.update(train_decoder(cfg, train_vq, batches, out_dir, progress))

    vqvae = VQVAE(dataclasses.replace(vq_cfg, test_mode=True)).to(device)
    vqvae.load_state_dict(train_vq.state_dict())
    torch.manual_seed(cfg.seed + 1)
    var = VAR(var_cfg, vqvae).to(device)
    figures.update(train_var(cfg, var, batches, out_dir, progress))

    classifier, classifier_figures = train_or_load_classifier(cfg, out_dir, device, progress)
    figures.update(classifier_figures)
    extra = {"class_names": class_names, "pretrain": dataclasses.asdict(cfg), "figures": figures}
    save_checkpoint(out_dir, vqvae, var, extra)
    start = time.perf_counter()
    figures.update(quality_figures(cfg, vqvae, var, classifier, batches, class_names, out_dir))
    figures["eval_wall_s"] = time.perf_counter() - start
    extra["figures"] = figures
    save_checkpoint(out_dir, vqvae, var, extra)
    write_model_card(
        out_dir / "MODEL_CARD.md", cfg, figures, class_names, vqvae, var, command or f"run_pretrain({cfg!r})"
    )
    return PretrainResult(out_dir, figures)


@contextlib.contextmanager
def rich_progress() -> Iterator[ProgressCallback]:
    """A ``rich.progress`` bar per stage, as a ``ProgressCallback`` (for the CLI and scripts).

    Example:
        >>> with rich_progress() as progress:
        ...     run_pretrain(PretrainConfig(), progress=progress)
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as bar:
        tasks: dict[str, int] = {}

        def callback(stage: str, step: int, total: int, metrics: dict) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total, completed=step - 1)
            shown = " ".join(
                f"{k}={v:.4g}" for k, v in metrics.items() if k in ("loss", "recon_l1", "codes_used")
            )
            bar.update(tasks[stage], completed=step, description=f"{stage:<10} {shown}")

        yield callback
