"""Conditions: what an image is conditioned on, and where a batch of them comes from.

A `Condition` is a batch ``[N]`` of conditions (class labels today; prompts are another subclass). It
writes itself into the rollout TensorDict as plain tensors (`Condition.to_batch`), names each row with a
generic id (`Condition.ids`, what per-condition baselines and diversity metrics group by) and says what a
reward may know about each image (`ConditionSource.reward_fields`).

A `ConditionSource` is the generator's side of it: which conditions exist (a pool the user may narrow),
how to draw a batch of them, how to rebuild one from rollout rows or env observations, and the
observation fields the envs declare. Everything above `vargym.models` goes through these two types, so the
envs, collector, trainer, evaluation and CLI never learn which kind of condition they carry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["ClassCondition", "ClassConditionSource", "Condition", "ConditionField", "ConditionSource"]


class Condition(ABC):
    """A batch of conditions ``[N]``. Stored in rollout TensorDicts as plain tensors (`to_batch`)."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def to(self, device: torch.device | str) -> Condition: ...

    @abstractmethod
    def index(self, rows: torch.Tensor | slice) -> Condition:
        """The conditions of some rows."""

    @abstractmethod
    def to_batch(self) -> dict[str, torch.Tensor]:
        """Tensors with leading dim N, written into the rollout TensorDict."""

    @property
    @abstractmethod
    def ids(self) -> torch.Tensor:
        """int64 ``[N]``: which condition of its source each row is (equal ids = equal conditions)."""

    def repeat_interleave(self, repeats: int) -> Condition:
        """Each row repeated ``repeats`` times in place (a group of G samples per condition)."""
        rows = torch.arange(len(self), device=self.ids.device).repeat_interleave(int(repeats))
        return self.index(rows)

    def captions(self) -> list[str]:
        """A short text per row (sample-grid captions, tables)."""
        return [str(i) for i in self.ids.tolist()]


@dataclass(frozen=True)
class ConditionField:
    """One tensor of a condition as the envs declare it: a discrete value per episode."""

    key: str
    """Its key in the rollout TensorDict (`Condition.to_batch`)."""
    observation_key: str
    """Its key in env observations and the policy's input."""
    num_values: int
    """Values lie in ``[0, num_values)``."""


class ConditionSource(ABC):
    """The conditions a generator takes: a pool to draw from, and the ways to rebuild a `Condition`."""

    fields: tuple[ConditionField, ...]
    """The tensors a condition writes (batch and observation keys, value ranges)."""

    @property
    @abstractmethod
    def num_conditions(self) -> int:
        """Condition ids lie in ``[0, num_conditions)``."""

    @property
    @abstractmethod
    def pool_size(self) -> int:
        """How many conditions `pick` chooses from (the whole set, or the user's subset)."""

    @abstractmethod
    def pick(self, indices: torch.Tensor) -> Condition:
        """The pool's entries at ``indices`` int64 ``[N]`` (positions in the pool, not ids)."""

    @abstractmethod
    def from_batch(self, batch: Any) -> Condition:
        """Rebuild the `Condition` that `Condition.to_batch` wrote into a rollout TensorDict (or dict)."""

    @abstractmethod
    def coerce(self, value: Any, num: int | None = None, device: torch.device | str | None = None) -> Condition:
        """A `Condition` from what a user passes (a `Condition`, or the raw values), checked against this
        source (and, with ``num``, its length)."""

    @abstractmethod
    def reward_fields(self, condition: Condition) -> dict[str, Any]:
        """`vargym.rewards.RewardContext` fields that describe each image's condition."""

    def draw(self, num: int, generator: torch.Generator, device: torch.device | str) -> Condition:
        """``num`` conditions drawn uniformly (with replacement) from the pool with ``generator``."""
        index = torch.randint(self.pool_size, (int(num),), generator=generator, device=generator.device)
        return self.pick(index.to(device))  # [num]

    def first(self, num: int, device: torch.device | str) -> Condition:
        """The first ``num`` conditions of the pool (fewer when the pool is smaller): evaluation's fixed set."""
        return self.pick(torch.arange(min(int(num), self.pool_size), device=device))

    def from_observation(self, observation: Mapping[str, torch.Tensor]) -> Condition:
        """Rebuild a `Condition` from env observation entries (flattened to ``[N]``)."""
        missing = [f.observation_key for f in self.fields if f.observation_key not in observation.keys()]
        if missing:
            raise KeyError(f"the observation holds no condition entry {missing} (written by the env)")
        return self.from_batch({f.key: observation[f.observation_key].reshape(-1) for f in self.fields})


