"""Evaluate a class-conditional VAR: sample ``labels_per_class`` images per class, then score them.

Suites pick the fidelity classifier: ``"tiny"`` (the shipped `TinyClassifier` of the procedural classes,
for 10-class models), ``"imagenet"`` (torchvision ResNet-50 ``IMAGENET1K_V2`` and the LAION aesthetic
score, for 1000-class models, as in the seed paper), ``"none"`` (rewards and pixel diversity only), or
``"auto"`` (by ``var.num_classes``). Results are deterministic given the seed (timings aside).

Example:
    >>> vqvae, var = load_model("tiny")
    >>> result = evaluate_model(vqvae, var, labels_per_class=10, rewards=("brightness",), seed=0)
    >>> result["classifier"]["top1"], result["rewards"]["brightness"]["mean"], result["samples_per_s"]
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vargym.errors import WeightsNotAvailableError
from vargym.evaluation.metrics import MetricAccumulator
from vargym.rewards.base import Reward

__all__ = ["SUITES", "EvalConfig", "Scorers", "build_scorers", "evaluate_model", "generate_batches",
           "load_trained", "resolve_suite", "summary"]

logger = logging.getLogger(__name__)

SUITES = ("auto", "tiny", "imagenet", "none")


@dataclass(frozen=True)
class EvalConfig:
    """What to sample and how to score it."""

    labels_per_class: int = 10
    """Samples per class (the seed paper uses 10 per ImageNet class)."""
    classes: tuple[int, ...] | None = None
    """Class labels to sample; None = all ``var.num_classes`` classes."""
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
    """``.npz`` with ``mu``/``sigma`` of Inception features on reference images; None skips FID."""
    inception_weights: str | os.PathLike | None = None
    """Local Inception-v3 ``IMAGENET1K_V1`` state dict for FID (None = torch hub cache / download)."""
    cfg: float = 0.0
    """Classifier-free guidance (official schedule; 0 = unguided)."""
    top_k: int = 0
    """Top-k filtering (0 = off)."""
    top_p: float = 0.0
    """Top-p filtering (0 = off)."""
    temperature: float = 1.0
    """Sampling temperature."""
    seed: int = 0
    """Seed of the sampling generator."""
    batch_size: int = 64
    """Images sampled and scored per batch."""
    pixel_size: int = 32
    """Side of the downsampled images pixel diversity is measured on."""
    duplicate_threshold: float = 0.02
    """RMS pixel distance (in [0, 1] units, at ``pixel_size``) below which two samples are near-duplicates."""

    def __post_init__(self) -> None:
        if self.labels_per_class < 1 or self.batch_size < 1 or self.pixel_size < 1:
            raise ValueError(f"labels_per_class, batch_size and pixel_size must be >= 1, got "
                             f"{self.labels_per_class}, {self.batch_size}, {self.pixel_size}")
        if self.suite not in SUITES:
            close = difflib.get_close_matches(self.suite, SUITES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"suite must be one of {SUITES}, got {self.suite!r}.{hint}")
        if self.temperature <= 0 or self.top_k < 0 or not 0.0 <= self.top_p <= 1.0 or self.cfg < 0:
            raise ValueError(f"need temperature > 0, top_k >= 0, 0 <= top_p <= 1, cfg >= 0; got temperature="
                             f"{self.temperature}, top_k={self.top_k}, top_p={self.top_p}, cfg={self.cfg}")
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(int(c) for c in self.classes))
            if not self.classes:
                raise ValueError("classes must be None (all) or a non-empty list of labels")
        if self.rewards is not None:
            object.__setattr__(self, "rewards", tuple(self.rewards))


@dataclass
class Scorers:
    """The built scoring models, shared between the models compared (see `build_scorers`)."""

    name: str
    """The resolved suite: ``"tiny"``, ``"imagenet"`` or ``"none"``."""
    rewards: dict[str, Reward] = field(default_factory=dict)
    """Name -> reward."""
    classifier: nn.Module | None = None
    """Logits (and ``features``) of ``[0, 1]`` images, or None."""
    fid_extractor: nn.Module | None = None
    """Inception features for FID, or None."""
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
    from vargym.models.loading import TINY_DIR

    if isinstance(spec, nn.Module):
        return spec
    if spec is not None:
        return load_classifier(spec, device=device)
    try:
        return load_classifier(TINY_DIR, device=device)
    except WeightsNotAvailableError as e:
        if suite == "tiny":  # asked for explicitly
            raise WeightsNotAvailableError(f"{e}; pass classifier= (CLI: --classifier) a classifier dir") from e
        notes.append(f"classifier skipped: the shipped classifier is missing ({TINY_DIR}); pass --classifier")
        logger.warning(notes[-1])
        return None


def build_scorers(config: EvalConfig, num_classes: int, device: torch.device | str | None = None) -> Scorers:
    """Build rewards, the fidelity classifier and the FID extractor of ``config`` for a model of
    ``num_classes`` classes (raises `WeightsNotAvailableError` when a needed file is missing offline)."""
    from vargym.rewards import make

    name = resolve_suite(config.suite, num_classes)
    scorers = Scorers(name=name)
    specs = config.rewards if config.rewards is not None else (
        ("brightness", "aesthetic") if name == "imagenet" else ("brightness",))
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
            raise ValueError(f"the {name} classifier has {out_classes} classes but the model has {num_classes}; "
                             f"pass a matching classifier or suite='none'")
    if config.fid_reference is not None:
        from vargym.evaluation.fid import load_inception, load_statistics

        scorers.fid_reference = load_statistics(config.fid_reference)
        scorers.fid_extractor = load_inception(config.inception_weights).to(device)
    return scorers


def generate_batches(vqvae: nn.Module, var: nn.Module, labels: torch.Tensor, config: EvalConfig):
    """Yield ``(images [B, 3, H, W] in [0, 1], labels [B])`` in order, from one generator seeded by
    ``config.seed`` (so the same seed and batch size give the same images)."""
    generator = torch.Generator(device=labels.device).manual_seed(config.seed)
    for chunk in labels.split(config.batch_size):
        with torch.no_grad():
            tokens = var.sample(chunk, cfg=config.cfg, top_k=config.top_k, top_p=config.top_p,
                                temperature=config.temperature, generator=generator)
            yield vqvae.tokens_to_img(tokens).clamp(0, 1), chunk


def evaluate_model(vqvae: nn.Module, var: nn.Module, config: EvalConfig | None = None,
                   scorers: Scorers | None = None, **overrides: Any) -> dict:
    """Sample ``labels_per_class`` images of each class and score them.

    Args:
        vqvae, var: the model (sampling runs on ``var``'s device).
        config: `EvalConfig`; keyword ``overrides`` replace its fields (``labels_per_class=2``, ...).
        scorers: prebuilt scoring models (`build_scorers`), to share them between models; built when None.

    Returns:
        ``{"suite", "num_samples", "labels_per_class", "classes", "sampling", "samples_per_s",
        "sample_wall_s", "eval_wall_s", "rewards": {name: {"mean", "std"[, "components"]}},
        "classifier": {"top1", "top5", "per_class"} (when a classifier is used),
        "diversity": {"pixel_distance", "feature_distance", "near_duplicate_fraction", "pairs"},
        "fid" (with a reference), "notes"}``.
    """
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(EvalConfig)})
    if unknown:
        close = difflib.get_close_matches(unknown[0], [f.name for f in dataclasses.fields(EvalConfig)], n=1)
        raise TypeError(f"unknown evaluation option(s) {unknown}" + (f"; did you mean {close[0]!r}?" if close else ""))
    config = dataclasses.replace(config or EvalConfig(), **overrides)
    device = next(var.parameters()).device
    classes = config.classes if config.classes is not None else tuple(range(var.num_classes))
    bad = [c for c in classes if not 0 <= c < var.num_classes]
    if bad:
        raise ValueError(f"classes {bad} are outside [0, {var.num_classes})")
    scorers = scorers or build_scorers(config, var.num_classes, device)
    labels = torch.tensor(classes, device=device).repeat_interleave(config.labels_per_class)  # [N] class-major
    accumulator = MetricAccumulator(scorers.rewards, scorers.classifier, scorers.fid_extractor,
                                    pixel_size=config.pixel_size)
    sample_s, start = 0.0, time.perf_counter()
    batches = generate_batches(vqvae, var, labels, config)
    while True:
        tick = time.perf_counter()
        images, chunk = next(batches, (None, None))
        if images is None:
            break
        if images.is_cuda:
            torch.cuda.synchronize(images.device)
        sample_s += time.perf_counter() - tick
        accumulator.add(images, chunk)
    result = accumulator.result(scorers.fid_reference, config.duplicate_threshold)
    sampling = {k: getattr(config, k) for k in ("cfg", "top_k", "top_p", "temperature", "seed")}
    return {"suite": scorers.name, "num_samples": result.pop("num_samples"),
            "labels_per_class": config.labels_per_class, "classes": list(classes), "sampling": sampling,
            "samples_per_s": labels.numel() / max(sample_s, 1e-9), "sample_wall_s": sample_s,
            "eval_wall_s": time.perf_counter() - start, **result, "notes": list(scorers.notes)}


def summary(result: dict) -> dict[str, float]:
    """The headline figures of an `evaluate_model` result as flat ``"group/name"`` keys (no per-class data)."""
    flat = {f"reward/{name}/{stat}": entry[stat] for name, entry in result["rewards"].items()
            for stat in ("mean", "std")}
    for name, entry in result["rewards"].items():
        flat.update({f"reward/{name}/{part}/mean": value["mean"]
                     for part, value in entry.get("components", {}).items()})
    flat.update({f"classifier/{k}": v for k, v in result.get("classifier", {}).items() if k != "per_class"})
    flat.update({f"diversity/{k}": v for k, v in result["diversity"].items() if k != "pairs"})
    if "fid" in result:
        flat["fid"] = result["fid"]
    flat["perf/samples_per_s"] = result["samples_per_s"]
    return flat


def load_trained(path: str | os.PathLike, device: torch.device | str | None = None):
    """Load a trained model: a model dir (``model.json``), or a run dir / its ``checkpoints/`` folder, whose
    latest numbered ``<iter>/`` (or ``<iter>/model/``) is loaded with `vargym.models.load_checkpoint`."""
    from vargym.models.loading import load_checkpoint

    path = Path(path)
    if (path / "model.json").is_file():
        return load_checkpoint(path, device=device)
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    numbered = sorted((p for p in folder.glob("*") if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    for candidate in ([numbered[-1] / "model", numbered[-1]] if numbered else []):
        if (candidate / "model.json").is_file():
            return load_checkpoint(candidate, device=device)
    raise WeightsNotAvailableError(f"{path} is neither a model dir (model.json) nor a run dir with "
                                   f"checkpoints/<iteration>/model/model.json")
