"""Grouped rollout collection: the fast plain loop (`GroupedCollector`) and a torchrl ``Collector`` twin.

Both return the episode-level rollout TensorDict of ``docs/architecture.md`` (batch [N], N = num_labels *
group_size, groups contiguous). Seeds map the same way in both, and in the env adapters, so equal seeds give
equal tokens: conditions come from a generator seeded ``seed`` (as ``GenerationVectorEnv.reset(seed=seed)`` does),
and tokens from a second generator seeded ``seed`` (as ``GeneratorPolicy(seed=seed)`` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from tensordict import TensorDict

from vargym.deprecation import renamed_kwargs
from vargym.envs.core import GenerationCore, reward_context
from vargym.envs.policy import GeneratorPolicy
from vargym.models.conditions import Condition

if TYPE_CHECKING:
    from vargym.models import SamplingConfig

__all__ = ["GroupedCollector", "TorchRLGroupedCollector", "episode_tensordict"]


@renamed_kwargs(labels="condition")
def episode_tensordict(
    core: GenerationCore,
    condition: Condition,
    tokens: torch.Tensor,
    log_probs: torch.Tensor,
    step_reward: torch.Tensor,
    keep_images: bool = True,
) -> TensorDict:
    """Pack one finished lockstep batch into the rollout TensorDict.

    Args:
        core: the core that just finished the episodes (images and reward components are read from it).
        condition: the episodes' `vargym.models.Condition` [N] (its `to_batch` tensors and ``condition_id``
            go into the batch); tokens: int64 [N, T]; log_probs: float [N, T]; step_reward: float [N, K].
        keep_images: include ``images`` [N, 3, H, W].
    """
    N, K = core.num_envs, core.num_steps
    device = tokens.device
    if not isinstance(condition, Condition):  # raw values (a class model's labels): checked once here
        condition = core.source.coerce(condition, N, device)
    step_index = core.layout.step_index(device)  # [T]
    done = torch.zeros(N, K, dtype=torch.bool, device=device)
    done[:, -1] = True
    data = {
        **condition.to_batch(),
        "condition_id": condition.ids,  # [N]
        "group_id": torch.arange(N, device=device) // core.group_size,  # [N]
        "tokens": tokens,
        "step_index": step_index.expand(N, -1).clone(),  # [N, T]
        "sample_log_prob": log_probs,
        "reward": step_reward[:, -1].clone(),  # [N]
        "step_reward": step_reward,
        "done": done,
    }
    if keep_images:
        data["images"] = core.last_images
    if core.last_output is not None:
        data["reward_components"] = TensorDict(
            dict(core.last_output.components), batch_size=[N], device=device
        )
    return TensorDict(data, batch_size=[N], device=device)


class GroupedCollector:
    """Rolls out ``num_labels * group_size`` episodes in lockstep: the generator samples, the core scores.

    Args:
        model: a `vargym.models.Generator` (or anything `vargym.models.as_generator` accepts); its policy
            is sampled without grad.
        reward: a `vargym.rewards.Reward` or anything ``vargym.rewards.make`` accepts.
        num_labels: condition draws (groups) per batch; group_size: episodes per condition (G).
        conditions: the pool to draw from, as ``model.condition_source`` takes it (a class model: a list of
            labels; None = all). ``labels`` is its deprecated name.
        sampling: the sampling distribution (or its fields as keywords, e.g. ``temperature=0.7``);
            ``model.forward_rl`` with the same config reproduces ``sample_log_prob``.
        seed: seeds both the condition generator and the sampling generator.
        keep_images: put the decoded ``images`` into the batch.
        reward_steps: env steps after which the partial canvas is decoded and scored (intermediate rewards
            in ``step_reward``); the last step is always scored.
        group_seeds: draw each group's tokens from its own generator, seeded by ``(seed, batch index,
            global group index)``: a group's samples then do not depend on the other groups in the batch.
        shard: ``(rank, world_size)``: this process collects groups ``rank * num_labels ...`` of a global
            batch of ``num_labels * world_size`` groups; conditions are drawn for the whole global batch (the
            same draws on every rank), so the union over ranks equals a one-process batch.
        reward_chunks: sample the batch in this many chunks of whole groups, each decoded and scored as
            soon as it is complete (must divide ``num_labels``; not with ``reward_steps``).
        async_rewards: score each chunk in a worker thread while the next chunk samples (the tokens and
            rewards are those of the same collector without it: only the scheduling changes).

    Example:
        >>> collector = GroupedCollector(load_generator("tiny"), "luma", num_labels=4, group_size=8)
        >>> batch = collector.collect()  # TensorDict [32]: labels, condition_id, group_id, tokens, sample_log_prob, ...
    """

    @renamed_kwargs(labels="conditions")
    def __init__(
        self,
        model: Any,
        reward: Any,
        num_labels: int = 32,
        group_size: int = 16,
        conditions: Any = None,
        sampling: SamplingConfig | None = None,
        seed: int = 0,
        keep_images: bool = True,
        reward_steps: Sequence[int] = (),
        group_seeds: bool = False,
        shard: tuple[int, int] = (0, 1),
        reward_chunks: int = 1,
        async_rewards: bool = False,
        **sampling_fields: Any,
    ):
        from vargym.models import as_generator

        if int(num_labels) < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels}")
        if sampling is None:
            sampling_fields.setdefault("temperature", 0.7)  # the seed paper's training distribution
        self.model = as_generator(model)
        self.policy = GeneratorPolicy(self.model, sampling, seed=seed, **sampling_fields)
        self.sampling = self.policy.sampling
        self.num_labels, self.group_size = int(num_labels), int(group_size)
        self.conditions, self.seed, self.keep_images = conditions, int(seed), keep_images
        self.core = GenerationCore(
            self.model, reward, num_envs=self.num_labels * self.group_size, conditions=conditions,
            group_size=self.group_size, reward_steps=reward_steps,
            decode_precision=self.sampling.decode_precision,
        )
        self.reward = self.core.reward
        self.condition_generator = torch.Generator(device=self.core.device)
        self.condition_generator.manual_seed(int(seed))
        rank, world = (int(x) for x in shard)
        if not 0 <= rank < world:
            raise ValueError(f"shard must be (rank, world_size) with 0 <= rank < world_size, got {shard}")
        if world > 1 and not group_seeds:
            raise ValueError("a sharded collector needs group_seeds=True (else each rank's draws depend on its "
                             "share of the batch)")
        self.rank, self.world_size, self.group_seeds = rank, world, bool(group_seeds)
        if int(reward_chunks) < 1 or self.num_labels % int(reward_chunks):
            raise ValueError(f"reward_chunks must be an int >= 1 dividing num_labels ({self.num_labels}), "
                             f"got {reward_chunks!r}")
        if (reward_chunks > 1 or async_rewards) and reward_steps:
            raise ValueError("reward_chunks / async_rewards score finished images only: drop reward_steps")
        self.reward_chunks, self.async_rewards = int(reward_chunks), bool(async_rewards)
        self._pool = None
        self.batches = 0
        """Batches collected so far (seeds the per-group generators)."""

    @property
    def labels(self) -> Any:
        """Deprecated: ``conditions`` (the pool conditions are drawn from)."""
        import warnings

        warnings.warn("GroupedCollector.labels is deprecated: use conditions", DeprecationWarning, stacklevel=2)
        return self.conditions

    @property
    def label_generator(self) -> torch.Generator:
        """Deprecated name of ``condition_generator``."""
        import warnings

        warnings.warn("GroupedCollector.label_generator is deprecated: use condition_generator", DeprecationWarning,
                      stacklevel=2)
        return self.condition_generator

    @property
    def num_envs(self) -> int:
        """N = num_labels * group_size."""
        return self.core.num_envs

    def collect(self) -> TensorDict:
        """Sample one batch of N complete episodes; returns the rollout TensorDict [N] on the model's device."""
        core = self.core
        if self.world_size == 1:
            condition = core.reset(generator=self.condition_generator)  # [N]
        else:  # every rank draws the global batch's conditions and keeps its slice
            everyone = core.draw_conditions(self.condition_generator, self.num_labels * self.world_size)
            share = self.num_envs
            condition = core.reset(everyone.index(slice(self.rank * share, (self.rank + 1) * share)))
        generators = self._group_generators() if self.group_seeds else None
        self.batches += 1
        if self.reward_chunks > 1 or self.async_rewards:
            return self._collect_in_chunks(condition, generators)
        sampler = self.policy.make_sampler(condition, generators)
        # All steps in one autocast region (its cache keeps bf16 weight copies across steps), then the core
        # scores them: the rewards draw nothing from the sampling generator, so the order is immaterial.
        with self.sampling.autocast(core.device):
            steps = [sampler.step() for _ in range(core.num_steps)]  # [N, n_k] tokens and log-probs
        log_probs, rewards = [], []
        for tokens_k, log_probs_k in steps:
            reward, _ = core.step(tokens_k, validate=False)
            log_probs.append(log_probs_k)
            rewards.append(reward)
        tokens = core.canvas.clone()  # [N, T]
        return episode_tensordict(
            core, condition, tokens, torch.cat(log_probs, dim=1), torch.stack(rewards, dim=1), self.keep_images
        )

    def _collect_in_chunks(self, condition: Condition, generators: list[torch.Generator] | None) -> TensorDict:
        """Sample chunk after chunk; each finished chunk is decoded, then scored (in a worker thread with
        ``async_rewards``, overlapping the next chunk's sampling)."""
        from concurrent.futures import Future, ThreadPoolExecutor

        from vargym.rewards import resize_for

        core, chunks = self.core, self.reward_chunks
        rows, groups = self.num_envs // chunks, self.num_labels // chunks
        if self.async_rewards and self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vargym-reward")
        tokens, log_probs, images, scores = [], [], [], []
        for c in range(chunks):
            part = condition.index(slice(c * rows, (c + 1) * rows))
            gens = generators[c * groups:(c + 1) * groups] if generators is not None else None
            sampler = self.policy.make_sampler(part, gens)
            with self.sampling.autocast(core.device):  # one region: bf16 weight copies cached across steps
                steps = [sampler.step() for _ in range(core.num_steps)]
            tokens.append(torch.cat([t for t, _ in steps], dim=1))
            log_probs.append(torch.cat([lp for _, lp in steps], dim=1))
            images.append(self.model.decode(tokens[-1], self.sampling.decode_precision))  # [rows, 3, H, W]

            def score(images: torch.Tensor = images[-1], part: Condition = part):
                context = reward_context(core.source, part, self.group_size)
                return self.reward(resize_for(images, self.reward.input_size), context)

            if self._pool is not None:
                scores.append(self._pool.submit(score))
            else:
                done: Future = Future()
                done.set_result(score())
                scores.append(done)
        outs = [f.result() for f in scores]
        N, K = self.num_envs, core.num_steps
        device = core.device
        step_reward = torch.zeros(N, K, device=device)
        step_reward[:, -1] = torch.cat([o.total.float() for o in outs])
        done_mask = torch.zeros(N, K, dtype=torch.bool, device=device)
        done_mask[:, -1] = True
        data = {
            **condition.to_batch(), "condition_id": condition.ids,
            "group_id": torch.arange(N, device=device) // self.group_size,
            "tokens": torch.cat(tokens), "step_index": core.layout.step_index(device).expand(N, -1).clone(),
            "sample_log_prob": torch.cat(log_probs), "reward": step_reward[:, -1].clone(),
            "step_reward": step_reward, "done": done_mask,
            "reward_components": TensorDict({k: torch.cat([o.components[k] for o in outs]) for k in outs[0].components},
                                            batch_size=[N], device=device),
        }
        if self.keep_images:
            data["images"] = torch.cat(images)
        return TensorDict(data, batch_size=[N], device=device)

    def _group_generators(self) -> list[torch.Generator]:
        """One generator per local group, seeded by (seed, batch index, global group index)."""
        first = self.rank * self.num_labels
        gens = []
        for g in range(first, first + self.num_labels):
            gen = torch.Generator(device=self.core.device)
            gen.manual_seed((self.seed * 1_000_003 + self.batches * 7_919 + g * 104_729) % (2**63 - 1))
            gens.append(gen)
        return gens

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The states of the condition and sampling generators and the batch count, for exact resume."""
        return {
            "label_generator": self.condition_generator.get_state(),
            "sample_generator": self.policy.generator.get_state(),
            "batches": torch.tensor(self.batches),
        }

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Restore what `state_dict` returned."""
        missing = {"label_generator", "sample_generator"} - set(state_dict)
        if missing:
            raise KeyError(f"collector state_dict lacks {sorted(missing)}")
        self.condition_generator.set_state(state_dict["label_generator"])
        self.policy.generator.set_state(state_dict["sample_generator"])
        self.batches = int(state_dict.get("batches", 0))