# ---------------------------------------------------------------------------------------- class labels
@dataclass(frozen=True)
class ClassCondition(Condition):
    """Class labels ``[N]`` int64; ``num_classes`` (the generator's) is the null class used by guidance."""

    labels: torch.Tensor

    def __post_init__(self) -> None:
        labels = torch.as_tensor(self.labels)
        if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels must be a 1-D integer tensor, got {labels.dtype} of shape {tuple(labels.shape)}")
        object.__setattr__(self, "labels", labels.long())

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> ClassCondition:
        return ClassCondition(self.labels.to(device))

    def index(self, rows: torch.Tensor | slice) -> ClassCondition:
        return ClassCondition(self.labels[rows])

    def to_batch(self) -> dict[str, torch.Tensor]:
        return {"labels": self.labels}

    @property
    def ids(self) -> torch.Tensor:
        return self.labels

    def repeat_interleave(self, repeats: int) -> ClassCondition:
        return ClassCondition(self.labels.repeat_interleave(int(repeats)))


class ClassConditionSource(ConditionSource):
    """Class labels ``[0, num_classes)``, or the subset ``pool`` (the ``--labels`` option).

    Example:
        >>> source = ClassConditionSource(10, pool=[3, 5])
        >>> source.draw(4, torch.Generator().manual_seed(0), "cpu").labels   # four of {3, 5}
    """

    def __init__(self, num_classes: int, pool: Sequence[int] | torch.Tensor | None = None,
                 class_names: list[str] | None = None) -> None:
        self.num_classes = int(num_classes)
        self.class_names = class_names
        self.fields = (ConditionField("labels", "class_label", self.num_classes),)
        self.pool: torch.Tensor | None = None
        """The allowed labels int64 ``[P]`` (None: every class)."""
        if pool is not None:
            values = pool if isinstance(pool, torch.Tensor) else torch.as_tensor(list(pool))
            if values.numel() == 0:
                raise ValueError("labels must name at least one class (or be None for all classes)")
            if values.dtype.is_floating_point or values.dtype == torch.bool:
                raise ValueError(f"labels must be integers, got {values.dtype}")
            self.pool = values.long().flatten().cpu()
            self._check(self.pool, "labels")

    @property
    def num_conditions(self) -> int:
        return self.num_classes

    @property
    def pool_size(self) -> int:
        return self.num_classes if self.pool is None else self.pool.numel()

    def _check(self, labels: torch.Tensor, what: str) -> None:
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"{what} must lie in [0, {self.num_classes}) (num_classes={self.num_classes}), "
                             f"got min {int(labels.min())} max {int(labels.max())}")

    def pick(self, indices: torch.Tensor) -> ClassCondition:
        if self.pool is None:
            return ClassCondition(indices)
        return ClassCondition(self.pool.to(indices.device)[indices])

    def from_batch(self, batch: Any) -> ClassCondition:
        if "labels" not in batch.keys():
            raise KeyError("the batch holds no condition: expected a 'labels' entry (written by the collector)")
        return ClassCondition(batch["labels"])

    def coerce(self, value: Any, num: int | None = None, device: torch.device | str | None = None) -> ClassCondition:
        if isinstance(value, Condition) and not isinstance(value, ClassCondition):
            raise TypeError(f"this model is class-conditional: pass class labels, not a {type(value).__name__}")
        if isinstance(value, str) or (isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value)):
            raise TypeError(f"this model is class-conditional: pass class labels (integers), not prompts "
                            f"({value!r})")
        labels = value.labels if isinstance(value, ClassCondition) else torch.as_tensor(value, device=device)
        if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.ndim != 1 or (
                num is not None and labels.shape[0] != num):
            shape = f"({num},)" if num is not None else "[N]"
            raise ValueError(f"labels must be integers of shape {shape}, got {labels.dtype} {tuple(labels.shape)}")
        labels = labels.long() if device is None else labels.long().to(device)
        self._check(labels, "labels")
        return ClassCondition(labels)

    def reward_fields(self, condition: Condition) -> dict[str, Any]:
        return {"labels": condition.labels, "class_names": self.class_names}
