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

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["ClassCondition", "ClassConditionSource", "Condition", "ConditionField", "ConditionSource", "PromptCondition",
           "PromptSource", "PromptTable", "TextField"]


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


@dataclass(frozen=True)
class TextField:
    """A text entry of env observations (a prompt): what gymnasium's ``Text`` space needs to hold it."""

    observation_key: str
    max_length: int
    """The longest text the entry may hold (characters)."""
    charset: str
    """Every character the entry may hold."""


class ConditionSource(ABC):
    """The conditions a generator takes: a pool to draw from, and the ways to rebuild a `Condition`."""

    fields: tuple[ConditionField, ...]
    """The tensors a condition writes (batch and observation keys, value ranges)."""
    text_fields: tuple[TextField, ...] = ()
    """Text entries of the observation besides the tensors (a prompt), filled by `observation_text`."""

    def observation_text(self, condition: Condition) -> dict[str, list[str]]:
        """The text entries (`text_fields`) of each row of ``condition``."""
        return {}

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
        if isinstance(pool, ClassCondition):
            pool = pool.labels
        if pool is not None:
            if _is_text_value(pool):
                raise TypeError(f"this model is class-conditional: its conditions are class labels (integers in "
                                f"[0, {self.num_classes})), not prompts ({_short(pool)})")
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
        if _is_text_value(value):
            raise TypeError(f"this model is class-conditional: pass class labels (integers), not prompts "
                            f"({_short(value)})")
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


# --------------------------------------------------------------------------------------------- prompts
class PromptTable:
    """Every prompt a text generator has been given, each with a stable id (its row) and its metadata.

    Rollouts store prompt ids (tensors), so every `PromptSource` of a generator shares the generator's
    table: ids written by one source read back as the same prompts through any other. Two entries with the
    same text and different metadata (a GenEval prompt under two tags) are different conditions.
    """

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.metadata: list[dict[str, Any]] = []
        self._ids: dict[tuple[str, str], int] = {}

    def __len__(self) -> int:
        return len(self.prompts)

    def add(self, prompts: Sequence[str], metadata: Sequence[Mapping[str, Any]] | None = None) -> torch.Tensor:
        """The ids int64 ``[N]`` of ``prompts`` (with their ``metadata``), added when new."""
        prompts = check_prompts(prompts)
        metadata = list(metadata) if metadata is not None else [{} for _ in prompts]
        if len(metadata) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(metadata)} metadata entries")
        ids = []
        for prompt, meta in zip(prompts, metadata):
            key = (prompt, json.dumps(dict(meta), sort_keys=True, default=str))
            if key not in self._ids:
                self._ids[key] = len(self.prompts)
                self.prompts.append(prompt)
                self.metadata.append(dict(meta))
            ids.append(self._ids[key])
        return torch.tensor(ids, dtype=torch.long)

    def check_ids(self, ids: torch.Tensor) -> None:
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= len(self)):
            raise ValueError(f"prompt ids must lie in [0, {len(self)}) (the prompts this generator was given), "
                             f"got min {int(ids.min())} max {int(ids.max())}")


def check_prompts(prompts: Any, what: str = "prompts") -> list[str]:
    """``prompts`` as a list of non-empty strings; anything else raises, naming the bad entry."""
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, Sequence) or not len(prompts):
        raise ValueError(f"{what} must be a non-empty list of strings, got {prompts!r}")
    out = []
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise TypeError(f"{what}[{i}] must be a string (a prompt), got {type(prompt).__name__} {prompt!r}")
        if not prompt.strip():
            raise ValueError(f"{what}[{i}] is empty: every prompt needs some text")
        out.append(prompt)
    return out


@dataclass(frozen=True)
class PromptCondition(Condition):
    """Prompts ``[N]``: ids into a generator's `PromptTable` (the table gives the text and metadata)."""

    prompt_ids: torch.Tensor
    table: PromptTable = field(compare=False, repr=False)

    def __post_init__(self) -> None:
        ids = torch.as_tensor(self.prompt_ids)
        if ids.ndim != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise ValueError(f"prompt_ids must be a 1-D integer tensor, got {ids.dtype} {tuple(ids.shape)}")
        object.__setattr__(self, "prompt_ids", ids.long())
        self.table.check_ids(self.prompt_ids)

    def __len__(self) -> int:
        return self.prompt_ids.shape[0]

    def to(self, device: torch.device | str) -> PromptCondition:
        return PromptCondition(self.prompt_ids.to(device), self.table)

    def index(self, rows: torch.Tensor | slice) -> PromptCondition:
        return PromptCondition(self.prompt_ids[rows], self.table)

    def to_batch(self) -> dict[str, torch.Tensor]:
        return {"prompt_id": self.prompt_ids}

    @property
    def ids(self) -> torch.Tensor:
        return self.prompt_ids

    @property
    def prompts(self) -> list[str]:
        """Each row's prompt."""
        return [self.table.prompts[i] for i in self.prompt_ids.tolist()]

    @property
    def metadata(self) -> list[dict[str, Any]]:
        """Each row's metadata (a prompt set's category, GenEval's tags)."""
        return [self.table.metadata[i] for i in self.prompt_ids.tolist()]

    def captions(self) -> list[str]:
        return self.prompts


