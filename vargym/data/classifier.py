"""A tiny CNN classifier of the procedural classes: an accuracy metric and a feature extractor.

It takes images in ``[0, 1]`` of any size (resized inside to its own input size), so it can score
decoded samples directly. ``features`` gives the penultimate activations, the feature space of the
distribution-level reward. It trains in well under a minute on one CPU thread.

Example:
    >>> from vargym.data.classifier import train_classifier, save_classifier, load_classifier
    >>> model, figures = train_classifier(steps=300)
    >>> figures["top1"]  # accuracy on fresh procedural images
    >>> save_classifier(model, "runs/classifier")
    >>> model = load_classifier("runs/classifier")
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from vargym.errors import CheckpointError, WeightsNotAvailableError

__all__ = [
    "ClassifierConfig",
    "TinyClassifier",
    "classifier_accuracy",
    "load_classifier",
    "save_classifier",
    "train_classifier",
]

WEIGHTS_FILE = "classifier.safetensors"
CONFIG_FILE = "classifier.json"
_FORMAT = "vargym-classifier"


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of `TinyClassifier`."""

    num_classes: int = 10
    """Number of output classes (the procedural set has 10)."""
    input_size: int = 32
    """Side in pixels the input is resized to (bilinear, antialiased) before the first convolution."""
    widths: tuple[int, ...] = (16, 32, 64, 128)
    """Channels of the conv blocks; each block halves the resolution except the last."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))  # lists from JSON
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"widths must be a non-empty tuple of positive ints, got {self.widths}")
        if self.input_size < 2 ** (len(self.widths) - 1):
            raise ValueError(
                f"input_size={self.input_size} is too small for {len(self.widths)} blocks "
                f"(each but the last halves it); use at least {2 ** (len(self.widths) - 1)}"
            )

    @property
    def feature_dim(self) -> int:
        """Size D of the penultimate features."""
        return self.widths[-1]


class TinyClassifier(nn.Module):
    """Conv blocks (3x3 conv, batch norm, ReLU, 2x2 max pool) -> global average pool -> linear.

    Example:
        >>> model = TinyClassifier(ClassifierConfig())
        >>> logits = model(torch.rand(4, 3, 64, 64))   # [4, 10]
        >>> feats = model.features(torch.rand(4, 3, 64, 64))   # [4, 128]
    """

    def __init__(self, config: ClassifierConfig | None = None) -> None:
        super().__init__()
        self.config = config or ClassifierConfig()
        blocks: list[nn.Module] = []
        channels = 3
        for i, width in enumerate(self.config.widths):
            blocks += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if i < len(self.config.widths) - 1:
                blocks.append(nn.MaxPool2d(2))
            channels = width
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(channels, self.config.num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features.

        Args:
            images: float ``[N, 3, H, W]`` in ``[0, 1]``, any ``H, W``.

        Returns:
            float ``[N, D]`` with ``D = config.feature_dim``.
        """
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [N, 3, H, W], got shape {tuple(images.shape)}")
        size = self.config.input_size
        x = images.to(self.head.weight.dtype)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = self.body(x * 2 - 1)  # [N, D, h, w]
        return x.mean(dim=(2, 3))  # [N, D]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, num_classes]`` of images ``[N, 3, H, W]`` in ``[0, 1]``."""
        return self.head(self.features(images))


@torch.no_grad()
def classifier_accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    topk: Sequence[int] = (1, 5),
    batch_size: int = 512,
) -> dict[str, float]:
    """Top-k accuracies of ``model`` on labelled images (evaluated in eval mode, mode restored after).

    Args:
        model: maps ``[B, 3, H, W]`` to logits ``[B, num_classes]``.
        images: float ``[N, 3, H, W]`` in ``[0, 1]``.
        labels: int64 ``[N]``.
        topk: which k to report.
        batch_size: images per forward pass.

    Returns:
        ``{"top1": ..., "top5": ...}`` fractions in ``[0, 1]`` (one key per k).
    """
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"images ({images.shape[0]}) and labels ({labels.shape[0]}) differ in length")
    if images.shape[0] == 0:
        raise ValueError("need at least one image to measure accuracy")
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        logits = torch.cat([model(chunk.to(device)) for chunk in images.split(batch_size)])  # [N, C]
    finally:
        model.train(was_training)
    num_classes = logits.shape[1]
    for k in topk:
        if not 1 <= k <= num_classes:
            raise ValueError(f"topk values must be in [1, {num_classes}], got {k}")
    ranked = logits.topk(max(topk), dim=1).indices  # [N, kmax]
    hits = ranked == labels.to(device)[:, None]  # [N, kmax]
    return {f"top{k}": hits[:, :k].any(dim=1).float().mean().item() for k in topk}


