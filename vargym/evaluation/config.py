"""`EvalConfig`: what `evaluate_model` samples and how it scores it."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from vargym.models.generator import SamplingConfig
from vargym.naming import did_you_mean
from vargym.rewards.base import Reward

__all__ = ["SUITES", "EvalConfig", "evaluation_sampling"]

SAMPLING_FIELDS = tuple(f.name for f in dataclasses.fields(SamplingConfig))


def evaluation_sampling(**fields: Any) -> SamplingConfig:
    """Evaluation's default `SamplingConfig` (temperature 0.7), with ``fields`` changed."""
    return SamplingConfig(**{"temperature": 0.7, **fields})

SUITES = ("auto", "tiny", "imagenet", "none")


@dataclass(frozen=True)
class EvalConfig:
    """What to sample and how to score it."""

    labels_per_class: int = 10
    """Samples per class (the seed paper uses 10 per ImageNet class)."""
    classes: tuple[int, ...] | None = None
    """Class labels to sample; None = all of the model's classes."""
    prompts: str | None = None
    """Prompts of a text-conditional model instead of classes: a shipped set ("parti", "geneval") or a prompt
    file; each prompt gets ``labels_per_class`` samples."""
    max_prompts: int | None = None
    """Evaluate only the first N prompts of ``prompts`` (None: all)."""
    conditions: Any = None
    """A `vargym.models.Condition` of any kind (e.g. a training run's evaluation conditions), each distinct
    one sampled ``labels_per_class`` times; replaces ``classes`` and ``prompts``."""
    group_by: str = "auto"
    """Metadata key of the per-group reward table (PartiPrompts' "Category", GenEval's "tag"): "auto" picks the
    first of those the prompts carry, "none" turns the table off."""
    rewards: tuple[str | Reward, ...] | None = None
    """Reward specs for `vargym.rewards.make` (or built rewards); None = ``brightness`` (+ ``aesthetic``
    for the imagenet suite)."""
    suite: str = "auto"
    """Fidelity suite: ``"auto"`` (by number of classes), ``"tiny"``, ``"imagenet"`` or ``"none"``."""
    classifier: str | os.PathLike | nn.Module | None = None
    """Tiny suite: a `save_classifier` directory or a module (None = the shipped one); imagenet suite: a
    module replacing ResNet-50."""
    resnet_weights: str | os.PathLike | None = None
    """Local ResNet-50 ``IMAGENET1K_V2`` state dict (None = torch hub cache / download)."""
    fid_reference: str | os.PathLike | None = None
    """``.npz`` with ``mu``/``sigma`` of FID-Inception features of reference images (pytorch-fid, torch-fidelity
    and ADM files load as they are); None skips FID."""
    inception_weights: str | os.PathLike | None = None
    """Local FID Inception weights, torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` (None = torch
    hub cache / download)."""
    reference_samples: int = 1000
    """Tiny suite without ``fid_reference``: FID in the tiny classifier's feature space against this many
    fresh procedural images (0 = no FID)."""
    sampling: SamplingConfig | dict[str, Any] = field(default_factory=lambda: evaluation_sampling())
    """The sampling distribution, a `vargym.models.SamplingConfig` (flags: --temperature, --cfg, ...). Its
    defaults here: temperature 0.7 (the training distribution's, so a tuned model is judged as it was
    trained; use 1.0 with guidance for the inference setting), unguided, float32, multinomial draws. A dict
    overrides these defaults field by field."""
    seed: int = 0
    """Seed of the sampling generator."""
    batch_size: int = 64
    """Images sampled and scored per batch."""
    pixel_size: int = 32
    """Side of the downsampled images pixel diversity is measured on."""
    grid: str | None = None
    """Write a PNG of the first ``grid_rows`` conditions (one row each, captioned with the class or prompt) and
    their samples here (None: no grid)."""
    grid_rows: int = 16
    """Conditions in the grid."""
    duplicate_threshold: float = 0.02
    """RMS pixel distance (in [0, 1] units, at ``pixel_size``) below which two samples are near-duplicates."""

    def __post_init__(self) -> None:
        if self.reference_samples < 0:
            raise ValueError(f"reference_samples must be >= 0, got {self.reference_samples}")
        if self.labels_per_class < 1 or self.batch_size < 1 or self.pixel_size < 1:
            raise ValueError(
                f"labels_per_class, batch_size and pixel_size must be >= 1, got "
                f"{self.labels_per_class}, {self.batch_size}, {self.pixel_size}"
            )
        if self.suite not in SUITES:
            hint = did_you_mean(self.suite, SUITES)
            raise ValueError(f"suite must be one of {SUITES}, got {self.suite!r}.{hint}")
        if not isinstance(self.sampling, SamplingConfig):
            object.__setattr__(self, "sampling", evaluation_sampling(**dict(self.sampling)))
        if self.prompts is not None and self.classes is not None:
            raise ValueError("give either classes (a class model) or prompts (a text model), not both")
        if self.max_prompts is not None and int(self.max_prompts) < 1:
            raise ValueError(f"max_prompts must be None or an int >= 1, got {self.max_prompts!r}")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
            if not self.classes:
                raise ValueError("classes must be None (all) or a non-empty list of labels")
        if self.rewards is not None:
            object.__setattr__(self, "rewards", tuple(self.rewards))


def _deprecated_flat_init(init: Any) -> Any:
    """``EvalConfig(cfg=1.5, ...)``: the flat sampling keywords of earlier releases, folded into ``sampling``
    with a DeprecationWarning."""

    def __init__(self: EvalConfig, *args: Any, **kwargs: Any) -> None:
        flat = {k: kwargs.pop(k) for k in SAMPLING_FIELDS if k in kwargs}
        if flat:
            import warnings

            warnings.warn(f"EvalConfig({', '.join(f'{k}=' for k in sorted(flat))}) is deprecated: pass "
                          f"sampling={{...}}", DeprecationWarning, stacklevel=2)
            base = kwargs.get("sampling") or {}
            base = dataclasses.asdict(base) if isinstance(base, SamplingConfig) else dict(base)
            kwargs["sampling"] = {**base, **flat}
        init(self, *args, **kwargs)

    return __init__


def _deprecated_flat_property(name: str) -> property:
    def get(self: EvalConfig) -> Any:
        from vargym.deprecation import warn_renamed

        warn_renamed(f"EvalConfig.{name}", f"EvalConfig.sampling.{name}")
        return getattr(self.sampling, name)

    return property(get, doc=f"Deprecated: ``sampling.{name}``.")


EvalConfig.__init__ = _deprecated_flat_init(EvalConfig.__init__)  # type: ignore[method-assign]
for _name in SAMPLING_FIELDS:
    setattr(EvalConfig, _name, _deprecated_flat_property(_name))
