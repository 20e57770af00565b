"""Within-class diversity without learned perceptual metrics: mean pairwise distances and near-duplicates.

Two samples of the same class are compared in a vector space (downsampled pixels, or a classifier's
penultimate features). Distances are RMS distances ``||x - y|| / sqrt(D)``, so a pixel-space figure reads
as "mean absolute difference per pixel channel" in [0, 1] units, independent of the image size. A pair is a
near-duplicate when its RMS pixel distance is below ``threshold``; a collapsing policy drives that fraction
towards 1.

Example:
    >>> pixels = downsample_pixels(images)                  # [N, 3 * 32 * 32]
    >>> pairwise_diversity(pixels, labels, threshold=0.02)
    {'mean_distance': 0.21, 'near_duplicate_fraction': 0.0, 'pairs': 180}
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["downsample_pixels", "pairwise_diversity"]


def downsample_pixels(images: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Flattened, area-downsampled pixels: the pixel space diversity is measured in.

    Args:
        images: float ``[N, 3, H, W]`` in [0, 1].
        size: side after downsampling (images smaller than this are upsampled bilinearly).

    Returns:
        float32 ``[N, 3 * size * size]`` on the images' device.
    """
    if images.dim() != 4:
        raise ValueError(f"images must be [N, 3, H, W], got shape {tuple(images.shape)}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    x = images.float()
    if x.shape[-2:] != (size, size):
        mode = "area" if min(x.shape[-2:]) >= size else "bilinear"
        x = F.interpolate(x, size=(size, size), mode=mode)  # [N, 3, size, size]
    return x.flatten(1)  # [N, 3 * size * size]


def pairwise_diversity(
    vectors: torch.Tensor, labels: torch.Tensor, threshold: float | None = None
) -> dict[str, float]:
    """Mean RMS distance over all within-class pairs ``i < j`` (pooled over classes).

    Args:
        vectors: float ``[N, D]`` (pixels from `downsample_pixels`, or classifier features).
        labels: int64 ``[N]``; only pairs with equal labels are compared.
        threshold: when given, also report the fraction of pairs with RMS distance below it.

    Returns:
        ``{"mean_distance", "min_distance", "pairs"}`` plus ``"near_duplicate_fraction"`` when
        ``threshold`` is given. With no within-class pair the distances and fraction are NaN and ``pairs`` is 0.
    """
    if vectors.dim() != 2 or labels.shape != (vectors.shape[0],):
        raise ValueError(
            f"vectors must be [N, D] and labels [N], got {tuple(vectors.shape)} and {tuple(labels.shape)}"
        )
    if threshold is not None and threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    vectors = vectors.double()
    scale = vectors.shape[1] ** 0.5
    distances = []
    for label in labels.unique():
        group = vectors[labels == label]  # [n, D]
        if group.shape[0] < 2:
            continue
        upper = torch.triu_indices(group.shape[0], group.shape[0], offset=1, device=group.device)  # [2, P]
        # cdist's matmul shortcut loses precision for nearly equal rows; the difference form is exact.
        dist = (group[upper[0]] - group[upper[1]]).norm(dim=1) / scale  # [P]
        distances.append(dist)
    if not distances:
        out = {"mean_distance": float("nan"), "min_distance": float("nan"), "pairs": 0}
        if threshold is not None:
            out["near_duplicate_fraction"] = float("nan")
        return out
    all_dist = torch.cat(distances)  # [P_total]
    out = {"mean_distance": all_dist.mean().item(), "min_distance": all_dist.min().item(),
           "pairs": int(all_dist.numel())}
    if threshold is not None:
        out["near_duplicate_fraction"] = (all_dist < threshold).double().mean().item()
    return out
