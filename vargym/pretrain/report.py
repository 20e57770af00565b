"""Quality figures of a pretrained (VQ-VAE, VAR) pair and the model card that reports them.

Figures (all on fresh data the run never trained on):

- reconstruction: PSNR of VQ-VAE reconstructions, classifier top-1 on them;
- samples at each guidance scale in ``cfg.eval_cfgs`` (temperature 1, no top-k/top-p): classifier top-1
  (does the sample look like its class?), and within-class diversity as RMS pixel distance between every
  pair of samples of one class (``min``: the two most similar samples of any class; near 0 means a copy),
  next to the same figure for real procedural images of the same count.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from vargym.models.var.transformer import VAR
    from vargym.models.var.vqvae import VQVAE
    from vargym.pretrain.common import BatchFn, PretrainConfig

__all__ = ["quality_figures", "sample_per_class", "write_model_card"]


def _min_mean_distance(images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Smallest and mean within-class RMS pixel distance (`vargym.data.diversity.pairwise_diversity`)."""
    from vargym.data.diversity import pairwise_diversity

    out = pairwise_diversity(images.flatten(1), labels)
    return out["min_distance"], out["mean_distance"]


@torch.no_grad()
def sample_per_class(
    var: VAR,
    num_classes: int,
    per_class: int,
    cfg: float,
    seed: int = 0,
    temperature: float = 1.0,
    batch_size: int = 200,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` samples of every class, decoded: images ``[C * per_class, 3, H, W]`` in [0, 1], labels.

    Labels are class-major (``[0, 0, ..., 1, 1, ...]``). Sampling draws from a generator seeded by ``seed``.
    """
    device = var.pos_1LC.device
    labels = torch.arange(num_classes, device=device).repeat_interleave(per_class)  # [N]
    generator = torch.Generator(device=device).manual_seed(seed)
    images = []
    for chunk in labels.split(batch_size):
        tokens = var.sample(chunk, cfg=cfg, temperature=temperature, generator=generator)
        images.append(var.vqvae.tokens_to_img(tokens))  # [b, 3, H, W]
    return torch.cat(images), labels


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a - b).square().mean().clamp_min(1e-10)
    return float(10 * torch.log10(1 / mse))


@torch.no_grad()
def quality_figures(
    cfg: PretrainConfig,
    vqvae: VQVAE,
    var: VAR,
    classifier: torch.nn.Module | None,
    batches: BatchFn,
    class_names: list[str],
    out_dir: Path,
) -> dict[str, float]:
    """All quality figures of the run (see the module docstring) and the sample grid PNG.

    Returns a flat dict: ``recon_psnr``, ``recon_classifier_top1``, and per guidance scale ``g`` (written
    like ``cfg0.0``): ``samples_{g}_classifier_top1``, ``samples_{g}_min_pair_rms``, ``samples_{g}_mean_pair_rms``;
    plus ``real_min_pair_rms``, ``real_mean_pair_rms`` for reference.
    """
    from vargym.data.classifier import classifier_accuracy
    from vargym.data.grid import save_grid

    if cfg.eval_per_class == 0:
        return {}
    figures: dict[str, float] = {}
    num_classes = len(class_names)
    images, labels = batches(2, 0, max(64, 3 * num_classes * cfg.eval_per_class))  # stage 2: held out
    recon = vqvae.tokens_to_img(vqvae.img_to_tokens(images))
    figures["recon_psnr"] = _psnr(recon, images)
    if classifier is not None:
        figures["recon_classifier_top1"] = classifier_accuracy(classifier, recon, labels, topk=(1,))["top1"]
    real, real_labels = [], []
    for c in range(
        num_classes
    ):  # the same number of real images per class as samples, for the diversity baseline
        real.append(images[labels == c][: cfg.eval_per_class])
        real_labels.append(labels[labels == c][: cfg.eval_per_class])
    figures["real_min_pair_rms"], figures["real_mean_pair_rms"] = _min_mean_distance(
        torch.cat(real), torch.cat(real_labels)
    )
    grid = None
    for guidance in cfg.eval_cfgs:
        samples, sample_labels = sample_per_class(
            var, num_classes, cfg.eval_per_class, guidance, seed=cfg.seed
        )
        key = f"samples_cfg{guidance:g}"
        if classifier is not None:
            figures[f"{key}_classifier_top1"] = classifier_accuracy(
                classifier, samples, sample_labels, topk=(1,)
            )["top1"]
        figures[f"{key}_min_pair_rms"], figures[f"{key}_mean_pair_rms"] = _min_mean_distance(
            samples, sample_labels
        )
        if grid is None or guidance > 0 and grid[0] == 0:
            grid = (guidance, samples, sample_labels)
    if grid is not None:
        per_row = min(cfg.eval_per_class, 10)
        keep = torch.cat([torch.nonzero(grid[2] == c).squeeze(1)[:per_row] for c in range(num_classes)])
        path = Path(cfg.grid_path) if cfg.grid_path else out_dir / "samples.png"
        save_grid(grid[1][keep], path, nrow=per_row, row_labels=class_names)
        figures["grid_cfg"] = grid[0]
    return figures


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_model_card(
    path: Path,
    cfg: PretrainConfig,
    figures: dict[str, float],
    class_names: list[str],
    vqvae: VQVAE,
    var: VAR,
    command: str,
) -> Path:
    """Write MODEL_CARD.md: what the model is, how it was trained (command, seed, times) and how good it is."""
    import dataclasses

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    total_wall = sum(v for k, v in figures.items() if k.endswith("_wall_s"))
    lines = [
        f"# vargym pretrained model ({cfg.preset} preset)",
        "",
        "A class-conditional next-scale VAR and its multi-scale VQ-VAE, trained from scratch by "
        "`vargym.pretrain.stages.run_pretrain`.",
        "",
        "## Model",
        "",
        f"- Images: {cfg.image_size}x{cfg.image_size} RGB in [0, 1]; classes ({len(class_names)}): "
        + ", ".join(f"{i} {n}" for i, n in enumerate(class_names)),
        f"- VQ-VAE: {count(vqvae) / 1e6:.2f} M parameters; vocabulary {vqvae.vocab_size}, Cv {vqvae.Cvae}, "
        f"scales {list(vqvae.v_patch_nums)}, ch {vqvae.cfg.ch}, ch_mult {list(vqvae.cfg.ch_mult)}",
        f"- VAR: {count(var) / 1e6:.2f} M parameters; depth {var.cfg.depth}, width {var.cfg.embed_dim}, "
        f"heads {var.cfg.num_heads}, {var.L} tokens per image, label dropout {var.cfg.cond_drop_rate} (for CFG)",
        f"- Data: {'procedural images generated on the fly (vargym.data.procedural)' if cfg.procedural else cfg.data}",
        "",
        "## Training",
        "",
        "```",
        command,
        "```",
        "",
        f"- Seed {cfg.seed}; torch {torch.__version__}; {platform.machine()} CPU threads "
        f"{torch.get_num_threads()}; device {cfg.device or 'auto'}",
        f"- Wall time: VQ-VAE {figures.get('vqvae_wall_s', 0):.0f} s, "
        + (f"decoder fine-tune {figures['decoder_wall_s']:.0f} s, " if "decoder_wall_s" in figures else "")
        + f"VAR {figures.get('var_wall_s', 0):.0f} s, "
        f"classifier {figures.get('classifier_wall_s', 0):.0f} s, evaluation {figures.get('eval_wall_s', 0):.0f} s "
        f"(total {total_wall:.0f} s)",
        "",
        "Configuration:",
        "",
        "| field | value |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in dataclasses.asdict(cfg).items()],
        "",
        "## Results",
        "",
        "Losses are means over the last 20 steps; `vqvae_codes_used` is the fraction of the codebook hit in the "
        "last 25 VQ-VAE steps. Samples: temperature 1, no top-k/top-p, `cfg` in the official "
        "convention (0 = unguided). `min/mean pair RMS`: RMS pixel distance between two samples of one class "
        f"({cfg.eval_per_class} per class); real procedural images give the reference row.",
        "",
        "| figure | value |",
        "|---|---|",
        *[f"| {k} | {_fmt(v)} |" for k, v in figures.items()],
        "",
        "## Intended use",
        "",
        "The embedded default of vargym: a small, fast environment for RL fine-tuning experiments, tests and "
        "tutorials on a CPU. It is not a model of natural images.",
        "",
    ]
    path.write_text("\n".join(lines))
    return path