def train_classifier(
    config: ClassifierConfig | None = None,
    steps: int = 300,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: Callable[[int, float], None] | None = None,
    image_size: int = 64,
    eval_samples: int = 2000,
) -> tuple[TinyClassifier, dict[str, float]]:
    """Train a `TinyClassifier` on fresh procedural batches (AdamW, one-cycle cosine schedule).

    Half of every batch is blurred (down- then up-sampled) so the classifier stays reliable on the
    softer images a generator decodes.

    Args:
        config: architecture; defaults to ``ClassifierConfig()``.
        steps: optimiser steps.
        batch_size: images per step.
        lr: peak learning rate.
        seed: seeds the initial weights and the training stream; the held-out set uses another stream.
        device: where to train (default: CPU).
        progress: optional ``progress(step, loss)`` callback after every step.
        image_size: side of the procedural training images.
        eval_samples: held-out images for the reported accuracy.

    Returns:
        ``(model in eval mode, figures)`` with figures ``steps``, ``seconds`` (training only),
        ``final_loss`` (mean of the last 20 steps), ``top1`` and ``top5`` on fresh held-out images.
    """
    from vargym.data.procedural import NUM_CLASSES, procedural_batches

    config = config or ClassifierConfig()
    if config.num_classes != NUM_CLASSES:
        raise ValueError(f"config.num_classes must be {NUM_CLASSES} to train on the procedural set")
    if steps < 1 or batch_size < 2:
        raise ValueError(f"need steps >= 1 and batch_size >= 2, got steps={steps}, batch_size={batch_size}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's global RNG
        torch.manual_seed(seed)
        model = TinyClassifier(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.15)
    batches = procedural_batches(batch_size, image_size=image_size, seed=seed, device=device)

    losses: list[float] = []
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        images, labels = next(batches)
        images = _blur_half(images, config.input_size)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, losses[-1])
    seconds = time.perf_counter() - start
    model.eval()

    held_out = procedural_batches(
        eval_samples, image_size=image_size, seed=seed + 7_919_000_003, device=device
    )
    images, labels = next(held_out)
    figures = {
        "steps": float(steps),
        "seconds": seconds,
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
        **classifier_accuracy(model, images, labels, topk=(1, min(5, config.num_classes))),
    }
    return model, figures


def _blur_half(images: torch.Tensor, input_size: int) -> torch.Tensor:
    """Blur the second half of the batch by resampling through half the classifier's input size."""
    half = images.shape[0] // 2
    low = max(2, input_size // 2)
    soft = F.interpolate(images[half:], size=(low, low), mode="bilinear", antialias=True, align_corners=False)
    soft = F.interpolate(soft, size=images.shape[-2:], mode="bilinear", align_corners=False)
    return torch.cat([images[:half], soft.clamp(0, 1)])  # [B, 3, H, W]


def save_classifier(model: TinyClassifier, path_dir: str | Path) -> Path:
    """Write ``classifier.safetensors`` and ``classifier.json`` (the config) into ``path_dir``; returns it."""
    from safetensors.torch import save_file

    path_dir = Path(path_dir)
    path_dir.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(path_dir / WEIGHTS_FILE), metadata={"format": _FORMAT})
    meta = {"format": _FORMAT, "version": 1, "config": dataclasses.asdict(model.config)}
    (path_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return path_dir


def load_classifier(path_dir: str | Path, device: torch.device | str | None = None) -> TinyClassifier:
    """Load a classifier written by `save_classifier` (strict: every key and shape must match).

    Raises:
        WeightsNotAvailableError: the folder or one of its two files is missing.
        CheckpointError: a file is corrupt or does not match the stored config.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path_dir = Path(path_dir)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (path_dir / name).is_file():
            raise WeightsNotAvailableError(
                f"no classifier at {path_dir}: {name} is missing "
                f"(expected {CONFIG_FILE} and {WEIGHTS_FILE}, as written by save_classifier)"
            )
    try:
        meta = json.loads((path_dir / CONFIG_FILE).read_text())
        if meta.get("format") != _FORMAT:
            raise CheckpointError(
                f"{path_dir / CONFIG_FILE} is not a {_FORMAT} config (format={meta.get('format')!r})"
            )
        config = ClassifierConfig(**meta["config"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
        if isinstance(e, CheckpointError):
            raise
        raise CheckpointError(f"corrupt classifier config {path_dir / CONFIG_FILE}: {e}") from e
    try:
        state = load_file(str(path_dir / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"corrupt classifier weights {path_dir / WEIGHTS_FILE}: {e}") from e
    model = TinyClassifier(config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(
            f"classifier weights in {path_dir} do not match its config {config}: {e}"
        ) from e
    model.eval()
    if device is not None:
        model.to(device)
    return model
