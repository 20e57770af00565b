"""FID of generated samples against reference statistics stored in an ``.npz`` (``mu``, ``sigma``).

The Fréchet distance itself is `vargym.rewards.loo_fid.frechet_distance` (float64, ``eigh`` square
roots); this module adds feature statistics, reading/writing reference files and the Inception extractor.

Reference files use the common layout of pytorch-fid, torch-fidelity and the ADM evaluation suite: an
``.npz`` with ``mu [D]`` and ``sigma [D, D]``. The extractor is the standard TF-ported "FID Inception"
(torch-fidelity's module and weights, `vargym.rewards.inception`), the one behind published numbers
(VAR's and LlamaGen's ImageNet FIDs use the ADM suite's reference batch, whose ``mu``/``sigma`` load here).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from vargym.rewards.loo_fid import frechet_distance, sqrtm_psd

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
    """The standard FID Inception: images ``[N, 3, H, W]`` in [0, 1], any size -> pool features ``[N, 2048]``.

    Weights come from ``weights_path`` or torch hub's cache, downloaded when absent and possible; offline
    an uncached file raises `WeightsNotAvailableError` at once naming the file and ``--inception-weights``.
    Needs torch-fidelity (``pip install 'vargym[fid]'``).
    """
    from vargym.rewards.inception import fid_inception

    return fid_inception(weights_path)
