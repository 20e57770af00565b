"""Evaluations during a run: fixed conditions sampled with the training distribution and a fixed seed,
scored by the run's reward, with the gold metric, diversity and the reward-hacking monitor, and the PNG
grid of the samples."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vargym.train.monitor import (
    HackingMonitor,
    build_feature_space,
    build_gold,
    diversity_metrics,
    standard_error,
)

if TYPE_CHECKING:
    from vargym.models import Condition, ConditionSource, Generator, SamplingConfig
    from vargym.rewards import Reward, RewardContext
    from vargym.train.config import TrainConfig

__all__ = ["RunEvaluator"]


class RunEvaluator:
    """Evaluates a run's generator at chosen iterations (rank 0 only under torchrun).

    Args:
        generator: the generator being trained.
        source: the training conditions (`vargym.models.ConditionSource`).
        reward: the run's reward.
        sampling: the training distribution, "auto" resolved (evaluation samples with exactly this).
        config: the run's config (eval conditions, samples per condition, seed, gold metric, monitor).
        device: where the gold metric's models live.
    """

    def __init__(self, generator: Generator, source: ConditionSource, reward: Reward, sampling: SamplingConfig,
                 config: TrainConfig, device: torch.device, eval_pool: Any = None, pool: Any = None) -> None:
        self.generator, self.source, self.reward, self.sampling = generator, source, reward, sampling
        self.eval_pool, self.pool = eval_pool, pool
        self.config, self.device = config, device
        self.monitor = HackingMonitor(config.hacking_window, config.hacking_threshold, config.hacking_noise_z)
        self._gold: Any = None  # built at the first evaluation
        self._features: Any = None  # the diversity's feature space, built with the gold metric

    def condition(self) -> Condition:
        """The fixed evaluation conditions, each once: the pool given for evaluation (``eval_labels``, or the
        held-out prompts: their first 8), else the first 8 of the training pool."""
        if self.eval_pool is not None:
            source = self.generator.condition_source(self.eval_pool)
            every = self.config.eval_labels is not None  # the labels asked for, else the first 8 held-out prompts
            return source.first(source.pool_size if every else 8, self.device)
        return self.source.first(8, self.device)

    @torch.no_grad()
    def evaluate(self, iteration: int, out: Path | None = None, logger: Any = None) -> dict[str, float]:
        """Sample ``eval_per_label`` images per eval condition with the eval seed and score them.

        Samples through `vargym.evaluation.sample_images` (the path `vargym eval` uses) with the training
        distribution and its own seeded generator, so the training random streams are untouched. With ``out``
        it writes ``<out>/samples/iter_NNNNNN.png`` (one row per condition, captioned on its left; each image's
        reward under it) and logs it to TensorBoard. Returns ``eval_reward_mean`` and ``eval_reward_std`` with
        the monitor's metrics.
        """
        from vargym.envs.core import reward_context
        from vargym.evaluation.evaluate import sample_images
        from vargym.rewards import resize_for

        cfg = self.config
        condition = self.condition().repeat_interleave(cfg.eval_per_label)  # [E]
        images, _ = next(sample_images(self.generator, condition, self.sampling, cfg.eval_seed, len(condition)))
        context = reward_context(self.source, condition)
        reward = self.reward(resize_for(images, self.reward.input_size), context).total  # [E]
        metrics = self._monitor(iteration, images, condition.ids, context, float(reward.mean()))
        if out is not None:
            self._write_grid(out, iteration, images, condition, reward, logger)
        std = float(reward.std()) if reward.numel() > 1 else 0.0
        return {"eval_reward_mean": float(reward.mean()), "eval_reward_std": std, **metrics}

    @torch.no_grad()
    def gold_score(self, generator: Generator, conditions: int = 64, per_condition: int = 2) -> float | None:
        """The gold metric of ``generator`` (the policy, or the base model to compare with) on the first
        ``conditions`` evaluation conditions (the eval pool, else the training pool), ``per_condition`` samples
        each, sampled as in training with the eval seed; None when the run has no gold metric."""
        from vargym.envs.core import reward_context
        from vargym.evaluation.evaluate import sample_images

        self._build_gold()
        if not self._gold:
            return None
        source = generator.condition_source(self.eval_pool if self.eval_pool is not None else self.pool)
        condition = source.first(min(conditions, source.pool_size), self.device).repeat_interleave(per_condition)
        images, _ = next(sample_images(generator, condition, self.sampling, self.config.eval_seed, len(condition)))
        return float(self._gold[1](images, reward_context(source, condition)).mean())

    @property
    def gold_name(self) -> str | None:
        """The gold metric's name (a reward spec or ``"class_fidelity"``), None without one."""
        self._build_gold()
        return self._gold[0] if self._gold else None

    def _build_gold(self) -> None:
        if self._gold is None:
            recommended = self.generator.gold_metric
            self._gold = build_gold(self.config.gold, self.generator.num_classes, self.device, recommended) or ()
            classifier = recommended[1].get("classifier") if isinstance(recommended, tuple) else None
            self._features = build_feature_space(self.config.diversity_space, self.generator.num_classes,
                                                 self.device, classifier)

    def _write_grid(self, out: Path, iteration: int, images: torch.Tensor, condition: Condition,
                    reward: torch.Tensor, logger: Any) -> None:
        from vargym.data.grid import grid_image

        per_row = self.config.eval_per_label
        rows = [c[:48] for c in condition.captions()[::per_row]]  # one condition per row (a prompt can be long)
        path = out / "samples" / f"iter_{iteration:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image = grid_image(images.float().cpu(), nrow=per_row, labels=[f"{float(r):.2f}" for r in reward.tolist()],
                           row_labels=rows)
        image.save(path)
        if logger is not None:
            import numpy as np

            chw = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255.0  # [3, H, W]
            logger.add_image("samples", chw, iteration)

    def _monitor(self, iteration: int, images: torch.Tensor, ids: torch.Tensor, context: RewardContext,
                 reward_mean: float) -> dict[str, float]:
        """Gold metric, diversity and the reward-hacking flag of one evaluation (`vargym.train.monitor`)."""
        self._build_gold()
        metrics = diversity_metrics(images, ids, features=self._features)
        if self._gold:
            _, score = self._gold
            scores = score(images, context)  # [E]
            metrics["gold"] = float(scores.mean())
            metrics["gold_se"] = standard_error(scores)
        metrics.update(self.monitor.update({"eval_reward_mean": reward_mean, **metrics}))
        if metrics["hacking_flag"]:
            logging.getLogger("vargym.train.trainer").warning(
                "possible reward hacking at iteration %d: the reward rose over the last %d evaluations while "
                "the gold metric or within-group diversity fell by more than %.0f%% and %.1f standard errors (%s)",
                iteration, self.monitor.window, 100 * self.monitor.threshold, self.monitor.noise_z,
                ", ".join(f"{k} {v:+.1%}" for k, v in metrics.items() if k.endswith("_change")))
        return metrics
