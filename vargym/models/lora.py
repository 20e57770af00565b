"""LoRA (Hu et al., 2021) on the linear layers of any policy network: ``W x + (alpha / r) B A x``.

Why our own ~100 lines rather than ``peft``: peft installs transformers and accelerate (hundreds of MB) to
wrap plain ``nn.Linear`` layers, and its wrapped layers rename state-dict keys (``base_layer.weight``).
Here `LoRALinear` *is* an ``nn.Linear`` that keeps the base layer's own parameters under their own names,
so the base weights keep their official keys, ``lora_state_dict`` holds the adapters alone, `merge_lora`
folds them back into plain ``nn.Linear`` layers for export, and `lora_disabled` gives the frozen reference
policy without a second copy of the network.

Example:
    >>> names = apply_lora(var, LoRAConfig(rank=16, targets=("mat_qkv", "proj")))  # B = 0: nothing changes yet
    >>> with lora_disabled(var):
    ...     ref = var.forward_rl(labels, tokens)          # the base policy
    >>> merge_lora(var)                                     # plain nn.Linear again, official keys
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LoRAConfig", "LoRALinear", "apply_lora", "base_state_dict", "has_lora", "load_lora_state_dict", "lora_disabled",
    "lora_state_dict", "merge_lora",
]


@dataclass(frozen=True)
class LoRAConfig:
    """Which linear layers get adapters, and their size."""

    rank: int = 16
    """r: rank of the update B A."""
    alpha: float | None = None
    """Scale numerator: the update is multiplied by alpha / r (None: alpha = r, a scale of 1)."""
    targets: tuple[str, ...] | None = None
    """Attribute names of the ``nn.Linear`` layers to adapt. None: the family's own (its registry entry's
    ``lora_targets``: the attention and FFN projections), which `Generator.apply_lora` fills in; a bare
    `apply_lora` call needs the names."""

    def __post_init__(self) -> None:
        if int(self.rank) != self.rank or self.rank < 1:
            raise ValueError(f"LoRA rank must be an int >= 1, got {self.rank!r}")
        if self.alpha is not None and self.alpha <= 0:
            raise ValueError(f"LoRA alpha must be > 0 or None, got {self.alpha!r}")
        if self.targets is not None:
            if not self.targets:
                raise ValueError("LoRA targets must name at least one linear layer (or be None: the family's)")
            object.__setattr__(self, "targets", tuple(self.targets))

    @property
    def scale(self) -> float:
        return (self.alpha if self.alpha is not None else self.rank) / self.rank


class LoRALinear(nn.Linear):
    """An ``nn.Linear`` with a low-rank update; ``weight``/``bias`` are the base layer's own parameters."""

    def __init__(self, base: nn.Linear, rank: int, scale: float):
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias  # the same Parameter objects: keys and storage kept
        self.scale, self.enabled = scale, True
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, **factory))  # [r, in]
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, **factory))  # [out, r]: starts as a no-op
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        if self.enabled:
            out = out + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale
        return out

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with ``W + scale * B A``."""
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                           device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            linear.weight.copy_(self.weight + self.scale * self.lora_B @ self.lora_A)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear


def _targets(module: nn.Module, names: tuple[str, ...]) -> Iterator[tuple[nn.Module, str, str]]:
    for path, parent in module.named_modules():
        for name, child in parent.named_children():
            if name in names and type(child) is nn.Linear:
                yield parent, name, f"{path}.{name}" if path else name


def apply_lora(module: nn.Module, config: LoRAConfig) -> list[str]:
    """Wrap the target linear layers of ``module`` in place and freeze everything but the adapters.

    Returns:
        the dotted names of the adapted layers.

    Raises:
        ValueError: no layer matched ``config.targets``, or ``module`` already has adapters.
    """
    if has_lora(module):
        raise ValueError("this module already has LoRA adapters")
    if config.targets is None:
        raise ValueError("LoRAConfig.targets is None (the family's layers): name the nn.Linear attributes to "
                         "adapt, or apply it through Generator.apply_lora, which takes its family's lora_targets")
    found = list(_targets(module, config.targets))
    if not found:
        raise ValueError(f"LoRA targets {config.targets} match no nn.Linear layer of {type(module).__name__}")
    module.requires_grad_(False)
    for parent, name, _ in found:
        setattr(parent, name, LoRALinear(getattr(parent, name), config.rank, config.scale))
    return [path for _, _, path in found]


def has_lora(module: nn.Module) -> bool:
    return any(isinstance(m, LoRALinear) for m in module.modules())


def lora_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The adapters alone: ``{"<layer>.lora_A": [r, in], "<layer>.lora_B": [out, r], ...}``."""
    return {k: v for k, v in module.state_dict().items() if k.endswith((".lora_A", ".lora_B"))}


def base_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """Everything but the adapters: the base network's state dict under its own (official) keys."""
    return {k: v for k, v in module.state_dict().items() if not k.endswith((".lora_A", ".lora_B"))}


def load_lora_state_dict(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load adapters saved by `lora_state_dict` (strict: the same layers and shapes)."""
    own = lora_state_dict(module)
    if set(own) != set(state):
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        raise ValueError(f"LoRA adapters do not match: missing {missing[:4]}, unexpected {unexpected[:4]}")
    module.load_state_dict(state, strict=False)


@contextlib.contextmanager
def lora_disabled(module: nn.Module) -> Iterator[None]:
    """Run ``module`` as its base network (the adapters contribute nothing) inside the block."""
    layers = [m for m in module.modules() if isinstance(m, LoRALinear)]
    states = [m.enabled for m in layers]
    for m in layers:
        m.enabled = False
    try:
        yield
    finally:
        for m, state in zip(layers, states):
            m.enabled = state


def merge_lora(module: nn.Module) -> nn.Module:
    """Fold every adapter into its layer (plain ``nn.Linear`` again, official keys); returns ``module``."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, name, child.merged())
    return module