class PromptSource(ConditionSource):
    """The prompts of a text generator's `PromptTable`, or the subset ``pool``.

    ``pool``: prompts as a string, a list of strings, or a prompt set (anything with ``prompts`` and
    ``metadata``, such as `vargym.data.PromptSet`); they join the table. None: every prompt of the table.

    Example:
        >>> source = generator.condition_source(vargym.data.load_prompts("parti"))
        >>> source.draw(4, torch.Generator().manual_seed(0), "cpu").prompts
    """

    def __init__(self, table: PromptTable, pool: Any = None) -> None:
        self.table = table
        self.pool: torch.Tensor | None = None
        """Ids of the allowed prompts int64 ``[P]`` (None: the whole table)."""
        if pool is not None:
            self.pool = self._add(pool, "prompts")

    def _add(self, value: Any, what: str) -> torch.Tensor:
        if isinstance(value, PromptCondition):
            return self.table.add(value.prompts, value.metadata)
        if _is_class_value(value):
            raise TypeError(f"this model is text-conditional: its conditions are prompts (strings), not class labels "
                            f"({_short(value)})")
        if hasattr(value, "prompts") and hasattr(value, "metadata"):
            return self.table.add(list(value.prompts), list(value.metadata))
        return self.table.add(check_prompts(value, what))

    @property
    def fields(self) -> tuple[ConditionField, ...]:
        return (ConditionField("prompt_id", "prompt_id", max(len(self.table), 1)),)

    @property
    def text_fields(self) -> tuple[TextField, ...]:
        prompts = self.table.prompts
        charset = "".join(sorted(set("".join(prompts)))) or " "
        return (TextField("prompt", max(1, max((len(p) for p in prompts), default=1)), charset),)

    def observation_text(self, condition: Condition) -> dict[str, list[str]]:
        return {"prompt": self._own(condition).prompts}

    @property
    def num_conditions(self) -> int:
        return len(self.table)

    @property
    def pool_size(self) -> int:
        size = len(self.table) if self.pool is None else self.pool.numel()
        if size == 0:
            raise ValueError("this model is text-conditional and has no prompts to draw from: pass prompts "
                             "(conditions=[...] in Python; --prompts NAME_OR_FILE or --prompt TEXT on the command line)")
        return size

    def pick(self, indices: torch.Tensor) -> PromptCondition:
        ids = torch.arange(self.pool_size) if self.pool is None else self.pool
        return PromptCondition(ids.to(indices.device)[indices], self.table)

    def from_batch(self, batch: Any) -> PromptCondition:
        if "prompt_id" not in batch.keys():
            raise KeyError("the batch holds no condition: expected a 'prompt_id' entry (written by the collector)")
        return PromptCondition(batch["prompt_id"], self.table)

    def _own(self, condition: Condition) -> PromptCondition:
        if not isinstance(condition, PromptCondition):
            raise TypeError(f"this model is text-conditional: pass prompts, not a {type(condition).__name__}")
        if condition.table is not self.table:
            return PromptCondition(self.table.add(condition.prompts, condition.metadata).to(condition.ids.device),
                                   self.table)
        return condition

    def coerce(self, value: Any, num: int | None = None, device: torch.device | str | None = None) -> PromptCondition:
        if isinstance(value, Condition):
            condition = self._own(value)
        else:
            condition = PromptCondition(self._add(value, "prompts"), self.table)
        if num is not None and len(condition) != num:
            raise ValueError(f"expected {num} prompts (one per episode), got {len(condition)}")
        return condition if device is None else condition.to(device)

    def reward_fields(self, condition: Condition) -> dict[str, Any]:
        condition = self._own(condition)
        return {"image_prompts": condition.prompts, "metadata": condition.metadata}


def _is_class_value(value: Any) -> bool:
    """Whether ``value`` looks like class labels (a ClassCondition, an int, int tensors or a list of ints)."""
    if isinstance(value, ClassCondition) or (isinstance(value, int) and not isinstance(value, bool)):
        return True
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value)


def _is_text_value(value: Any) -> bool:
    """Whether ``value`` looks like prompts (a string, strings, a prompt set or a PromptCondition)."""
    if isinstance(value, (str, PromptCondition)) or (hasattr(value, "prompts") and hasattr(value, "metadata")):
        return True
    return isinstance(value, (list, tuple)) and any(isinstance(v, str) for v in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
