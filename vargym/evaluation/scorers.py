"""The scoring models of an evaluation (rewards, fidelity classifier, FID features), built once and shared.

Suites: ``"tiny"`` (the shipped `TinyClassifier`, and FID in its feature space against fresh procedural
images), ``"imagenet"`` (torchvision ResNet-50 ``IMAGENET1K_V2`` and the LAION aesthetic reward),
``"none"``, or ``"auto"`` (by number of classes). Inception FID needs ``fid_reference``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from vargym.errors import WeightsNotAvailableError
from vargym.evaluation.config import EvalConfig
from vargym.rewards.base import Reward

__all__ = ["Scorers", "build_scorers", "resolve_suite"]

logger = logging.getLogger(__name__)


@dataclass
class Scorers:
    """The built scoring models, shared between the models compared (see `build_scorers`)."""

    name: str
    """The resolved suite: ``"tiny"``, ``"imagenet"`` or ``"none"``."""
    rewards: dict[str, Reward] = field(default_factory=dict)
    """Name -> reward."""
    classifier: nn.Module | None = None
    """Logits (and ``features``) of ``[0, 1]`` images, or None."""
    fid_extractor: Any = None
    """Images -> FID features ``[N, D]`` (Inception, or the tiny classifier's ``features``), or None."""
    fid_features: str | None = None
    """Which features FID uses: ``"inception"`` or ``"tiny-classifier"``."""
    fid_reference: tuple[torch.Tensor, torch.Tensor] | None = None
    """``(mu, sigma)`` of the reference images."""
    notes: list[str] = field(default_factory=list)
    """Parts skipped and why."""


def resolve_suite(suite: str, num_classes: int) -> str:
    """``"auto"`` -> ``"imagenet"`` for 1000 classes, ``"tiny"`` for the 10 procedural ones, else ``"none"``."""
    if suite != "auto":
        return suite
    from vargym.data.procedural import NUM_CLASSES

    return {1000: "imagenet", NUM_CLASSES: "tiny"}.get(num_classes, "none")


def _tiny_classifier(spec: Any, suite: str, notes: list[str], device) -> nn.Module | None:
    from vargym.data.classifier import load_classifier
    from vargym.models.files import TINY_DIR

    if isinstance(spec, nn.Module):
        return spec
    if spec is not None:
        return load_classifier(spec, device=device)
    try:
        return load_classifier(TINY_DIR, device=device)
    except WeightsNotAvailableError as e:
        if suite == "tiny":  # asked for explicitly
            raise WeightsNotAvailableError(
                f"{e}; pass classifier= (CLI: --classifier) a classifier dir"
            ) from e
        notes.append(f"classifier skipped: the shipped classifier is missing ({TINY_DIR}); pass --classifier")
        logger.warning(notes[-1])
        return None


def build_scorers(config: EvalConfig, num_classes: int, device: torch.device | str | None = None) -> Scorers:
    """Build rewards, the fidelity classifier and the FID extractor of ``config`` for a model of
    ``num_classes`` classes (raises `WeightsNotAvailableError` when a needed file is missing offline)."""
    from vargym.rewards import make

    name = resolve_suite(config.suite, num_classes)
    scorers = Scorers(name=name)
    specs = (
        config.rewards
        if config.rewards is not None
        else (("brightness", "aesthetic") if name == "imagenet" else ("brightness",))
    )
    for spec in specs:
        reward = make(spec, device=device)
        scorers.rewards[spec if isinstance(spec, str) else reward.name] = reward
    if name == "tiny":
        scorers.classifier = _tiny_classifier(config.classifier, config.suite, scorers.notes, device)
    elif name == "imagenet":
        if isinstance(config.classifier, nn.Module):
            scorers.classifier = config.classifier
        else:
            from vargym.evaluation.imagenet import load_resnet50

            scorers.classifier = load_resnet50(config.resnet_weights, device=device)
    if scorers.classifier is not None:
        scorers.classifier.eval().to(device)
        out_classes = scorers.classifier(torch.zeros(1, 3, 32, 32, device=device)).shape[1]
        if out_classes != num_classes:
            raise ValueError(
                f"the {name} classifier has {out_classes} classes but the model has {num_classes}; "
                f"pass a matching classifier or suite='none'"
            )
    if config.fid_reference is not None:
        from vargym.evaluation.fid import load_inception, load_statistics

        scorers.fid_reference = load_statistics(config.fid_reference)
        scorers.fid_extractor = load_inception(config.inception_weights).to(device)
        scorers.fid_features = "inception"
    elif name == "tiny" and scorers.classifier is not None and config.reference_samples >= 2:
        scorers.fid_extractor = scorers.classifier.features
        classes = config.classes if config.classes is not None else tuple(range(num_classes))
        scorers.fid_reference = _procedural_reference(
            scorers.classifier, classes, config.reference_samples, device
        )
        scorers.fid_features = "tiny-classifier"
    return scorers


@torch.no_grad()
def _procedural_reference(
    classifier: nn.Module, classes: tuple[int, ...], samples: int, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiny-classifier feature statistics of ``samples`` procedural images of ``classes`` (fixed seed 0)."""
    from vargym.data.procedural import generate
    from vargym.evaluation.fid import feature_statistics

    labels = torch.tensor(classes, device=device).repeat(-(-samples // len(classes)))[:samples]  # [S]
    generator = torch.Generator().manual_seed(0)  # CPU draws: the same reference on every device
    features = [classifier.features(generate(chunk, generator, image_size=64)) for chunk in labels.split(256)]
    return feature_statistics(torch.cat(features))  # float64 [D], [D, D]
