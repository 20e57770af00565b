"""The reward contract: `RewardContext`, `RewardOutput`, the `Reward` base class and `resize_for`.

A reward maps images ``[N, 3, H, W]`` float in [0, 1] plus a `RewardContext` to a score ``[N]``.
Subclasses implement one hook, `Reward.score`, which returns either a tensor ``[N]`` or a dict of
named tensors ``[N]`` (the components); `Reward.forward` (what ``reward(images, context)`` runs)
does the plumbing: no-grad, device moves, shape and finiteness checks, and packing into a
`RewardOutput`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vargym.errors import VargymError

__all__ = [
    "NAN_POLICIES",
    "resize_shorter_and_crop",
    "FunctionReward",
    "NonFiniteRewardError",
    "Reward",
    "RewardContext",
    "RewardOutput",
    "resize_for",
]

NAN_POLICIES = ("raise", "zero", "min")


class NonFiniteRewardError(VargymError, ValueError):
    """A reward produced NaN or infinite values and its ``nan_policy`` is ``"raise"``."""


@dataclass
class RewardContext:
    """What a reward may know besides the images."""

    labels: torch.Tensor | None = None
    """Class labels ``[N]`` int64 of the episodes (None when the generator does not take labels)."""
    prompt: str | None = None
    """One text prompt (a template: ``{label}`` becomes each image's class name) for prompt-based rewards
    (``"clip"``) of a class-conditional run, instead of their default."""
    image_prompts: list[str] | None = None
    """Each image's own prompt (``[N]`` strings) when the generator is text-conditional; prompt-based
    rewards score each image against its own."""
    metadata: list[dict[str, Any]] | None = None
    """Each image's condition metadata (``[N]`` dicts, e.g. a prompt set's category), when it has any."""
    step: int | None = None
    """The environment step (scale index) the images come from, if not the final one."""
    iteration: int | None = None
    """The training iteration, for rewards whose behaviour changes over training."""
    class_names: list[str] | None = None
    """Names of the generator's classes, indexed by label (None: the ImageNet-1k names)."""
    group_size: int | None = None
    """G when the images come in groups of G contiguous samples of one condition (a grouped rollout); rewards
    that normalise within groups (``make(expr, normalize="group")``) read it. None: no groups."""

    def index(self, rows: slice | torch.Tensor) -> RewardContext:
        """The context of some images: every per-image field (labels, prompts, metadata) sliced alike."""
        import dataclasses

        def take(values: list | None) -> list | None:
            if values is None:
                return None
            picked = range(len(values))[rows] if isinstance(rows, slice) else rows.tolist()
            return [values[i] for i in picked]

        return dataclasses.replace(self, labels=None if self.labels is None else self.labels[rows],
                                   image_prompts=take(self.image_prompts), metadata=take(self.metadata))

    def prompts(self, default: str) -> list[str]:
        """The prompt(s) to score against: each image's own (``image_prompts``), else ``prompt`` or
        ``default`` with ``{label}`` filled per image.

        Returns one prompt (shared by the batch) or one per image. ``{label}`` becomes the class name of
        each label: ``class_names`` when set, else the ImageNet-1k names (the class ids of VAR and LlamaGen).
        """
        if self.image_prompts is not None:
            return list(self.image_prompts)
        prompt = self.prompt or default
        if "{label}" not in prompt:
            return [prompt]
        if self.labels is None:
            raise ValueError(f"prompt {prompt!r} uses {{label}} but the reward context has no labels")
        names = self.class_names
        if names is None:
            from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

            names = IMAGENET_CLASSNAMES
        labels = self.labels.tolist()
        bad = [i for i in labels if not 0 <= i < len(names)]
        if bad:
            raise ValueError(f"label {bad[0]} has no class name (the context names {len(names)} classes)")
        return [prompt.format(label=names[i]) for i in labels]


@dataclass
class RewardOutput:
    """The result of calling a `Reward`."""

    total: torch.Tensor
    """The scalar reward per image, float ``[N]``."""
    components: dict[str, torch.Tensor] = field(default_factory=dict)
    """Named parts, each float ``[N]`` (for logging; a single reward has one, under its name)."""


