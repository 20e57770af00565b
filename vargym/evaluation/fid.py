"""FID of generated samples against reference statistics stored in an ``.npz`` (``mu``, ``sigma``).

The Fréchet distance itself is `vargym.rewards.loo_fid.frechet_distance` (float64, ``eigh`` square
roots); this module adds feature statistics, reading/writing reference files and the Inception extractor.

Reference files use the common layout of pytorch-fid, torch-fidelity and the ADM evaluation suite: an
``.npz`` with ``mu [D]`` and ``sigma [D, D]``. Note that published ImageNet statistics come from the
TF-ported "FID Inception"; the extractor here is torchvision's Inception-v3 (``IMAGENET1K_V1``), so
absolute values are comparable only with reference statistics computed by the same extractor
(`save_statistics` of `feature_statistics` on real images). Differences between models stay meaningful.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from vargym.rewards.loo_fid import frechet_distance, inception_features, sqrtm_psd

__all__ = [
    "feature_statistics",
    "fid_from_features",
    "fid_from_statistics",
    "load_inception",
    "load_statistics",
    "save_statistics",
]


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of features, as pytorch-fid computes them (``np.cov``: unbiased, N - 1).

    Args:
        features: float ``[N, D]`` with ``N >= 2``.

    Returns:
        float64 ``mu [D]`` and ``sigma [D, D]``.
    """
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be [N, D] with N >= 2, got shape {tuple(features.shape)}")
    x = features.double()
    return x.mean(0), torch.cov(x.T, correction=1).reshape(x.shape[1], x.shape[1])


def fid_from_statistics(
    mu: torch.Tensor, sigma: torch.Tensor, mu_ref: torch.Tensor, sigma_ref: torch.Tensor
) -> float:
    """``|mu - mu_r|^2 + tr(S + S_r - 2 (S_r^1/2 S S_r^1/2)^1/2)`` for ``mu [D]``, ``sigma [D, D]`` pairs."""
    dim = mu.shape[0]
    for name, value, shape in (
        ("mu", mu, (dim,)),
        ("sigma", sigma, (dim, dim)),
        ("mu_ref", mu_ref, (dim,)),
        ("sigma_ref", sigma_ref, (dim, dim)),
    ):
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} to match mu, got {tuple(value.shape)}")
    sigma_ref = sigma_ref.to(mu.device, torch.float64)
    distance = frechet_distance(
        mu.double(),
        sigma.double(),
        mu_ref.to(mu.device, torch.float64),
        sqrtm_psd(sigma_ref),
        sigma_ref.diagonal().sum(),
    )
    return float(distance)


def fid_from_features(features: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor]) -> float:
    """FID of generated features ``[N, D]`` against reference ``(mu [D], sigma [D, D])``."""
    mu, sigma = feature_statistics(features)
    mu_ref, sigma_ref = reference
    if mu_ref.shape[0] != mu.shape[0]:
        raise ValueError(f"features are {mu.shape[0]}-d but the reference statistics are {mu_ref.shape[0]}-d")
    return fid_from_statistics(mu, sigma, mu_ref, sigma_ref)


def load_statistics(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``mu``/``sigma`` (float64) from an ``.npz``; missing file or keys raise with what was found."""
    import numpy as np

    from vargym.errors import WeightsNotAvailableError

    path = Path(path)
    if not path.is_file():
        raise WeightsNotAvailableError(
            f"FID reference statistics {path} do not exist (an .npz with mu, sigma)"
        )
    with np.load(path) as data:
        missing = [key for key in ("mu", "sigma") if key not in data.files]
        if missing:
            raise ValueError(
                f"{path} lacks {missing}: FID references need arrays 'mu' [D] and 'sigma' [D, D] "
                f"(found {sorted(data.files)})"
            )
        mu, sigma = torch.from_numpy(data["mu"]).double(), torch.from_numpy(data["sigma"]).double()
    if mu.dim() != 1 or tuple(sigma.shape) != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"{path}: mu must be [D] and sigma [D, D], got {tuple(mu.shape)}, {tuple(sigma.shape)}"
        )
    return mu, sigma


def save_statistics(path: str | os.PathLike, mu: torch.Tensor, sigma: torch.Tensor) -> Path:
    """Write ``mu``/``sigma`` to an ``.npz`` readable by `load_statistics` and pytorch-fid."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, mu=mu.double().cpu().numpy(), sigma=sigma.double().cpu().numpy())
    return path


def load_inception(weights_path: str | os.PathLike | None = None) -> nn.Module:
    """torchvision Inception-v3 pool features ``[N, 2048]`` (images ``[N, 3, H, W]`` in [0, 1], any size).

    Weights come from ``weights_path`` or torch hub's cache, downloaded when absent and possible; offline
    an uncached file raises `WeightsNotAvailableError` at once naming the file and ``inception_weights=``.
    """
    if weights_path is None:
        from torchvision.models import Inception_V3_Weights

        from vargym.evaluation.weights import torchvision_weights

        weights_path = torchvision_weights(
            Inception_V3_Weights.IMAGENET1K_V1.url, option="inception_weights= (CLI: --inception-weights)"
        )
    return inception_features(weights_path)
