"""Fixed-label, fixed-seed evaluation of the current policy and the PNG sample grids of a run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from vargym.metrics_log import MetricsLogger
    from vargym.train.trainer import Trainer

__all__ = ["eval_labels", "evaluate"]


def eval_labels(trainer: Trainer) -> list[int]:
    """The configured eval labels, else the first 8 training classes."""
    cfg = trainer.config
    if cfg.eval_labels is not None:
        return list(cfg.eval_labels)
    pool = list(cfg.labels) if cfg.labels is not None else list(range(trainer.generator.num_classes))
    return pool[:8]


@torch.no_grad()
def evaluate(
    trainer: Trainer, logger: MetricsLogger | None = None, write_grid: bool = False
) -> dict[str, Any]:
    """Sample ``eval_per_label`` images per eval label with the eval seed and score them.

    Uses the training distribution (``trainer.sampling``) and its own random generator, so the
    training random streams are untouched. With ``write_grid`` it writes
    ``<out>/samples/iter_NNNNNN.png`` (one row per label, captions "label: reward").

    Returns:
        ``eval_reward_mean`` and ``eval_reward_std``.
    """
    from vargym.data.grid import grid_image
    from vargym.models import ClassCondition
    from vargym.rewards import RewardContext, resize_for

    cfg = trainer.config
    per_label = cfg.eval_per_label
    labels = torch.tensor(eval_labels(trainer), device=trainer.device).repeat_interleave(per_label)  # [E]
    generator = torch.Generator(device=trainer.device).manual_seed(cfg.eval_seed)
    tokens = trainer.generator.sample(ClassCondition(labels), trainer.sampling, generator)  # [E, T]
    images = trainer.generator.decode(tokens)  # [E, 3, H, W] in [0, 1]
    reward = trainer.reward(resize_for(images, trainer.reward.input_size), RewardContext(labels=labels)).total
    if write_grid:
        captions = [f"{int(lab)}: {float(r):.2f}" for lab, r in zip(labels.tolist(), reward.tolist())]
        path = trainer.out / "samples" / f"iter_{trainer.iteration:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = grid_image(images.float().cpu(), nrow=per_label, labels=captions)
        image.save(path)
        if logger is not None:
            import numpy as np

            chw = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255.0  # [3, H, W]
            logger.add_image("samples", chw, trainer.iteration)
    std = float(reward.std()) if reward.numel() > 1 else 0.0
    return {"eval_reward_mean": float(reward.mean()), "eval_reward_std": std}