def resize_shorter_and_crop(images: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """torchvision's ``Resize(size)`` then ``CenterCrop(size)``, the preprocessing of CLIP and its relatives,
    on float ``[N, 3, H, W]`` (antialiased): the shorter side becomes ``size`` and the longer one
    ``int(size * long / short)`` (truncated, as torchvision computes it), then the centre crop starts at
    ``int(round((side - size) / 2))`` (torchvision's offset). Returns ``[N, 3, size, size]``."""
    height, width = images.shape[-2:]
    if height <= width:
        new_h, new_w = size, int(size * width / height)
    else:
        new_h, new_w = int(size * height / width), size
    out = F.interpolate(images, size=(new_h, new_w), mode=mode, antialias=True, align_corners=False)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return out[..., top : top + size, left : left + size]  # [N, 3, size, size]


def resize_for(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize images to ``size x size`` as a reward model wants them (bilinear, antialiased).

    Non-square images have their shorter side resized to ``size`` and are centre-cropped, with torchvision's
    geometry (`resize_shorter_and_crop`).

    Args:
        images: float ``[N, 3, H, W]`` in [0, 1].
        size: target side in pixels, or None to return the images unchanged.

    Returns:
        float ``[N, 3, size, size]`` (the same tensor when nothing changes).
    """
    if size is None:
        return images
    if images.dim() != 4:
        raise ValueError(f"images must be [N, 3, H, W], got shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    if height == size and width == size:
        return images
    return resize_shorter_and_crop(images, size, "bilinear")


def _apply_nan_policy(name: str, key: str, values: torch.Tensor, policy: str) -> torch.Tensor:
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return values
    if policy == "raise":
        bad = int((~finite).sum())
        raise NonFiniteRewardError(
            f"reward {name!r} (component {key!r}) returned {bad} non-finite value(s) out of "
            f"{values.numel()}; pass nan_policy='zero' or 'min' to replace them"
        )
    if policy == "zero":
        fill = torch.zeros((), dtype=values.dtype, device=values.device)
    else:  # "min": the smallest finite value of the batch (0 when none is finite)
        fill = values[finite].min() if bool(finite.any()) else values.new_zeros(())
    return torch.where(finite, values, fill)


class Reward(nn.Module):
    """Base class of all rewards. Subclasses implement `score`.

    Rewards are frozen: they always run in eval mode and without gradients (`train` is a no-op).

    Example:
        >>> reward = vargym.rewards.make("luma")
        >>> out = reward(torch.rand(4, 3, 32, 32))
        >>> out.total.shape, list(out.components)
        (torch.Size([4]), ['luma'])
    """

    input_size: int | None = None
    """Side (pixels) the env resizes images to (bilinear) before scoring; None = the decoded image as it is.
    Rewards with their own preprocessing (CLIP, aesthetic) leave it None and resize once themselves."""

    def __init__(self, name: str | None = None, nan_policy: str = "raise") -> None:
        super().__init__()
        self.name = name or type(self).__name__
        self.nan_policy = nan_policy
        super().train(False)

    @property
    def nan_policy(self) -> str:
        """What to do with NaN/inf scores: ``"raise"`` (default), ``"zero"`` or ``"min"``."""
        return self._nan_policy

    @nan_policy.setter
    def nan_policy(self, value: str) -> None:
        if value not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {value!r}")
        self._nan_policy = value

    def train(self, mode: bool = True) -> Reward:  # noqa: ARG002 - rewards stay frozen
        """Keep eval mode whatever ``mode`` is (reward models are never trained here)."""
        return super().train(False)

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor | dict[str, torch.Tensor]:
        """Score images ``[N, 3, H, W]`` in [0, 1]: a tensor ``[N]`` or a dict of tensors ``[N]``.

        A dict may hold a ``"total"`` entry; without one the total is the sum of the entries.
        """
        raise NotImplementedError

    @property
    def device(self) -> torch.device | None:
        """Device of the reward's parameters/buffers, or None when it has none (follows the input)."""
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return None

    def forward(self, images: torch.Tensor, context: RewardContext | None = None) -> RewardOutput:
        """Score a batch.

        Args:
            images: float ``[N, 3, H, W]`` in [0, 1], on any device.
            context: labels/prompt; an empty `RewardContext` when None.

        Returns:
            `RewardOutput` with ``total`` float ``[N]`` on the images' device.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"reward {self.name!r} expects images [N, 3, H, W], got {tuple(images.shape)}")
        context = context if context is not None else RewardContext()
        out_device = images.device
        device = self.device
        if device is not None and device != images.device:
            images = images.to(device)
        with torch.no_grad():
            result = self.score(images, context)
        return self._pack(result, images.shape[0], out_device)

    def _pack(self, result: Any, batch: int, device: torch.device) -> RewardOutput:
        if isinstance(result, RewardOutput):
            parts, total = dict(result.components), result.total
        elif isinstance(result, dict):
            parts = {k: v for k, v in result.items() if k != "total"}
            total = result.get("total")
            if total is None:
                if not parts:
                    raise ValueError(f"reward {self.name!r} returned an empty dict")
                total = sum(parts.values())
        else:
            parts, total = {}, result
        checked = {}
        for key, value in [("total", total), *parts.items()]:
            if not isinstance(value, torch.Tensor):
                value = torch.as_tensor(value, dtype=torch.float32)
            if tuple(value.shape) != (batch,):
                raise ValueError(
                    f"reward {self.name!r} returned shape {tuple(value.shape)} for {key!r}, "
                    f"expected ({batch},) (one value per image)"
                )
            checked[key] = _apply_nan_policy(self.name, key, value.float(), self.nan_policy).to(device)
        total = checked.pop("total")
        return RewardOutput(total=total, components=checked or {self.name: total})

    def extra_repr(self) -> str:
        return f"name={self.name!r}, input_size={self.input_size}"


class FunctionReward(Reward):
    """A `Reward` around a plain function ``fn(images, context, **params) -> [N] | dict``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None = None,
        input_size: int | None = None,
        nan_policy: str = "raise",
        **params: Any,
    ) -> None:
        super().__init__(name=name or getattr(fn, "__name__", "reward"), nan_policy=nan_policy)
        self.fn = fn
        self.params = params
        self.input_size = input_size

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor | dict[str, torch.Tensor]:
        return self.fn(images, context, **self.params)

    def extra_repr(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{super().extra_repr()}{', ' if params else ''}{params}"
