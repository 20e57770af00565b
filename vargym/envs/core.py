"""`VARCore`: the batched, pure-torch generation state shared by every env adapter and the collector.

One episode generates one image scale by scale: step k appends the token map of scale k (``pn_k^2``
tokens). All ``num_envs`` episodes run in lockstep, so they start and end together. At the last scale the
core decodes the tokens with the frozen VQ-VAE, resizes once to the reward's ``input_size`` and scores.
The transformer is not part of the env: it is the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from vargym.errors import VargymError

if TYPE_CHECKING:
    from vargym.models import VQVAE
    from vargym.rewards import Reward, RewardOutput

__all__ = ["EpisodeEndedError", "VARCore", "make_core", "resolve_model", "resolve_reward"]


class EpisodeEndedError(VargymError, RuntimeError):
    """``step`` was called after the last scale (or before the first ``reset``)."""


def resolve_model(model: Any, device: torch.device | str | None = None) -> tuple[VQVAE, Any]:
    """Turn the ``model=`` kwarg into ``(vqvae, var_or_None)`` on ``device``.

    Accepts a ``(vqvae, var)`` tuple, a `VQVAE`, a `VAR` with an attached VQ-VAE, or a string spec for
    `vargym.models.load_model` (``"tiny"``, ``"random:tiny"``, ``"var-d16"``, a checkpoint directory).
    """
    from vargym.models import VAR, VQVAE, load_model

    if isinstance(model, str):
        vqvae, var = load_model(model, device=device)
    elif isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], VQVAE):
        vqvae, var = model
    elif isinstance(model, VQVAE):
        vqvae, var = model, None
    elif isinstance(model, VAR):
        vqvae, var = model.vqvae, model
    else:
        raise TypeError(
            f"model must be a (vqvae, var) tuple, a VQVAE, a VAR or a load_model spec string, "
            f"got {type(model).__name__}"
        )
    if device is not None:
        vqvae = vqvae.to(device)
        var = var.to(device) if var is not None else None
    return vqvae, var


def resolve_reward(reward: Any, device: torch.device | None = None) -> Reward:
    """Turn the ``reward=`` kwarg (name, expression, `Reward` or callable) into a `Reward`."""
    import vargym.rewards

    return vargym.rewards.make(reward, device=device)


class VARCore:
    """Batched generation state: labels ``[B]``, a token canvas ``[B, L]`` (-1 = not yet generated), scale k.

    Args:
        vqvae: the frozen multi-scale VQ-VAE (decodes the final tokens).
        reward: a `vargym.rewards.Reward` (anything ``vargym.rewards.make`` accepts is resolved).
        num_envs: batch size B (episodes run in lockstep).
        labels: the classes `reset` may draw from (None = all classes).
        group_size: G; `reset` draws B / G labels and repeats each G times (groups are contiguous).

    Example:
        >>> core = VARCore(vqvae, "luma", num_envs=4, group_size=2)
        >>> core.reset(generator=torch.Generator().manual_seed(0))
        >>> for k in range(core.num_scales):
        ...     reward, terminated = core.step(torch.zeros(4, core.scale_sizes[k], dtype=torch.long))
    """

    def __init__(
        self,
        vqvae: VQVAE,
        reward: Any,
        num_envs: int = 1,
        labels: Sequence[int] | None = None,
        group_size: int = 1,
        num_classes: int | None = None,
    ):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if int(group_size) < 1 or int(num_envs) % int(group_size):
            raise ValueError(
                f"group_size must be >= 1 and divide num_envs={num_envs}, got group_size={group_size}"
            )
        self.vqvae = vqvae
        self.device = next(vqvae.parameters()).device
        self.reward = resolve_reward(reward, device=self.device)
        self.num_envs, self.group_size = int(num_envs), int(group_size)
        self.patch_nums: tuple[int, ...] = tuple(vqvae.v_patch_nums)
        self.scale_sizes = [pn * pn for pn in self.patch_nums]
        self.num_scales = len(self.patch_nums)
        self.L, self.V = sum(self.scale_sizes), int(vqvae.vocab_size)
        self.max_tokens = max(self.scale_sizes)
        ends = torch.tensor(self.scale_sizes).cumsum(0).tolist()
        self.begin_ends = [(e - n, e) for e, n in zip(ends, self.scale_sizes)]
        self.num_classes = int(num_classes) if num_classes is not None else None
        self.allowed = self._check_allowed(labels)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(0)
        self.labels: torch.Tensor | None = None  # [B] int64
        self.canvas = torch.full((self.num_envs, self.L), -1, dtype=torch.long, device=self.device)  # [B, L]
        self.scale = self.num_scales  # "ended" until the first reset
        self.last_images: torch.Tensor | None = None  # [B, 3, H, W] of the last finished episode
        self.last_output: RewardOutput | None = None

    def _check_allowed(self, labels: Sequence[int] | None) -> torch.Tensor | None:
        if labels is None:
            if self.num_classes is None:
                raise ValueError("labels=None needs num_classes (pass the VAR's num_classes)")
            return None
        allowed = (
            torch.as_tensor(list(labels) if not isinstance(labels, torch.Tensor) else labels).long().flatten()
        )
        if allowed.numel() == 0:
            raise ValueError("labels must name at least one class (or be None for all classes)")
        self._check_range(allowed, "labels")
        return allowed.to(self.device)

    def _check_range(self, labels: torch.Tensor, what: str) -> None:
        if self.num_classes is not None and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(
                f"{what} must lie in [0, {self.num_classes}) (num_classes={self.num_classes}), "
                f"got min {int(labels.min())} max {int(labels.max())}"
            )
        if self.num_classes is None and int(labels.min()) < 0:
            raise ValueError(f"{what} must be >= 0, got min {int(labels.min())}")

    # ---------------------------------------------------------------------------------------------- state
    @property
    def done(self) -> bool:
        """True after the last scale (and before the first reset)."""
        return self.scale >= self.num_scales

    def seed(self, seed: int) -> None:
        """Reseed the generator `reset` draws labels from."""
        self.generator.manual_seed(int(seed))

    def draw_labels(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """B / G labels from the allowed classes, each repeated G times (contiguous): [B] int64."""
        gen = generator if generator is not None else self.generator
        n = self.num_envs // self.group_size
        high = self.num_classes if self.allowed is None else self.allowed.numel()
        idx = torch.randint(high, (n,), generator=gen, device=gen.device).to(self.device)  # [B / G]
        drawn = idx if self.allowed is None else self.allowed[idx]
        return drawn.repeat_interleave(self.group_size)  # [B]

    def reset(
        self, labels: torch.Tensor | Sequence[int] | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Start B new episodes; draw labels (``labels=None``) or take the given [B] labels. Returns labels [B]."""
        if labels is None:
            labels = self.draw_labels(generator)
        else:
            labels = torch.as_tensor(labels, device=self.device)
            if labels.dtype.is_floating_point or tuple(labels.shape) != (self.num_envs,):
                raise ValueError(
                    f"labels must be integers of shape ({self.num_envs},), "
                    f"got {labels.dtype} {tuple(labels.shape)}"
                )
            labels = labels.long()
            self._check_range(labels, "labels")
        self.labels = labels
        self.canvas.fill_(-1)
        self.scale = 0
        return labels

    def token_maps(self) -> list[torch.Tensor]:
        """Views of the canvas per finished scale: one [B, pn_k^2] map per scale."""
        return [self.canvas[:, b:e] for b, e in self.begin_ends[: self.scale]]

    # ----------------------------------------------------------------------------------------------- step
    def step(self, tokens: torch.Tensor, validate: bool = True) -> tuple[torch.Tensor, bool]:
        """Append the token map of the current scale.

        Args:
            tokens: int64 [B, pn_k^2] with ids in [0, V).
            validate: check shape and id range (the collector skips it for sampler output).

        Returns:
            reward float [B] (zeros before the last scale) and ``terminated`` (True at the last scale).
        """
        if self.done:
            raise EpisodeEndedError(
                f"the episode is over (all {self.num_scales} scales generated) or was never started; call reset()"
            )
        k = self.scale
        begin, end = self.begin_ends[k]
        if validate:
            tokens = torch.as_tensor(tokens, device=self.device)
            expected = (self.num_envs, end - begin)
            if (
                tokens.dtype.is_floating_point
                or tokens.dtype == torch.bool
                or tuple(tokens.shape) != expected
            ):
                raise ValueError(
                    f"tokens for scale {k} must be an integer tensor of shape {expected}, "
                    f"got {tokens.dtype} {tuple(tokens.shape)}"
                )
            if bool(((tokens < 0) | (tokens >= self.V)).any()):
                raise ValueError(
                    f"tokens for scale {k} must lie in [0, {self.V}) (vocab size {self.V}), "
                    f"got min {int(tokens.min())} max {int(tokens.max())}"
                )
        self.canvas[:, begin:end] = tokens
        self.scale += 1
        if not self.done:
            return self.canvas.new_zeros(self.num_envs, dtype=torch.float32), False
        return self._finish(), True

    def _finish(self) -> torch.Tensor:
        from vargym.rewards import RewardContext, resize_for

        with torch.no_grad():
            images = self.vqvae.fhat_to_img(
                self.vqvae.quantize.tokens_to_fhat(self.token_maps())
            )  # [B, 3, H, W]
        out = self.reward(resize_for(images, self.reward.input_size), RewardContext(labels=self.labels))
        self.last_images, self.last_output = images, out
        return out.total.float()  # [B]


def make_core(
    model: Any = "tiny",
    reward: Any = "brightness",
    num_envs: int = 1,
    labels: Sequence[int] | None = None,
    group_size: int = 1,
    device: torch.device | str | None = None,
    num_classes: int | None = None,
) -> VARCore:
    """Build a `VARCore` from the kwargs every adapter shares (``model=`` as in `resolve_model`)."""
    vqvae, var = resolve_model(model, device)
    if num_classes is None and var is not None:
        num_classes = var.num_classes
    return VARCore(
        vqvae, reward, num_envs=num_envs, labels=labels, group_size=group_size, num_classes=num_classes
    )