class TorchRLGroupedCollector(GroupedCollector):
    """`GroupedCollector`'s API and output, collected by torchrl's ``Collector`` over `GenerationTorchRLEnv`.

    The interoperable path: each `collect` runs one ``Collector`` iteration (``frames_per_batch = N * K``,
    ``reset_at_each_iter=True``, lean settings) with a `GeneratorPolicy`, then turns the [N, K] step layout
    into the episode TensorDict. Same seeds give the same tokens as `GroupedCollector`. Slower (torchrl
    bookkeeping).
    """

    def __init__(self, model: Any, reward: Any, *args: Any, **kwargs: Any):
        """Same arguments as `GroupedCollector`."""
        from torchrl.collectors import Collector

        from vargym.envs.torchrl_env import GenerationTorchRLEnv

        if kwargs.get("group_seeds") or tuple(kwargs.get("shard", (0, 1)))[1] > 1:
            raise ValueError("group_seeds and shard are GroupedCollector features; the torchrl collector draws "
                             "from one generator")
        if kwargs.get("reward_steps"):
            raise ValueError("reward_steps (intermediate rewards) are not supported by the torchrl collector; "
                             "use GroupedCollector")
        super().__init__(model, reward, *args, **kwargs)
        self.env = GenerationTorchRLEnv(
            self.num_envs, model=self.model, reward=self.reward, conditions=self.conditions, group_size=self.group_size,
            decode_precision=self.sampling.decode_precision,
        )
        self.core = self.env.core
        self.collector = Collector(
            self.env,
            self.policy,
            frames_per_batch=self.num_envs * self.core.num_steps,
            total_frames=-1,
            reset_at_each_iter=True,
            auto_register_policy_transforms=False,
            track_traj_ids=False,
            compact_obs=True,
        )
        self.policy.manual_seed(self.seed)  # the Collector probed the policy once while being built
        self._iterator = iter(self.collector)

    def collect(self) -> TensorDict:
        """One torchrl Collector iteration, converted to the rollout TensorDict [N]."""
        core = self.core
        condition = core.draw_conditions(self.condition_generator)  # [N]
        self.env.pin_conditions(condition)
        rollout = next(self._iterator)  # [N, K]
        N, K = rollout.shape
        batch = condition.to_batch()
        pinned = all(bool((rollout[f.observation_key] == batch[f.key].unsqueeze(1)).all()) for f in core.source.fields)
        if K != core.num_steps or not pinned:
            raise RuntimeError(
                "the torchrl Collector did not return whole lockstep episodes of the pinned conditions"
            )
        mask = rollout["token_mask"]  # [N, K, max_tokens]
        tokens = rollout["action"][mask].view(N, core.T)
        log_probs = rollout["action_log_prob"][mask].view(N, core.T)
        step_reward = rollout["next", "reward"].reshape(N, K)
        return episode_tensordict(core, condition, tokens, log_probs, step_reward, self.keep_images)

    def close(self) -> None:
        """Shut the torchrl collector down."""
        self.collector.shutdown()
