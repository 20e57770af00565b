"""`GenerationCore`: the batched, pure-torch generation state shared by every env adapter and the collector.

One episode generates one image step by step: step k appends the ``tokens_per_step[k]`` tokens of the
generator's `TokenLayout` (for VAR, one scale's token map). All ``num_envs`` episodes run in lockstep, so
they start and end together. At the last step the core decodes the tokens with the generator's frozen
decoder, resizes once to the reward's ``input_size`` and scores. The policy network is not part of the env.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from vargym.deprecation import renamed_kwargs, warn_renamed
from vargym.errors import VargymError

if TYPE_CHECKING:
    from vargym.models import Condition, ConditionSource, Generator
    from vargym.rewards import Reward, RewardContext, RewardOutput

__all__ = ["EpisodeEndedError", "GenerationCore", "make_core", "resolve_reward", "reward_context"]


class EpisodeEndedError(VargymError, RuntimeError):
    """``step`` was called after the last step (or before the first ``reset``)."""


def resolve_reward(reward: Any, device: torch.device | None = None) -> Reward:
    """Turn the ``reward=`` kwarg (name, expression, `Reward` or callable) into a `Reward`."""
    import vargym.rewards

    return vargym.rewards.make(reward, device=device)


def reward_context(source: ConditionSource, condition: Condition, group_size: int | None = None) -> RewardContext:
    """What a reward knows besides the images: each image's condition as its source describes it (labels and
    class names, or prompts and metadata), and the group size of a grouped batch. Built here only, for the
    envs, the collector and evaluation."""
    from vargym.rewards import RewardContext

    return RewardContext(**source.reward_fields(condition), group_size=group_size)


def _deprecated(old: str, new: str) -> None:
    warn_renamed(old, new, stacklevel=4)


class GenerationCore:
    """Batched generation state: conditions ``[B]``, a token canvas ``[B, T]`` (-1 = not yet generated), step k.

    Args:
        generator: a `vargym.models.Generator` (only its layout, conditions and decoder are used; it may be
            decode-only).
        reward: a `vargym.rewards.Reward` (anything ``vargym.rewards.make`` accepts is resolved).
        num_envs: batch size B (episodes run in lockstep).
        conditions: the pool `reset` draws from, as ``generator.condition_source`` takes it (a list of class
            labels for a class model; None = all).
        group_size: G; `reset` draws B / G conditions and repeats each G times (groups are contiguous).
        labels: deprecated name of ``conditions``.

    Example:
        >>> core = GenerationCore(load_generator("tiny"), "luma", num_envs=4, group_size=2)
        >>> core.reset(generator=torch.Generator().manual_seed(0))
        >>> for k in range(core.num_steps):
        ...     reward, terminated = core.step(torch.zeros(4, core.step_sizes[k], dtype=torch.long))
    """

    @renamed_kwargs(labels="conditions")
    def __init__(
        self,
        generator: Generator,
        reward: Any,
        num_envs: int = 1,
        conditions: Any = None,
        group_size: int = 1,
        reward_steps: Sequence[int] = (),
        decode_precision: str = "float32",
    ):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if int(group_size) < 1 or int(num_envs) % int(group_size):
            raise ValueError(
                f"group_size must be >= 1 and divide num_envs={num_envs}, got group_size={group_size}"
            )
        self.generator = generator
        self.device = generator.device
        self.reward = resolve_reward(reward, device=self.device)
        self.num_envs, self.group_size = int(num_envs), int(group_size)
        self.layout = generator.layout
        self.step_sizes = list(self.layout.tokens_per_step)
        self.num_steps = self.layout.num_steps
        self.T, self.V = self.layout.num_tokens, generator.vocab_size
        self.max_tokens = self.layout.max_step_tokens
        self.begin_ends = list(self.layout.begin_ends)
        self.reward_steps = tuple(sorted({int(k) for k in reward_steps}))
        if self.reward_steps and not 0 <= self.reward_steps[0] <= self.reward_steps[-1] < self.num_steps - 1:
            raise ValueError(f"reward_steps must be env steps in 0..{self.num_steps - 2} (the last step is always "
                             f"scored), got {list(reward_steps)}")
        self.source: ConditionSource = generator.condition_source(conditions)
        """The conditions episodes draw from (`vargym.models.ConditionSource`)."""
        self.condition_generator = torch.Generator(device=self.device)
        self.condition_generator.manual_seed(0)
        self.condition: Condition | None = None  # [B]
        self.canvas = torch.full((self.num_envs, self.T), -1, dtype=torch.long, device=self.device)  # [B, T]
        self.current_step = self.num_steps  # "ended" until the first reset
        self.decode_precision = decode_precision
        self.last_images: torch.Tensor | None = None  # [B, 3, H, W] of the last finished episode
        self.last_output: RewardOutput | None = None

    @property
    def labels(self) -> torch.Tensor | None:
        """Deprecated: the episodes' class labels ``[B]`` (a class model's ``condition.labels``)."""
        _deprecated("GenerationCore.labels", "GenerationCore.condition")
        return getattr(self.condition, "labels", None)

    @property
    def num_classes(self) -> int:
        """Deprecated: ``source.num_conditions`` (a class model's number of classes)."""
        _deprecated("GenerationCore.num_classes", "GenerationCore.source.num_conditions")
        return self.source.num_conditions

    @property
    def allowed(self) -> torch.Tensor | None:
        """Deprecated: the pool of a class model's labels (None: all), ``source.pool``."""
        _deprecated("GenerationCore.allowed", "GenerationCore.source.pool")
        return getattr(self.source, "pool", None)

    @property
    def label_generator(self) -> torch.Generator:
        """Deprecated: ``condition_generator``."""
        _deprecated("GenerationCore.label_generator", "GenerationCore.condition_generator")
        return self.condition_generator

    def draw_labels(self, generator: torch.Generator | None = None, num_groups: int | None = None) -> torch.Tensor:
        """Deprecated: `draw_conditions` (which returns a `Condition`); here its ids (a class model's labels)."""
        _deprecated("GenerationCore.draw_labels", "GenerationCore.draw_conditions")
        return self.draw_conditions(generator, num_groups).ids

    def condition_observation(self) -> dict[str, torch.Tensor]:
        """The episodes' condition as env observation entries (`vargym.models.ConditionField`), each ``[B]``."""
        batch = self.condition.to_batch()
        return {f.observation_key: batch[f.key].clone() for f in self.source.fields}

    def condition_text(self) -> dict[str, list[str]]:
        """The episodes' condition as text observation entries (`vargym.models.TextField`: a text model's
        ``prompt``), each ``[B]`` strings; empty for a class model."""
        return self.source.observation_text(self.condition)

    # ---------------------------------------------------------------------------------------------- state
    @property
    def done(self) -> bool:
        """True after the last step (and before the first reset)."""
        return self.current_step >= self.num_steps

    def seed(self, seed: int) -> None:
        """Reseed the generator `reset` draws conditions from."""
        self.condition_generator.manual_seed(int(seed))

    def draw_conditions(self, generator: torch.Generator | None = None, num_groups: int | None = None) -> Condition:
        """B / G conditions from the pool, each repeated G times (contiguous): ``[B]`` (``num_groups``
        groups instead of B / G when given)."""
        gen = generator if generator is not None else self.condition_generator
        n = self.num_envs // self.group_size if num_groups is None else int(num_groups)
        return self.source.draw(n, gen, self.device).repeat_interleave(self.group_size)  # [B]

    @renamed_kwargs(labels="condition")
    def reset(self, condition: Any = None, generator: torch.Generator | None = None) -> Condition:
        """Start B new episodes: draw their conditions (``condition=None``) or take the given ``[B]`` ones
        (a `vargym.models.Condition`, or raw values such as class labels). Returns the condition."""
        if condition is None:
            condition = self.draw_conditions(generator)
        else:
            condition = self.source.coerce(condition, self.num_envs, self.device)
        self.condition = condition
        self.canvas.fill_(-1)
        self.current_step = 0
        return condition

    # ----------------------------------------------------------------------------------------------- step
    def step(self, tokens: torch.Tensor, validate: bool = True) -> tuple[torch.Tensor, bool]:
        """Append the tokens of the current step.

        Args:
            tokens: int64 [B, n_k] with ids in [0, V), ``n_k = step_sizes[k]``.
            validate: check shape and id range (the collector skips it for sampler output).

        Returns:
            reward float [B] (zeros before the last step) and ``terminated`` (True at the last step).
        """
        if self.done:
            raise EpisodeEndedError(
                f"the episode is over (all {self.num_steps} steps generated) or was never started; call reset()"
            )
        k = self.current_step
        begin, end = self.begin_ends[k]
        if validate:
            tokens = torch.as_tensor(tokens, device=self.device)
            expected = (self.num_envs, end - begin)
            if tokens.dtype.is_floating_point or tokens.dtype == torch.bool or tuple(tokens.shape) != expected:
                raise ValueError(
                    f"tokens for step {k} must be an integer tensor of shape {expected}, "
                    f"got {tokens.dtype} {tuple(tokens.shape)}"
                )
            if bool(((tokens < 0) | (tokens >= self.V)).any()):
                raise ValueError(
                    f"tokens for step {k} must lie in [0, {self.V}) (vocab size {self.V}), "
                    f"got min {int(tokens.min())} max {int(tokens.max())}"
                )
        self.canvas[:, begin:end] = tokens
        self.current_step += 1
        if not self.done:
            if k in self.reward_steps:
                return self._score_partial(k), False
            return self.canvas.new_zeros(self.num_envs, dtype=torch.float32), False
        return self._finish(), True

    def reward_context(self) -> RewardContext:
        """What the reward knows about the current episodes besides their images."""
        return reward_context(self.source, self.condition, self.group_size if self.group_size > 1 else None)

    def _score_partial(self, k: int) -> torch.Tensor:
        """Intermediate reward after step k: the reward of the partial canvas's image."""
        from vargym.rewards import resize_for

        end = self.begin_ends[k][1]
        images = self.generator.decode_partial(self.canvas[:, :end], k + 1, self.decode_precision)
        return self.reward(resize_for(images, self.reward.input_size), self.reward_context()).total.float()

    def _finish(self) -> torch.Tensor:
        from vargym.rewards import resize_for

        images = self.generator.decode(self.canvas, self.decode_precision)  # [B, 3, H, W]
        out = self.reward(resize_for(images, self.reward.input_size), self.reward_context())
        self.last_images, self.last_output = images, out
        return out.total.float()  # [B]


@renamed_kwargs(labels="conditions")
def make_core(
    model: Any = "tiny",
    reward: Any = "brightness",
    num_envs: int = 1,
    conditions: Any = None,
    group_size: int = 1,
    device: torch.device | str | None = None,
    num_classes: int | None = None,
    reward_steps: Sequence[int] = (),
    decode_precision: str = "float32",
) -> GenerationCore:
    """Build a `GenerationCore` from the kwargs every adapter shares (``model=`` as in
    `vargym.models.as_generator`; ``num_classes`` only for a bare tokenizer)."""
    from vargym.models import as_generator

    generator = as_generator(model, device=device, num_classes=num_classes)
    return GenerationCore(generator, reward, num_envs=num_envs, conditions=conditions, group_size=group_size,
                          reward_steps=reward_steps, decode_precision=decode_precision)
