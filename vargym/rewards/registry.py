"""Reward registry: `register`, `make`, `list_rewards`, and the weighted-sum expression syntax.

Specs accepted by `make`:

- a registered name: ``"brightness"``, ``"aesthetic"``, ``"clip"``;
- an entry point ``"pkg.module:attr"`` (a reward function, a `Reward` subclass/factory or instance);
- a weighted sum of those: ``"aesthetic+0.5*clip"``, ``"brightness-0.1*contrast"``,
  ``"luma - contrast"``. A term is ``[sign] [number *] name``. Names may contain ``-`` followed
  by a letter (``"aesthetic-v1"``, ``"loo-fid"``), so subtracting a bare name needs spaces
  (``"a - b"``) or a coefficient (``"a-1*b"``).

``make(expr, normalize=True)`` (or ``"running"``) standardises every term with its own running mean/std
(`RunningNormalizeReward`) before weighting, so terms on different scales (aesthetic ~1..10, CLIP
cosine ~0.1..0.35) are balanced. ``normalize="group"`` standardises every term **within its group** of G
samples of one condition before weighting (the decoupled normalisation of GDPO, Liu et al. 2026, and of
Flow-GRPO's multi-reward runs): a term whose group is flat adds nothing, so an easy term cannot drown a hard
one. It applies to grouped batches (`RewardContext.group_size`, which the training rollouts set); images that
come without groups (evaluations, sample grids) get the weighted sum of the raw terms, comparable across a run.
The components of the output stay the raw scores, each term's total under its name.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vargym.naming import did_you_mean
from vargym.rewards.base import FunctionReward, Reward, RewardContext

__all__ = ["CombinedReward", "list_rewards", "make", "parse_expression", "register"]


@dataclass
class _Entry:
    name: str
    target: Any
    """A callable, a `Reward` instance, or a ``"pkg.module:attr"`` string resolved on first use."""
    factory: bool
    defaults: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, _Entry] = {}


def register(
    name: str, target: Any = None, *, factory: bool = False, override: bool = False, **defaults: Any
):
    """Register a reward under ``name``; usable as a decorator or a call.

    The target is a reward function ``fn(images [N,3,H,W], context, **params) -> [N] | dict``,
    a `Reward` subclass (built with ``cls(**defaults, **kwargs)``), a factory function returning a
    `Reward` (pass ``factory=True``), or a ``"pkg.module:attr"`` string imported on first `make`.

    Args:
        name: registry name.
        target: what to register; omit to use `register` as a decorator.
        factory: the target is a function that builds a reward, not a reward function.
        override: replace an existing entry instead of raising.
        **defaults: default keyword arguments (``input_size=`` too, for reward functions).

    Example:
        >>> @register("redness")
        ... def redness(images, context):
        ...     return images[:, 0].mean(dim=(1, 2))
    """
    if not isinstance(name, str) or not name or not _NAME_RE.fullmatch(name):
        raise ValueError(f"reward name must match {_NAME_RE.pattern!r}, got {name!r}")

    def _add(obj: Any) -> Any:
        if name in _REGISTRY and not override:
            raise ValueError(f"reward {name!r} is already registered (pass override=True to replace it)")
        _REGISTRY[name] = _Entry(name, obj, factory, dict(defaults))
        return obj

    return _add if target is None else _add(target)


def list_rewards() -> list[str]:
    """Names of all registered rewards, sorted."""
    return sorted(_REGISTRY)


def _load_entry_point(path: str) -> Any:
    """``"pkg.module:attr"`` (importable, or a module in the current directory) or ``"path/file.py:attr"``."""
    module_name, _, attr = path.rpartition(":")
    if module_name.endswith(".py"):
        module = _module_from_file(Path(module_name), path)
    else:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            here = Path.cwd()
            top = module_name.split(".")[0]
            if e.name != top or not ((here / f"{top}.py").is_file() or (here / top / "__init__.py").is_file()):
                raise ValueError(f"cannot import module {module_name!r} of reward entry point {path!r}: {e}. "
                                 f"Give an importable module, one in the current directory, or a file: "
                                 f"'path/to/file.py:{attr}'") from e
            sys.path.insert(0, str(here))  # as `python -m` would: a module beside the user is importable
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise ValueError(f"cannot import module {module_name!r} of reward entry point {path!r}: {e}") from e
    try:
        return getattr(module, attr)
    except AttributeError as e:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r} (entry point {path!r})") from e


def _module_from_file(file: Path, path: str) -> Any:
    import importlib.util

    if not file.is_file():
        raise ValueError(f"reward entry point {path!r}: file {file} does not exist")
    name = f"vargym_user_rewards.{file.resolve().with_suffix('').as_posix().strip('/').replace('/', '.')}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise ValueError(f"reward entry point {path!r}: running {file} failed: {e}") from e
    return module


def _is_file_entry(spec: str) -> bool:
    return ".py:" in spec


def _unknown(name: str) -> ValueError:
    names = list_rewards()
    hint = did_you_mean(name, names)
    return ValueError(f"unknown reward {name!r}.{hint} Registered rewards: {', '.join(names)}")


def _build_one(name: str, kwargs: dict[str, Any], device: Any) -> Reward:
    if name in _REGISTRY:
        entry = _REGISTRY[name]
    elif ":" in name:
        entry = _Entry(name.rsplit(":", 1)[-1], name, False)
    else:
        raise _unknown(name)
    target = _load_entry_point(entry.target) if isinstance(entry.target, str) else entry.target
    params = {**entry.defaults, **kwargs}
    if isinstance(target, Reward):
        if params:
            raise ValueError(f"reward {name!r} is a ready-made instance and takes no arguments, got {params}")
        return target
    if inspect.isclass(target) or entry.factory:
        if device is not None and "device" in inspect.signature(target).parameters:
            params.setdefault("device", device)
        try:
            obj = target(**params)
        except TypeError as e:
            raise ValueError(f"bad arguments for reward {name!r}: {e}") from e
        if not isinstance(obj, Reward):
            if not callable(obj):
                raise TypeError(f"factory of reward {name!r} returned {type(obj).__name__}, not a Reward")
            obj = FunctionReward(lambda images, context, _fn=obj: _fn(images, context), name=entry.name)
    elif callable(target):
        obj = FunctionReward(target, name=entry.name, **params)
    else:
        raise TypeError(f"reward entry {name!r} resolves to {type(target).__name__}, which is not callable")
    obj.name = entry.name
    return obj


# A term: optional sign, optional "number *", a name (hyphens allowed before a letter).
_NAME_PATTERN = r"[A-Za-z_][\w.:]*(?:-[A-Za-z_][\w.:]*)*"
_NAME_RE = re.compile(_NAME_PATTERN)
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_TERM_RE = re.compile(rf"\s*([+-])?\s*(?:({_NUMBER})\s*\*\s*)?({_NAME_PATTERN})\s*")


def parse_expression(spec: str) -> list[tuple[float, str]]:
    """Split ``"aesthetic+0.5*clip"`` into ``[(1.0, "aesthetic"), (0.5, "clip")]``.

    Raises:
        ValueError: the spec is not a sum of ``[sign] [number *] name`` terms.
    """
    terms, pos = [], 0
    while pos < len(spec):
        match = _TERM_RE.match(spec, pos)
        if match is None or match.end() == pos or (terms and match.group(1) is None):
            raise ValueError(
                f"cannot parse reward spec {spec!r} at position {pos} ({spec[pos:]!r}); "
                "expected terms like 'name', '+0.5*name' or '- name'"
            )
        sign = -1.0 if match.group(1) == "-" else 1.0
        terms.append((sign * float(match.group(2) or 1.0), match.group(3)))
        pos = match.end()
    if not terms:
        raise ValueError(f"empty reward spec {spec!r}")
    return terms


NORMALIZATIONS = ("none", "running", "group")
"""How `CombinedReward` scales each term before weighting: not at all, by a running mean/std, or within groups."""


def group_standardize(values: torch.Tensor, group_size: int | None, eps: float = 1e-4, name: str = "reward"
                      ) -> torch.Tensor:
    """``values`` ``[N]`` centred on their group's mean and divided by its std + ``eps`` (groups: ``group_size``
    contiguous rows); a flat group gives zeros."""
    if not group_size or values.shape[0] % group_size:
        raise ValueError(f"{name}: normalize='group' standardises each term within groups, but the images come "
                         f"without a group size dividing {values.shape[0]} (got {group_size}); use it in grouped "
                         f"training (group_size >= 2) or normalize='running'")
    grouped = values.view(-1, group_size)
    mean, std = grouped.mean(dim=1, keepdim=True), grouped.std(dim=1, keepdim=True) if group_size > 1 else 0
    return ((grouped - mean) / (std + eps)).view(-1)


class CombinedReward(Reward):
    """Weighted sum of rewards; components are the raw scores of each term.

    All terms see the same images tensor, so CLIP-based terms that share a backbone
    (see `vargym.rewards.clip_models.load_clip`) run the image encoder once.
    """

    def __init__(self, terms: list[tuple[float, Reward]], normalize: bool | str = False, name: str | None = None,
                 eps: float = 1e-4):
        super().__init__(name=name or "+".join(r.name for _, r in terms))
        if not terms:
            raise ValueError("CombinedReward needs at least one term")
        normalize = {False: "none", True: "running"}.get(normalize, normalize)
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS} (or True/False), got {normalize!r}")
        if normalize == "running":
            from vargym.rewards.wrappers import RunningNormalizeReward

            terms = [(w, RunningNormalizeReward(r)) for w, r in terms]
        self.eps = float(eps)
        self.weights = [float(w) for w, _ in terms]
        self.rewards = nn.ModuleList([r for _, r in terms])
        self.normalize = normalize
        sizes = {r.input_size for r in self.rewards}
        self.input_size = sizes.pop() if len(sizes) == 1 else None

    def score(self, images: torch.Tensor, context: RewardContext) -> dict[str, torch.Tensor]:
        total = images.new_zeros(images.shape[0], dtype=torch.float32)  # [N]
        components: dict[str, torch.Tensor] = {}

        def add(key: str, value: torch.Tensor) -> None:
            unique, k = key, 2
            while unique in components:
                unique, k = f"{key}#{k}", k + 1
            components[unique] = value

        for weight, reward in zip(self.weights, self.rewards, strict=True):
            running = self.normalize == "running"
            out = reward.reward(images, context) if running else reward(images, context)  # the term's raw scores
            term = out.total.to(total.device).float()  # [N]
            if running:
                term = reward.transform(term)
            elif self.normalize == "group" and context.group_size is not None:
                term = group_standardize(term, context.group_size, self.eps, self.name)
            total = total + weight * term
            for key, value in out.components.items():
                add(key, value)
            if reward.name not in out.components:  # the term's raw total, logged beside its parts
                add(reward.name, out.total)
        return {"total": total, **components}

    def extra_repr(self) -> str:
        terms = ", ".join(f"{w:g}*{r.name}" for w, r in zip(self.weights, self.rewards, strict=True))
        return f"{terms}, normalize={self.normalize}"


def make(
    spec: str | Reward | Callable[..., Any],
    device: torch.device | str | None = None,
    *,
    normalize: bool | str = False,
    nan_policy: str | None = None,
    **kwargs: Any,
) -> Reward:
    """Build a `Reward` from a name, an entry point, an expression, or a ready reward/callable.

    Args:
        spec: see the module docstring.
        device: where to put the reward's models (None: leave where built, CPU for weights).
        normalize: how each term is scaled before weighting: False/"none", True/"running" (running mean/std)
            or "group" (within each group of G samples, GDPO's decoupled normalisation).
        nan_policy: ``"raise"`` (default), ``"zero"`` or ``"min"``; set on every sub-reward.
        **kwargs: constructor arguments. For a single reward they go to it directly; for an
            expression, pass one dict per term, keyed by the term's name:
            ``make("aesthetic+0.5*clip", clip={"prompt": "a cat"})``.

    Returns:
        A frozen `Reward` (eval mode); ``reward(images, context)`` gives a `RewardOutput`.

    Example:
        >>> reward = make("brightness-0.1*contrast")
        >>> reward(torch.rand(2, 3, 16, 16)).total.shape
        torch.Size([2])
    """
    if isinstance(spec, Reward):
        reward = spec
    elif callable(spec) and not isinstance(spec, str):
        reward = FunctionReward(spec, **kwargs)
    elif not isinstance(spec, str):
        raise TypeError(f"reward spec must be a str, Reward or callable, got {type(spec).__name__}")
    else:
        spec = spec.strip()
        if spec.startswith("remote:"):  # a reward served over HTTP (`vargym serve-reward`)
            from vargym.rewards.remote import RemoteReward

            return _finish(RemoteReward(spec, **kwargs), device, nan_policy)
        terms = [(1.0, spec)] if spec in _REGISTRY or _is_file_entry(spec) else parse_expression(spec)
        if len(terms) == 1 and terms[0][0] == 1.0 and normalize in (False, "none"):
            reward = _build_one(terms[0][1], kwargs, device)
        else:
            names = [n for _, n in terms]
            extra = sorted(set(kwargs) - set(names))
            if extra:
                raise ValueError(
                    f"arguments {extra} match no term of {spec!r}; for an expression pass one dict "
                    f"per term name, e.g. {names[-1]}={{...}}"
                )
            built = [(w, _build_one(n, dict(kwargs.get(n, {})), device)) for w, n in terms]
            reward = CombinedReward(built, normalize=normalize, name=spec)
    return _finish(reward, device, nan_policy)


def _finish(reward: Reward, device: torch.device | str | None, nan_policy: str | None) -> Reward:
    if nan_policy is not None:
        for module in reward.modules():
            if isinstance(module, Reward):
                module.nan_policy = nan_policy
    if device is not None:
        reward = reward.to(device)
    return reward.eval()
