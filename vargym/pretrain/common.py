"""The family-neutral pieces of pretraining: seeded batches, the reconstruction loss, He init of a tokenizer,
the tiny classifier stage and the result type; each family's pipeline (`vargym.pretrain.stages` for VAR,
`vargym.pretrain.llamagen`) builds on them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from vargym.pretrain.config import PretrainConfig, TinyClipConfig
from vargym.pretrain.loop import ProgressCallback, StageCheckpoint

__all__ = ["BatchFn", "PretrainResult", "init_for_training", "make_batches", "recon_loss", "start_run", "step_seed",
           "train_or_load_classifier"]


@dataclass
class PretrainResult:
    """What ``run_pretrain`` produced."""

    out_dir: Path
    """The model directory (load it with ``vargym.models.load_model(out_dir)``)."""
    figures: dict[str, float] = field(default_factory=dict)
    """Final losses, wall times per stage and quality figures (also in ``model.json`` and the card)."""


# ------------------------------------------------------------------------------------------------ data
BatchFn = Callable[[int, int, int], tuple[torch.Tensor, torch.Tensor]]


def start_run(cfg: PretrainConfig | TinyClipConfig, stages: tuple[str, ...]) -> Path:
    """Create ``cfg.out_dir``; a fresh run (no ``resume``) refuses a directory holding a checkpoint of one of
    ``stages`` and starts a new log. Returns the directory."""
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.resume:
        for stage in stages:
            ckpt = StageCheckpoint(out_dir, stage)
            if ckpt.exists():
                raise ValueError(f"{ckpt.dir} already holds a checkpoint; pass resume=True to continue it or "
                                 f"choose another out_dir")
        (out_dir / "pretrain_log.jsonl").unlink(missing_ok=True)
    return out_dir


def step_seed(seed: int, stage: int, step: int) -> int:
    """The seed of one batch: a function of (run seed, stage, step) only, so resume draws the same batches."""
    return (seed * 1_000_003 + stage * 7_919 + step * 104_729) % (2**63 - 1)


def make_batches(cfg: PretrainConfig, device: torch.device) -> tuple[BatchFn, list[str]]:
    """``(batch(stage, step, batch_size) -> (images [B, 3, H, W] in [0, 1], labels [B]), class names)``.

    A batch depends only on ``(cfg.seed, stage, step)``, which is what makes resume exact.
    """
    if cfg.procedural:
        from vargym.data.procedural import CLASS_NAMES, NUM_CLASSES, generate

        def procedural(stage: int, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
            generator = torch.Generator().manual_seed(step_seed(cfg.seed, stage, step))
            labels = torch.randint(0, NUM_CLASSES, (batch_size,), generator=generator).to(device)  # [B]
            return generate(labels, generator, image_size=cfg.image_size), labels

        return procedural, list(CLASS_NAMES)

    from vargym.data.folder import ImageFolderDataset

    dataset = ImageFolderDataset(cfg.data, image_size=cfg.image_size)
    cache: dict[int, torch.Tensor] = {}

    def folder(stage: int, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(step_seed(cfg.seed, stage, step))
        index = torch.randint(0, len(dataset), (batch_size,), generator=generator).tolist()
        for i in index:
            if i not in cache:
                cache[i] = dataset[i][0]
        images = torch.stack([cache[i] for i in index]).to(device)  # [B, 3, H, W]
        return images, dataset.labels[index].to(device)

    return folder, list(dataset.classes)


# ------------------------------------------------------------------------------------ losses, init
def recon_loss(
    recon: torch.Tensor, images: torch.Tensor, edge_weight: float, extra: torch.Tensor | float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(L1 + MSE + extra + edge_weight x edge L1, L1)`` of a reconstruction (the L1 alone is logged)."""
    l1 = (recon - images).abs().mean()
    loss = l1 + F.mse_loss(recon, images) + extra
    if edge_weight > 0:
        loss = loss + edge_weight * _edge_l1(recon, images)
    return loss, l1


def _edge_l1(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical image differences (penalises blurred edges)."""
    dx = (recon[..., :, 1:] - recon[..., :, :-1]) - (
        target[..., :, 1:] - target[..., :, :-1]
    )  # [B, 3, H, W-1]
    dy = (recon[..., 1:, :] - recon[..., :-1, :]) - (
        target[..., 1:, :] - target[..., :-1, :]
    )  # [B, 3, H-1, W]
    return dx.abs().mean() + dy.abs().mean()


@torch.no_grad()
def init_for_training(vqvae: torch.nn.Module) -> None:
    """He-normal convolutions with zero biases, for training from scratch.

    PyTorch's default convolution init shrinks activations by about 0.6 per layer; the ~12 convolutions
    of the encoder-decoder chain that no residual path bypasses then leave the image far below the biases
    at the output, and training sits at "predict the mean image" (grey reconstructions) for hundreds of
    steps. He init keeps the image's signal alive, so colour is learnt from the start.
    """
    for module in vqvae.modules():  # any tokenizer: VAR's VQ-VAE, LlamaGen's VQ
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            torch.nn.init.zeros_(module.bias)


# ----------------------------------------------------------------------------------------- classifier
def train_or_load_classifier(
    cfg: PretrainConfig, out_dir: Path, device: torch.device, progress: ProgressCallback | None
) -> tuple[torch.nn.Module | None, dict[str, float]]:
    from vargym.data.classifier import ClassifierConfig, load_classifier, save_classifier, train_classifier

    if not (cfg.procedural and cfg.classifier_steps):
        return None, {}
    if cfg.resume and (out_dir / "classifier.json").is_file():
        meta = json.loads((out_dir / "model.json").read_text()) if (out_dir / "model.json").is_file() else {}
        old = {k: v for k, v in meta.get("figures", {}).items() if k.startswith("classifier_")}
        return load_classifier(out_dir, device=device), old
    callback = None
    if progress is not None:

        def callback(step: int, loss: float) -> None:
            progress("classifier", step + 1, cfg.classifier_steps, {"loss": loss})

    model, figures = train_classifier(
        ClassifierConfig(input_size=cfg.classifier_input_size),
        steps=cfg.classifier_steps,
        batch_size=cfg.classifier_batch_size,
        seed=cfg.seed,
        device=device,
        progress=callback,
        image_size=cfg.image_size,
    )
    save_classifier(model, out_dir)
    return model, {
        "classifier_top1": figures["top1"],
        "classifier_final_loss": figures["final_loss"],
        "classifier_wall_s": figures["seconds"],
    }
