"""`Trainer`: the RL fine-tuning loop (rollout -> advantages -> minibatch updates), logging and resume.

One iteration: the `GroupedCollector` samples ``num_labels * group_size`` images and scores them; a
teacher-forced pass without grad gives ``old_log_prob`` (and ``old_value`` for PPO), the frozen reference
gives ``ref_log_prob``; the algorithm writes advantages; then ``epochs`` x shuffled minibatches of
``var.forward_rl`` with grad -> sum of ``loss_*`` -> backward -> grad clip -> AdamW step.

The policy is identical while sampling and training: ``forward_rl`` uses no label dropout and no
drop-path, and the VAR stays in eval mode throughout (the presets' dropout rates are 0 anyway), so on
the first batch the ratio ``exp(log_prob - sample_log_prob)`` is checked to be 1.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vargym.train.config import TrainConfig
from vargym.train.rollout import RunReward, check_policy_consistency, per_scale_mean, teacher_forced

__all__ = ["Trainer", "train"]


def _pick_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class Trainer:
    """Fine-tunes a VAR with GRPO / PPO / REINFORCE against an image reward.

    Args:
        config: the run's `TrainConfig`.
        model: an already loaded ``(vqvae, var)`` (default: ``load_model(config.model)``, seeded).
        reward: a `vargym.rewards.Reward` or callable (default: ``vargym.rewards.make(config.reward)``).

    Example:
        >>> trainer = Trainer(TrainConfig(model="random:tiny", reward="luma", num_labels=2, group_size=4,
        ...                               minibatch_size=4, steps=5, out="runs/demo"))
        >>> history = trainer.train()           # list of per-iteration metric dicts
        >>> history[-1]["reward_mean"]
    """

    def __init__(self, config: TrainConfig, model: tuple[Any, Any] | None = None, reward: Any = None) -> None:
        import vargym.rewards
        from vargym.algos import ValueHead, make_algorithm
        from vargym.envs.collector import GroupedCollector

        self.config = config
        self.device = _pick_device(config.device)
        if model is None:
            from vargym.models import load_model

            with torch.random.fork_rng(
                devices=[]
            ):  # random:<preset> inits reproducibly, global RNG untouched
                torch.manual_seed(config.seed)
                model = load_model(config.model, device=self.device)
        self.vqvae, self.var = model[0].to(self.device), model[1].to(self.device)
        self.vqvae.eval().requires_grad_(False)
        self.var.eval().requires_grad_(True)  # eval: no dropout, so sampling and training see one policy
        self.algo = make_algorithm(config.algo, **config.algo_overrides(self.var.num_classes)).to(self.device)
        self.reference = None
        if self.algo.uses_reference or config.log_kl_ref:  # share the frozen VQ-VAE instead of copying it
            self.reference = copy.deepcopy(self.var, memo={id(self.vqvae): self.vqvae}).requires_grad_(False)
        self.num_scales = len(self.var.patch_nums)
        self.value_head = None
        if self.algo.uses_value:
            with torch.random.fork_rng(devices=[]):  # a seeded init, whatever ran before in this process
                torch.manual_seed(config.seed)
                self.value_head = ValueHead(self.var.C, self.num_scales, width=self.var.C).to(self.device)
        self.params = list(self.var.parameters()) + (
            list(self.value_head.parameters()) if self.value_head else []
        )
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        reward_kwargs = dict(config.reward_kwargs)
        built = vargym.rewards.make(
            reward if reward is not None else config.reward,
            device=self.device,
            **({} if reward is not None else reward_kwargs),
        )
        self.reward = RunReward(built, prompt=config.prompt)
        self.policy = {
            "temperature": config.temperature,
            "cfg": config.cfg,
            "top_k": config.top_k,
            "top_p": config.top_p,
        }
        self.collector = GroupedCollector(
            self.vqvae,
            self.var,
            self.reward,
            num_labels=config.num_labels,
            group_size=config.group_size,
            labels=config.labels,
            seed=config.seed,
            keep_images=False,
            **self.policy,
        )
        self.shuffle_generator = torch.Generator().manual_seed(
            config.seed + 1
        )  # CPU: same perms on any device
        self.iteration = 0
        self.samples = 0
        self.wall_offset = 0.0
        self.checked_policy = config.ratio_check_tol == 0
        self.out = Path(config.out)

    # ------------------------------------------------------------------------------------------- schedule
    def _lr_factor(self, iteration: int) -> float:
        cfg = self.config
        if iteration < cfg.warmup_steps:
            return (iteration + 1) / (cfg.warmup_steps + 1)
        if cfg.lr_schedule == "cosine":
            progress = (iteration - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return 1.0

    # ------------------------------------------------------------------------------------------- one step
    def step(self) -> dict[str, Any]:
        """Run one iteration (rollout + update); returns its metrics (without logging them)."""
        cfg, start = self.config, time.perf_counter()
        self.reward.iteration = self.iteration + 1
        reward_before = self.reward.elapsed
        batch = self.collector.collect()  # TensorDict [N]
        reward_s = self.reward.elapsed - reward_before
        sample_s = time.perf_counter() - start - reward_s

        t = time.perf_counter()
        labels, tokens, step_index = batch["labels"], batch["tokens"], batch["step_index"]
        old = teacher_forced(
            self.var, labels, tokens, cfg.minibatch_size, self.value_head, step_index, **self.policy
        )
        if not self.checked_policy:
            check_policy_consistency(old["log_prob"], batch["sample_log_prob"], cfg.ratio_check_tol)
            self.checked_policy = True
        batch.set("old_log_prob", old["log_prob"])  # [N, L]
        if self.value_head is not None:
            batch.set("old_value", old["value"])  # [N, K]
        if self.reference is not None:
            ref = teacher_forced(self.reference, labels, tokens, cfg.minibatch_size, **self.policy)
            batch.set("ref_log_prob", ref["log_prob"])  # [N, L]
        logprob_s = time.perf_counter() - t

        t = time.perf_counter()
        batch = self.algo.compute_advantages(batch)
        sums: dict[str, float] = defaultdict(float)
        updates = 0
        keys = [
            k
            for k in (
                "labels",
                "tokens",
                "step_index",
                "old_log_prob",
                "ref_log_prob",
                "old_value",
                "advantage",
                "return",
            )
            if k in batch.keys()
        ]
        for _ in range(cfg.epochs):
            perm = torch.randperm(cfg.batch_size, generator=self.shuffle_generator).to(self.device)
            for idx in perm.split(cfg.minibatch_size):
                for key, value in self._update(batch.select(*keys)[idx]).items():
                    sums[key] += value
                updates += 1
        lr = self.scheduler.get_last_lr()[0]  # the rate this iteration's updates used
        self.scheduler.step()
        backward_s = time.perf_counter() - t

        self.iteration += 1
        self.samples += cfg.batch_size
        metrics = {
            "iteration": self.iteration,
            "samples": self.samples,
            "lr": lr,
        }
        metrics.update(self._reward_metrics(batch))
        metrics.update({k: v / updates for k, v in sums.items()})
        metrics["entropy"] = float(old["entropy"].mean())
        for k, value in enumerate(per_scale_mean(old["entropy"], step_index, self.num_scales).tolist()):
            metrics[f"entropy_scale_{k}"] = value
        iteration_s = time.perf_counter() - start
        metrics.update(
            sample_s=sample_s,
            reward_s=reward_s,
            logprob_s=logprob_s,
            backward_s=backward_s,
            iteration_s=iteration_s,
            samples_per_s=cfg.batch_size / iteration_s,
        )
        return metrics

    def _update(self, minibatch: Any) -> dict[str, float]:
        """One gradient step on a minibatch TensorDict; returns its losses and metrics as floats."""
        out = self.var.forward_rl(minibatch["labels"], minibatch["tokens"], **self.policy)
        minibatch.set("log_prob", out.log_probs)  # [n, L], with grad
        minibatch.set("entropy", out.entropy)  # [n, L]
        if self.value_head is not None:
            minibatch.set("value", self.value_head(out.hidden, minibatch["step_index"]))  # [n, K]
        result = self.algo(minibatch)
        loss = sum(result[k] for k in result.keys() if k.startswith("loss_"))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        self.optimizer.step()
        metrics = {k: float(result[k].detach()) for k in result.keys() if k != "entropy"}
        metrics["loss"] = float(loss.detach())
        metrics["grad_norm"] = float(grad_norm)
        return metrics

    def _reward_metrics(self, batch: Any) -> dict[str, float]:
        reward = batch["reward"].float()  # [N]
        groups = reward.view(-1, self.config.group_size)  # [N / G, G]
        metrics = {
            "reward_mean": float(reward.mean()),
            "reward_std": float(reward.std()) if reward.numel() > 1 else 0.0,
            "reward_min": float(reward.min()),
            "reward_max": float(reward.max()),
            "reward_zero_std_groups": float((groups.std(dim=1) == 0).float().mean())
            if self.config.group_size > 1
            else 0.0,
        }
        if "reward_components" in batch.keys():
            for name, value in batch["reward_components"].items():
                metrics[f"reward_{name}_mean"] = float(value.float().mean())
        return metrics

    # ------------------------------------------------------------------------------------------ the loop
    def train(
        self, num_iterations: int | None = None, progress: Callable[[dict[str, Any]], None] | None = None
    ) -> list[dict[str, Any]]:
        """Train until ``config.steps`` iterations (or ``num_iterations`` more); log, sample and checkpoint.

        Args:
            num_iterations: stop after this many iterations of this call (None: run to ``config.steps``).
            progress: called with each iteration's metrics (the CLI draws its progress bar with it).

        Returns:
            the metric dicts of the iterations run by this call.
        """
        from vargym.train.evaluation import evaluate
        from vargym.train.metrics import MetricsLogger
        from vargym.train.state import save_state

        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        logger = MetricsLogger(self.out, cfg.tensorboard, resume_iteration=self.iteration or None)
        if self.iteration == 0 and cfg.sample_every:
            evaluate(self, logger, write_grid=True)
        end = cfg.steps if num_iterations is None else min(cfg.steps, self.iteration + num_iterations)
        history, started, saved_at = [], time.perf_counter(), None
        try:
            while self.iteration < end:
                metrics = self.step()
                it = self.iteration
                grid = bool(cfg.sample_every) and it % cfg.sample_every == 0
                if grid or (cfg.eval_every and it % cfg.eval_every == 0):
                    metrics.update(evaluate(self, logger, write_grid=grid))
                metrics["wall_s"] = self.wall_offset + time.perf_counter() - started
                logger.log(metrics)
                history.append(metrics)
                if cfg.checkpoint_every and it % cfg.checkpoint_every == 0:
                    save_state(self, self.wall_offset + time.perf_counter() - started)
                    saved_at = it
                if progress is not None:
                    progress(metrics)
            if history and saved_at != self.iteration:  # always leave a checkpoint of the last iteration
                save_state(self, self.wall_offset + time.perf_counter() - started)
        finally:
            logger.close()
        self.wall_offset += time.perf_counter() - started
        return history

    def save_checkpoint(self) -> Path:
        """Write a resumable checkpoint of the current state to ``<out>/checkpoints/iter_NNNNNN``."""
        from vargym.train.state import save_state

        return save_state(self, self.wall_offset)

    @classmethod
    def from_checkpoint(cls, path: str | Path, **overrides: Any) -> Trainer:
        """Resume from a checkpoint directory (or a run directory: its newest checkpoint).

        ``overrides`` change config fields (e.g. ``steps`` to train longer, ``device``).
        """
        from vargym.train.state import load_trainer

        return load_trainer(cls, path, **overrides)


def train(config: TrainConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> Trainer:
    """Build a `Trainer` for ``config`` and train it to the end; returns the trainer."""
    trainer = Trainer(config)
    trainer.train(progress=progress)
    return trainer
