"""Metrics of labelled images, accumulated batch by batch: rewards, top-k accuracy, diversity, FID.

`MetricAccumulator` keeps only small per-sample summaries (reward values, top-k hits, classifier
features, 32 px pixels, FID features), so 10 000 ImageNet samples never sit in memory at once.

Example:
    >>> acc = MetricAccumulator(rewards={"brightness": make("brightness")}, classifier=classifier)
    >>> for images, labels in batches:
    ...     acc.add(images, labels)
    >>> acc.result()["classifier"]["top1"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from vargym.data.diversity import downsample_pixels, pairwise_diversity
from vargym.evaluation.fid import fid_from_features
from vargym.rewards.base import Reward, RewardContext, resize_for

__all__ = ["MetricAccumulator", "evaluate_images", "summarize_hits", "topk_accuracy", "topk_hits"]


def topk_hits(logits: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1, 5)) -> torch.Tensor:
    """Whether each label is among the ``k`` highest logits, for each ``k``.

    Args:
        logits: float ``[N, C]``.
        labels: int64 ``[N]``.
        topk: the ``k`` values, each in ``[1, C]``.

    Returns:
        bool ``[N, len(topk)]``.
    """
    if logits.dim() != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(
            f"logits must be [N, C] and labels [N], got {tuple(logits.shape)}, {tuple(labels.shape)}"
        )
    bad = [k for k in topk if not 1 <= k <= logits.shape[1]]
    if bad:
        raise ValueError(f"topk values must be in [1, {logits.shape[1]}] (the number of classes), got {bad}")
    ranked = logits.topk(max(topk), dim=1).indices  # [N, kmax]
    hits = ranked == labels.to(logits.device)[:, None]  # [N, kmax]
    return torch.stack([hits[:, :k].any(dim=1) for k in topk], dim=1)  # [N, len(topk)]


def summarize_hits(hits: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1, 5)) -> dict:
    """Overall and per-class accuracy from `topk_hits` output ``[N, len(topk)]``.

    Returns:
        ``{"top1": .., "top5": .., "per_class": {"<label>": {"top1": .., "top5": .., "count": n}}}``.
    """
    rates = hits.double()  # [N, len(topk)]
    out: dict = {f"top{k}": rates[:, i].mean().item() for i, k in enumerate(topk)}
    per_class = {}
    for label in labels.unique().tolist():
        mask = labels == label
        row = {f"top{k}": rates[mask, i].mean().item() for i, k in enumerate(topk)}
        per_class[str(label)] = {**row, "count": int(mask.sum())}
    out["per_class"] = per_class
    return out


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1, 5)) -> dict:
    """Top-k accuracy overall and per class of logits ``[N, C]`` against labels ``[N]`` (see `summarize_hits`)."""
    return summarize_hits(topk_hits(logits, labels, topk).cpu(), labels.cpu(), topk)


def _mean_std(values: torch.Tensor) -> dict[str, float]:
    values = values.double()
    std = values.std().item() if values.numel() > 1 else 0.0
    return {"mean": values.mean().item(), "std": std}


class MetricAccumulator:
    """Collects per-sample summaries of labelled image batches; `result` turns them into the metric dict.

    Args:
        rewards: name -> `Reward`; each scores images resized to its ``input_size``.
        classifier: a module mapping ``[B, 3, H, W]`` in [0, 1] to logits ``[B, C]``; its ``features``
            method, if any, gives the feature space of the feature diversity.
        fid_extractor: images -> features ``[B, D]`` for FID (needs a reference in `result`).
        topk: accuracies to report (values above the number of classes are dropped).
        pixel_size: side of the downsampled images pixel diversity is measured on.
    """

    def __init__(
        self,
        rewards: Mapping[str, Reward] | None = None,
        classifier: nn.Module | None = None,
        fid_extractor: Callable[[torch.Tensor], torch.Tensor] | None = None,
        topk: Sequence[int] = (1, 5),
        pixel_size: int = 32,
    ) -> None:
        self.rewards = dict(rewards or {})
        self.classifier = classifier
        self.fid_extractor = fid_extractor
        self.topk = tuple(topk)
        self.pixel_size = pixel_size
        self._labels: list[torch.Tensor] = []
        self._rewards: dict[str, dict[str, list[torch.Tensor]]] = {name: {} for name in self.rewards}
        self._hits: list[torch.Tensor] = []
        self._topk_used: list[int] = list(self.topk)
        self._features: list[torch.Tensor] = []
        self._pixels: list[torch.Tensor] = []
        self._fid: list[torch.Tensor] = []

    def sample_rewards(self) -> dict[str, torch.Tensor]:
        """Each reward's total per sample so far, float ``[N]`` in the order the samples were added."""
        return {name: torch.cat(store["total"]) for name, store in self._rewards.items() if store.get("total")}

    @torch.no_grad()
    def add(self, images: torch.Tensor, labels: torch.Tensor, context: RewardContext | None = None) -> None:
        """Score a batch: images float ``[B, 3, H, W]`` in [0, 1] and their condition ids int64 ``[B]`` (class
        labels for a class model: the classifier's targets; diversity groups by them). ``context`` is what the
        rewards see (default: the labels alone)."""
        if images.dim() != 4 or labels.shape != (images.shape[0],):
            raise ValueError(
                f"images must be [B, 3, H, W] and labels [B], got {tuple(images.shape)}, "
                f"{tuple(labels.shape)}"
            )
        self._labels.append(labels.cpu())
        context = context if context is not None else RewardContext(labels=labels)
        for name, reward in self.rewards.items():
            out = reward(resize_for(images, reward.input_size), context)
            store = self._rewards[name]
            for key, value in {"total": out.total, **out.components}.items():
                store.setdefault(key, []).append(value.detach().float().cpu())
        if self.classifier is not None:
            if hasattr(self.classifier, "features") and hasattr(self.classifier, "head"):
                # TinyClassifier / ImageNetClassifier: logits = head(features), so one pass gives both
                features = self.classifier.features(images)  # [B, D]
                logits = self.classifier.head(features)  # [B, C]
            else:
                logits = self.classifier(images)  # [B, C]
                features = self.classifier.features(images) if hasattr(self.classifier, "features") else None
            self._topk_used = [k for k in self.topk if k <= logits.shape[1]]
            self._hits.append(topk_hits(logits, labels, self._topk_used).cpu())
            if features is not None:
                self._features.append(features.float().cpu())
        self._pixels.append(downsample_pixels(images, self.pixel_size).cpu())
        if self.fid_extractor is not None:
            self._fid.append(self.fid_extractor(images).double().cpu())

    def result(
        self,
        fid_reference: tuple[torch.Tensor, torch.Tensor] | None = None,
        duplicate_threshold: float = 0.02,
    ) -> dict:
        """The metric dict: ``num_samples``, ``rewards``, ``classifier`` (when given), ``diversity``, ``fid``.

        Args:
            fid_reference: ``(mu [D], sigma [D, D])`` of the FID extractor's features on reference images.
            duplicate_threshold: RMS pixel distance below which a within-class pair is a near-duplicate.
        """
        if not self._labels:
            raise ValueError("no images were added: call add(images, labels) first")
        labels = torch.cat(self._labels)  # [N]
        out: dict = {"num_samples": int(labels.numel())}
        rewards = {}
        for name, parts in self._rewards.items():
            entry = _mean_std(torch.cat(parts["total"]))
            components = {k: _mean_std(torch.cat(v)) for k, v in parts.items() if k not in ("total", name)}
            rewards[name] = {**entry, "components": components} if components else entry
        out["rewards"] = rewards
        if self._hits:
            out["classifier"] = summarize_hits(torch.cat(self._hits), labels, self._topk_used)
        pixel = pairwise_diversity(torch.cat(self._pixels), labels, threshold=duplicate_threshold)
        diversity = {
            "pixel_distance": pixel["mean_distance"],
            "near_duplicate_fraction": pixel["near_duplicate_fraction"],
            "pairs": pixel["pairs"],
        }
        if self._features:
            features = pairwise_diversity(torch.cat(self._features), labels)
            diversity["feature_distance"] = features["mean_distance"]
        out["diversity"] = diversity
        if self._fid and fid_reference is not None:  # NaN below 2 samples (no covariance)
            features = torch.cat(self._fid)  # [N, D]
            out["fid"] = fid_from_features(features, fid_reference) if len(features) > 1 else float("nan")
        return out


def evaluate_images(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    rewards: Mapping[str, Reward] | None = None,
    classifier: nn.Module | None = None,
    fid_extractor: Callable[[torch.Tensor], torch.Tensor] | None = None,
    fid_reference: tuple[torch.Tensor, torch.Tensor] | None = None,
    topk: Sequence[int] = (1, 5),
    pixel_size: int = 32,
    duplicate_threshold: float = 0.02,
) -> dict:
    """Metrics of given labelled images: ``batches`` yields ``(images [B, 3, H, W] in [0, 1], labels [B])``.

    See `MetricAccumulator` for the arguments and `MetricAccumulator.result` for the returned dict.
    """
    accumulator = MetricAccumulator(rewards, classifier, fid_extractor, topk=topk, pixel_size=pixel_size)
    for images, labels in batches:
        accumulator.add(images, labels)
    return accumulator.result(fid_reference, duplicate_threshold)
