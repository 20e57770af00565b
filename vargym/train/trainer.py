"""`Trainer`: the RL fine-tuning loop (rollout -> advantages -> minibatch updates), logging and resume.

One iteration: the `GroupedCollector` samples ``num_labels * group_size`` images and scores them; a
teacher-forced pass without grad gives ``old_log_prob`` (and ``old_value`` for algorithms with a value
head), the frozen reference gives ``ref_log_prob``; the algorithm writes advantages; then ``epochs`` x
shuffled minibatches of ``generator.forward_rl`` with grad -> sum of ``loss_*`` -> backward -> grad clip ->
AdamW step.

The trainer knows only the `vargym.models.Generator` interface. The policy is identical while sampling
and training: ``forward_rl`` uses no label dropout and no drop-path, and the policy stays in eval mode
throughout, so on the first batch the ratio ``exp(log_prob - sample_log_prob)`` is checked to be 1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vargym.devices import resolve_device
from vargym.errors import CheckpointError
from vargym.train.config import TrainConfig
from vargym.train.evaluation import RunEvaluator
from vargym.train.ranks import RankSync
from vargym.train.rollout import RunReward, check_policy_consistency, teacher_forced
from vargym.train.run_dir import RUN_FILES, RunExistsError, prepare_run_dir
from vargym.train.signals import stop_on_signals

if TYPE_CHECKING:
    from vargym.models import Condition

__all__ = ["RUN_FILES", "RunExistsError", "Trainer", "train"]

CHECKPOINT_FORMAT = 1
RATIO_TOLERANCE = {"float32": 1e-3, "bfloat16": 1.0}
"""Default start-up check tolerance per precision (see `TrainConfig.ratio_check_tol`). float32 agrees to
about 2e-5. In bfloat16 the sampler (one scale at a time, KV cache) and the teacher-forced pass (all scales,
other batch shapes) round differently: on the shipped model's default batch `benchmarks/precision.py`
measured max |log ratio| 0.33-0.43 over three seeds (mean 0.02, 99.9% of tokens below 0.21); 1.0 leaves
twice that and still catches a wrong temperature, guidance or filter, which moves many tokens by more."""
def _prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def _section(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    head = prefix + "."
    return {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}


def _load_module(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"the checkpoint's {what} does not match this run's configuration: {e}") from e


class Trainer:
    """Fine-tunes a `vargym.models.Generator` with a registered algorithm against an image reward.

    Args:
        config: the run's `TrainConfig`.
        model: a `Generator` or anything `vargym.models.as_generator` accepts (default:
            ``load_generator(config.model)``, seeded).
        reward: a `vargym.rewards.Reward` or callable (default: ``vargym.rewards.make(config.reward)``).

    Example:
        >>> trainer = Trainer(TrainConfig(model="random:tiny", reward="luma", num_labels=2, group_size=4,
        ...                               minibatch_size=4, steps=5, out="runs/demo"))
        >>> history = trainer.train()           # list of per-iteration metric dicts
        >>> history[-1]["reward_mean"]
    """

    def __init__(self, config: TrainConfig, model: Any = None, reward: Any = None) -> None:
        import vargym.rewards
        from vargym.algos import ValueHead, make_algorithm
        from vargym.distributed import setup_distributed
        from vargym.envs.collector import GroupedCollector
        from vargym.models import as_generator, load_generator

        self.config = config
        self.dist = setup_distributed(config.device)
        """This process's rank and the world size (one process without torchrun)."""
        self.ranks: RankSync | None = None  # set once the device is known
        world = self.dist.world_size
        if config.num_labels % world or config.minibatch_size % world:
            raise ValueError(f"num_labels ({config.num_labels}) and minibatch_size ({config.minibatch_size}) are "
                             f"global and must be divisible by the number of processes ({world})")
        self.device = resolve_device(self.dist.device(config.device))
        self.ranks = RankSync(self.dist, self.device)
        """The collectives over the ranks (`vargym.train.ranks`); plain pass-throughs in one process."""
        if model is None:
            with torch.random.fork_rng(devices=[]):  # random:<preset> inits reproducibly, global RNG untouched
                torch.manual_seed(config.seed)
                model = load_generator(config.model, device=self.device, text_encoder=config.text_encoder,
                                       **config.model_files)
        self.generator = as_generator(model, device=self.device)
        if config.tokens_per_step is not None:
            self.generator.set_tokens_per_step(config.tokens_per_step)
        if config.gradient_checkpointing:
            self.generator.set_gradient_checkpointing(True)
        share = config.minibatch_size // world
        if config.micro_batch_size is not None and share % config.micro_batch_size:
            raise ValueError(f"micro_batch_size ({config.micro_batch_size}) must divide each process's share of "
                             f"the minibatch ({config.minibatch_size} / {world} = {share})")
        self.generator.decoder.eval().requires_grad_(False)
        self.policy = self.generator.policy
        self.policy.eval()  # eval: no dropout, so sampling and training see one policy
        fresh_adapters = False
        if config.lora_rank and self.generator.lora is None:
            from vargym.models.lora import LoRAConfig

            with torch.random.fork_rng(devices=[]):  # seeded adapters, whatever ran before in this process
                torch.manual_seed(config.seed)
                self.generator.apply_lora(LoRAConfig(rank=config.lora_rank, alpha=config.lora_alpha))
            fresh_adapters = True
        elif self.generator.lora is None:
            self.policy.requires_grad_(True)
        self.sampling = config.sampling.resolve(self.device)
        """The training distribution, "auto" precisions decided for this device (what config.json records)."""
        self.layout = self.generator.layout
        pool, self.eval_pool = config.condition_pools(self.generator.default_prompts)
        self.source = self.generator.condition_source(pool)
        """The conditions training draws from (`vargym.models.ConditionSource`)."""
        self.algo = make_algorithm(config.algo, **config.algo_overrides(self.source.num_conditions)).to(self.device)
        self.reference = None
        """The frozen KL reference; with LoRA the policy itself with its adapters off (`generator.base_policy`)."""
        self.needs_reference = self.algo.uses_reference or config.log_kl_ref
        """Whether each batch gets ``ref_log_prob`` (for the KL term, or only to log kl_ref)."""
        if self.needs_reference and self.generator.lora is None:
            self.reference = self.generator.frozen_copy()
        self.policy_is_reference = self.needs_reference and (self.reference is not None or fresh_adapters)
        """True until the first update: the policy then computes the reference's log-probs itself (a frozen
        copy of it, or its own zero-initialised adapters switched off), so one pass serves both."""
        self.value_head = None
        if self.algo.uses_value:
            with torch.random.fork_rng(devices=[]):  # a seeded init, whatever ran before in this process
                torch.manual_seed(config.seed)
                width = self.generator.hidden_size
                self.value_head = ValueHead(width, self.layout.num_steps, width=width).to(self.device)
        self.params = list(self.generator.trainable_parameters()) + (
            list(self.value_head.parameters()) if self.value_head else []
        )
        self.optimizer = torch.optim.AdamW(self.params, lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        if reward is None and config.reward_preset is not None:
            from vargym.rewards.presets import make_preset

            built = make_preset(config.reward_preset, self.device, normalize=config.reward_normalization,
                                **config.reward_kwargs)
        else:
            built = vargym.rewards.make(
                reward if reward is not None else config.reward,
                device=self.device,
                **({} if reward is not None else {"normalize": config.reward_normalization, **config.reward_kwargs}),
            )
        self.reward = RunReward(built, prompt=config.prompt)
        self.collector = GroupedCollector(
            self.generator,
            self.reward,
            num_labels=config.num_labels // world,
            group_seeds=config.group_seeds or self.dist.enabled,
            reward_chunks=config.reward_chunks,
            async_rewards=config.async_rewards,
            shard=(self.dist.rank, world),
            group_size=config.group_size,
            conditions=pool,
            sampling=self.sampling,
            seed=config.seed,
            keep_images=False,
            reward_steps=config.reward_steps or (),
        )
        self.shuffle_generator = torch.Generator().manual_seed(config.seed + 1)  # CPU: same perms on any device
        self.value_forward = self.value_head
        """The module the update calls for values (the value head, or its DDP wrapper)."""
        if self.dist.enabled:  # the update is DDP: gradients averaged over the global minibatch
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.generator.forward_module = DistributedDataParallel(self.policy, device_ids=ids)
            if self.value_head is not None:
                self.value_forward = DistributedDataParallel(self.value_head, device_ids=ids)
        if config.compile:
            self._compile_passes()
        self.iteration = 0
        self.samples = 0
        self.wall_offset = 0.0
        self.checked_policy = config.ratio_check_tol == 0
        self.ratio_tol = config.ratio_check_tol if config.ratio_check_tol is not None else RATIO_TOLERANCE[
            self.sampling.precision]
        self.ratio_check: float | None = None
        """max |teacher-forced - sampled log-prob| of the first batch (logged once as ratio_check_max_abs)."""
        self.out = Path(config.out)
        self.stop_signal: str | None = None
        """Name of the signal (SIGINT, SIGTERM) that stopped the last `train` call, if any."""
        self.reached_target = False
        """True when the last `train` call stopped at ``config.target_reward``."""
        self.stopped_for_hacking = False
        """True when the last `train` call stopped because the reward-hacking flag was raised."""
        self.evaluator = RunEvaluator(self.generator, self.source, self.reward, self.sampling, config, self.device,
                                      eval_pool=self.eval_pool, pool=pool)
        """Evaluations, sample grids and the reward-hacking monitor (`vargym.train.evaluation`)."""
        self.monitor = self.evaluator.monitor

    def _compile_passes(self) -> None:
        """``torch.compile`` the modules the teacher-forced passes call (the policy, or its DDP wrapper, and the
        frozen reference); the sampler and the saved state keep the plain modules."""
        import shutil

        if self.device.type == "cpu" and not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
            raise RuntimeError("compile=True on CPU needs a C++ compiler on PATH (torch.compile's CPU backend "
                               "builds C++ kernels); install g++ or run with compile=False")
        policy = self.generator.forward_module
        self.generator.forward_module = torch.compile(policy if policy is not None else self.policy)
        if self.reference is not None:
            self.reference.forward_module = torch.compile(self.reference.policy)

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
        step_index = batch["step_index"]
        # The sampler's log-probs are the behaviour policy's; a teacher-forced pass is needed only for the
        # start-up check, a value head, or when asked to recompute.
        old = None
        if cfg.recompute_old_log_prob or self.value_head is not None or not self.checked_policy:
            old = teacher_forced(
                self.generator, batch, self.sampling, cfg.minibatch_size, self.value_head, step_index
            )
        if not self.checked_policy:
            self.ratio_check = check_policy_consistency(old["log_prob"], batch["sample_log_prob"], self.ratio_tol)
            self.checked_policy = True
        batch.set("old_log_prob", old["log_prob"] if cfg.recompute_old_log_prob else batch["sample_log_prob"])
        if self.value_head is not None:
            batch.set("old_value", old["value"])  # [N, K]
        if old is not None and self.policy_is_reference:
            batch.set("ref_log_prob", old["log_prob"])  # [N, L]: no update yet, so this pass was the reference's
        elif self.reference is not None:
            ref = teacher_forced(self.reference, batch, self.sampling, cfg.minibatch_size)
            batch.set("ref_log_prob", ref["log_prob"])  # [N, L]
        elif self.generator.lora is not None and self.needs_reference:
            with self.generator.base_policy():
                ref = teacher_forced(self.generator, batch, self.sampling, cfg.minibatch_size)
            batch.set("ref_log_prob", ref["log_prob"])  # [N, L]
        logprob_s = time.perf_counter() - t

        t = time.perf_counter()
        batch = self.ranks.gather_batch(batch, cfg.group_size)  # global: advantages see every group
        batch = self.algo.compute_advantages(batch)
        sums: dict[str, float] = defaultdict(float)
        entropies: list[torch.Tensor] = []  # [n, T] of the first epoch, when no old pass gave them
        updates = 0
        rows = batch.exclude("images")  # the condition's own entries travel with the rest
        for epoch in range(cfg.epochs):
            perm = torch.randperm(cfg.batch_size, generator=self.shuffle_generator).to(self.device)
            for idx in perm.split(cfg.minibatch_size):
                idx = idx.chunk(self.dist.world_size)[self.dist.rank]  # this rank's share of the minibatch
                keep = entropies if old is None and epoch == 0 else None
                for key, value in self._update(rows[idx], keep).items():
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
        metrics.update({k: v / updates for k, v in sums.items()})  # each minibatch's figures are global already
        entropy = old["entropy"] if old is not None else torch.cat(entropies)  # [N, T] (this rank's rows)
        local = {"entropy": float(entropy.mean())}
        for k, value in enumerate(self.layout.step_mean(entropy).tolist()):
            local[f"entropy_step_{k}"] = value
        metrics.update(self.ranks.mean(local))
        if self.ratio_check is not None:
            metrics["ratio_check_max_abs"] = self.ranks.max(self.ratio_check)
            self.ratio_check = None
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

    def _update(self, minibatch: Any, entropies: list[torch.Tensor] | None = None) -> dict[str, float]:
        """One gradient step on a minibatch TensorDict; returns its losses and metrics as floats. The
        minibatch's per-token entropies (before this step) are appended to ``entropies`` when given. With
        ``micro_batch_size`` the rows go through forward/backward in chunks whose gradients add up (each
        chunk's loss weighted by its share of the rows); under DDP only the last chunk synchronises."""
        n = minibatch.batch_size[0]
        size = self.config.micro_batch_size or n
        chunks = torch.arange(n, device=minibatch.device).split(size)
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = defaultdict(float)
        for i, rows in enumerate(chunks):
            last = i == len(chunks) - 1
            with contextlib.ExitStack() as stack:
                if not last:  # accumulate locally; DDP all-reduces once, with the last chunk's backward
                    for module in (self.generator.forward_module, self.value_forward):
                        if hasattr(module, "no_sync"):
                            stack.enter_context(module.no_sync())
                part = self._backward(minibatch[rows] if len(chunks) > 1 else minibatch, len(rows) / n, entropies)
            for key, value in part.items():
                sums[key] += value * len(rows) / n
        max_norm = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
        self.optimizer.step()
        self.policy_is_reference = False
        # means over the whole minibatch (every rank's share), then the statistics derived from them
        metrics = self.algo.finish_metrics(self.ranks.mean(dict(sums)))
        metrics["grad_norm"] = float(grad_norm)  # of the all-reduced gradient: the same on every rank
        return metrics

    def _backward(self, rows: Any, weight: float, entropies: list[torch.Tensor] | None) -> dict[str, float]:
        """Forward and backward of some rows of a minibatch, the loss scaled by ``weight``; their metrics."""
        out = self.generator.forward_rl(self.source.from_batch(rows), rows["tokens"], self.sampling)
        if entropies is not None:
            entropies.append(out.entropy.detach())
        rows.set("log_prob", out.log_probs)  # [n, L], with grad
        rows.set("entropy", out.entropy)  # [n, L]
        if self.value_head is not None:
            rows.set("value", self.value_forward(out.hidden, rows["step_index"]))  # [n, K]
        result = self.algo(rows)
        loss = sum(result[k] for k in result.keys() if k.startswith("loss_"))
        (loss * weight).backward()
        metrics = {k: float(result[k].detach()) for k in result.keys() if k != "entropy"}
        metrics["loss"] = float(loss.detach())
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
        from vargym.metrics_log import MetricsLogger

        cfg = self.config
        main = self.dist.is_main  # only rank 0 writes files (metrics, grids, checkpoints) and evaluates
        if main:
            prepare_run_dir(self.out, resumed=self.iteration > 0, overwrite=cfg.overwrite)
            (self.out / "config.json").write_text(json.dumps(self.resolved_config(), indent=2))
        logger = MetricsLogger(self.out, cfg.tensorboard, resume_iteration=self.iteration or None) if main else None
        end = cfg.steps if num_iterations is None else min(cfg.steps, self.iteration + num_iterations)
        history, started, saved_at = [], time.perf_counter(), None
        self.stop_signal, self.reached_target, self.stopped_for_hacking = None, False, False
        try:
            with stop_on_signals(self):
                if main and self.iteration == 0 and (cfg.sample_every or cfg.eval_every):  # the monitor's baseline
                    self.evaluate(logger, write_grid=bool(cfg.sample_every))
                while (self.iteration < end and self.stop_signal is None and not self.reached_target
                       and not self.stopped_for_hacking):
                    metrics = self.step()
                    it = self.iteration
                    grid = bool(cfg.sample_every) and (it % cfg.sample_every == 0 or it == end)
                    if main and (grid or (cfg.eval_every and it % cfg.eval_every == 0)):
                        metrics.update(self.evaluate(logger, write_grid=grid))
                    metrics["wall_s"] = self.wall_offset + time.perf_counter() - started
                    if main:
                        logger.log(metrics)
                    history.append(metrics)
                    self.reached_target = cfg.target_reward is not None and metrics["reward_mean"] >= cfg.target_reward
                    self.stopped_for_hacking = cfg.stop_on_hacking and metrics.get("hacking_flag") == 1.0
                    self._agree_on_stopping()
                    if cfg.checkpoint_every and it % cfg.checkpoint_every == 0:
                        if main:
                            self.save_checkpoint(self.wall_offset + time.perf_counter() - started)
                        saved_at = it
                    if progress is not None:
                        progress(metrics)
                if history and saved_at != self.iteration and main:  # always checkpoint the last iteration
                    self.save_checkpoint(self.wall_offset + time.perf_counter() - started)
                self.dist.barrier()  # nobody leaves before rank 0 has written the last checkpoint
        finally:
            if logger is not None:
                logger.close()
            self.wall_offset += time.perf_counter() - started
        return history

    def close(self) -> None:
        """Drop the DDP wrappers and leave the process group (every rank together); a no-op in one process.
        The wrappers go first: a DDP reducer destroyed after its process group, at interpreter exit, can
        abort the process."""
        if not self.dist.enabled:
            return
        import gc

        from vargym.distributed import shutdown_distributed

        self.generator.forward_module = None
        self.value_forward = self.value_head
        gc.collect()
        shutdown_distributed()

    def _agree_on_stopping(self) -> None:
        """Under torchrun every rank stops when any rank got a signal or rank 0's monitor flagged hacking
        (only rank 0 evaluates), so no rank waits in a collective for one that left."""
        signalled, hacking = self.ranks.any(self.stop_signal is not None, self.stopped_for_hacking)
        if signalled and self.stop_signal is None:
            self.stop_signal = "peer"
        self.stopped_for_hacking = hacking

    def resolved_config(self) -> dict[str, Any]:
        """``config.json``: the config with what was resolved at start-up (device, the algorithm's own
        defaults such as ``beta``) written in, so the file says what actually ran."""
        data = self.config.to_dict()
        data["device"] = str(self.device)
        data["sampling"] = dataclasses.asdict(self.sampling)
        algo = self.algo.config
        for name in ("beta", "clip_epsilon"):
            if data.get(name) is None and hasattr(algo, name):
                data[name] = getattr(algo, name)
        return data

    # ----------------------------------------------------------------------------------- evaluation
    def eval_condition(self) -> Condition:
        """The fixed evaluation conditions (see `RunEvaluator.condition`)."""
        return self.evaluator.condition()

    def eval_labels(self) -> list[int]:
        """Deprecated: the ids of `eval_condition` (the labels of a class model)."""
        import warnings

        warnings.warn("Trainer.eval_labels() is deprecated: use Trainer.eval_condition()", DeprecationWarning,
                      stacklevel=2)
        return self.eval_condition().ids.tolist()

    def evaluate(self, logger: Any = None, write_grid: bool = False) -> dict[str, float]:
        """Evaluate the current policy (`RunEvaluator.evaluate`: the training distribution, the eval seed);
        with ``write_grid`` also ``<out>/samples/iter_NNNNNN.png``."""
        return self.evaluator.evaluate(self.iteration, self.out if write_grid else None, logger)

    # ---------------------------------------------------------------------------------------- state
    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything resume needs besides the policy weights: ``(tensors, json_ready_meta)``.

        Tensors: AdamW state, algorithm buffers (EMA baselines), value head, frozen reference, the torch /
        shuffle / collector RNG states. Meta: iteration, samples, wall time, config, optimizer and
        scheduler scalars.
        """
        import vargym
        from vargym.train.checkpoint import flatten_optimizer_state

        tensors, optimizer_meta = flatten_optimizer_state(self.optimizer.state_dict())
        tensors.update(_prefixed("algo", self.algo.state_dict()))
        if self.value_head is not None:
            tensors.update(_prefixed("value_head", self.value_head.state_dict()))
        if self.reference is not None:
            tensors.update(_prefixed("reference", self.reference.policy.state_dict()))
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.shuffle"] = self.shuffle_generator.get_state()
        tensors.update(_prefixed("collector", self.collector.state_dict()))
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {
            "format": CHECKPOINT_FORMAT,
            "vargym_version": vargym.__version__,
            "iteration": self.iteration,
            "samples": self.samples,
            "wall_s": self.wall_offset,
            "checked_policy": self.checked_policy,
            "monitor": self.monitor.state_dict(),
            "config": self.config.to_dict(),
            "optimizer": optimizer_meta,
            "scheduler": self.scheduler.state_dict(),
        }
        return tensors, meta

    def load_state_dict(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (the policy weights are loaded with the generator)."""
        from vargym.train.checkpoint import unflatten_optimizer_state

        if meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"checkpoint format {meta.get('format')!r}; this vargym reads {CHECKPOINT_FORMAT}"
            )
        modules = (("reference", self.reference.policy if self.reference else None), ("value_head", self.value_head))
        for name, module in modules:
            section = _section(tensors, name)
            if module is not None:
                if not section:
                    raise CheckpointError(f"the checkpoint holds no {name} state, but this run needs one")
                _load_module(module, section, name)
        _load_module(self.algo, _section(tensors, "algo"), "algorithm state")
        self.optimizer.load_state_dict(unflatten_optimizer_state(tensors, meta["optimizer"]))
        self.scheduler.load_state_dict(meta["scheduler"])
        torch.set_rng_state(tensors["rng.torch"])
        self.shuffle_generator.set_state(tensors["rng.shuffle"])
        self.collector.load_state_dict(_section(tensors, "collector"))
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.iteration = int(meta["iteration"])
        self.policy_is_reference = False
        self.samples = int(meta["samples"])
        self.wall_offset = float(meta["wall_s"])
        self.checked_policy = self.checked_policy or bool(meta.get("checked_policy", True))
        self.monitor.load_state_dict(meta.get("monitor", {}))

    def save_checkpoint(self, wall_s: float | None = None) -> Path:
        """Write ``<out>/checkpoints/iter_NNNNNN`` atomically; prune old ones (``keep_checkpoints``)."""
        from vargym.train.checkpoint import PREFIX, checkpoint_dirs, write_checkpoint

        tensors, meta = self.state_dict()
        if wall_s is not None:
            meta["wall_s"] = wall_s
        path = self.out / "checkpoints" / f"{PREFIX}{self.iteration:06d}"
        write_checkpoint(path, self.generator, tensors, meta,
                         model_extra={"base_model": self.config.model, "base_seed": self.config.seed,
                                      "base_files": dict(self.config.model_files)})
        keep = self.config.keep_checkpoints
        if keep:
            for old in checkpoint_dirs(self.out)[:-keep]:
                shutil.rmtree(old)
        return path

    @classmethod
    def from_checkpoint(cls, path: str | Path, reward: Any = None, **overrides: Any) -> Trainer:
        """Resume from a checkpoint directory (or a run directory: its newest checkpoint).

        Args:
            path: checkpoint directory or run directory.
            reward: a Reward object to use instead of rebuilding ``config.reward`` (for unregistered callables).
            **overrides: config fields to change (``steps`` to train longer, ``device``, ``out``...).
        """
        from vargym.models import load_generator
        from vargym.train.checkpoint import find_checkpoint, read_checkpoint

        ckpt = find_checkpoint(path)
        tensors, meta = read_checkpoint(ckpt)
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(
                f"{ckpt} has checkpoint format {meta.get('format')!r}; this vargym reads {CHECKPOINT_FORMAT}"
            )
        config = TrainConfig.from_dict(meta["config"]).merged(overrides)
        generator = load_generator(ckpt, device=resolve_device(config.device), text_encoder=config.text_encoder)
        trainer = cls(config, model=generator, reward=reward)
        try:
            trainer.load_state_dict(tensors, meta)
        except CheckpointError as e:
            raise CheckpointError(f"{ckpt}: {e}") from e
        return trainer


def train(config: TrainConfig, progress: Callable[[dict[str, Any]], None] | None = None) -> Trainer:
    """Build a `Trainer` for ``config`` and train it to the end; returns the trainer."""
    trainer = Trainer(config)
    trainer.train(progress=progress)
    return trainer
