"""`EvalConfig`: what `evaluate_model` samples and how it scores it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

from vargym.naming import did_you_mean
from vargym.rewards.base import Reward

if TYPE_CHECKING:
    from vargym.models.generator import SamplingConfig

__all__ = ["SUITES", "EvalConfig"]

SUITES = ("auto", "tiny", "imagenet", "none")


@dataclass(frozen=True)
class EvalConfig:
    """What to sample and how to score it."""

    labels_per_class: int = 10
    """Samples per class (the seed paper uses 10 per ImageNet class)."""
    classes: tuple[int, ...] | None = None
    """Class labels to sample; None = all of the model's classes."""
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
    cfg: float = 0.0
    """Classifier-free guidance in the family's official convention (VAR: 0 = unguided; LlamaGen: guided
    only when > 1)."""
    cfg_interval: int = -1
    """LlamaGen: guide only the first cfg_interval + 2 tokens (-1: every token)."""
    top_k: int = 0
    """Top-k filtering (0 = off)."""
    top_p: float = 0.0
    """Top-p filtering (0 = off)."""
    temperature: float = 0.7
    """Sampling temperature (default: the training distribution's, so a tuned model is judged as it was
    trained; use 1.0 with guidance for the inference setting)."""
    precision: str = "float32"
    """Compute dtype of the policy while sampling: "float32" or "bfloat16"."""
    decode_precision: str = "float32"
    """Compute dtype of the decoder: "float32" or "bfloat16"."""
    seed: int = 0
    """Seed of the sampling generator."""
    batch_size: int = 64
    """Images sampled and scored per batch."""
    pixel_size: int = 32
    """Side of the downsampled images pixel diversity is measured on."""
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
        self.sampling  # noqa: B018 -- validates temperature, cfg, top_k, top_p in one place
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
            if not self.classes:
                raise ValueError("classes must be None (all) or a non-empty list of labels")
        if self.rewards is not None:
            object.__setattr__(self, "rewards", tuple(self.rewards))

    @property
    def sampling(self) -> SamplingConfig:
        """The sampling distribution as one `vargym.models.SamplingConfig` (validated there)."""
        from vargym.models.generator import SamplingConfig

        return SamplingConfig(temperature=self.temperature, cfg=self.cfg, top_k=self.top_k, top_p=self.top_p,
                              cfg_interval=self.cfg_interval, precision=self.precision,
                              decode_precision=self.decode_precision)
