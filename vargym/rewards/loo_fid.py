"""``"loo-fid"``: the distribution-level Leave-One-Out FID reward (Baran, Kandemir, Cinbis 2026).

The generated distribution is tracked as an exponential moving average of the feature mean ``m``
and second moment ``M`` (``Sigma = M - m m^T``). For a batch of B features, "with all" statistics
update the EMA with the whole batch, "without i" with the batch minus sample i. The reward of
sample i is ``FID(ref, without i) - FID(ref, with all)``: positive when including the sample moves
the generated statistics towards the reference, e.g. by adding the diversity/coverage a collapsing
policy lacks. After scoring, the EMA is updated with the full batch.

Reference statistics ``(mu_r, Sigma_r)``: given (a tuple or an ``.npz`` with ``mu``/``sigma``, as
pytorch-fid/ADM write them), or, when None, frozen from the features of the first batch scored
(the pretrained model's own distribution: the reward then fights drift away from it).
All statistics are float64; the matrix square root goes through ``eigh``/``eigvalsh``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.registry import register

__all__ = ["LOOFIDReward", "frechet_distance", "pooled_features", "sqrtm_psd"]


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric PSD matrix ``[D, D]`` via ``eigh`` (negative eigenvalues clamped to 0)."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(
    mu: torch.Tensor,
    sigma: torch.Tensor,
    mu_ref: torch.Tensor,
    sigma_ref_sqrt: torch.Tensor,
    trace_ref: torch.Tensor,
) -> torch.Tensor:
    """FID ``|mu - mu_r|^2 + tr S + tr S_r - 2 tr sqrt(S_r^1/2 S S_r^1/2)`` (float64 scalar).

    Args:
        mu, sigma: statistics ``[D]``, ``[D, D]``.
        mu_ref: reference mean ``[D]``; sigma_ref_sqrt: `sqrtm_psd` of the reference covariance;
            trace_ref: its trace.
    """
    inner = sigma_ref_sqrt @ sigma @ sigma_ref_sqrt  # [D, D], symmetric PSD
    root_trace = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()
    return (mu - mu_ref).square().sum() + sigma.diagonal().sum() + trace_ref - 2 * root_trace


def pooled_features(images: torch.Tensor) -> torch.Tensor:
    """Weight-free default features: 4x4 average-pooled RGB, ``[N, 3, H, W] -> [N, 48]``."""
    return F.adaptive_avg_pool2d(images, 4).flatten(1)


@register("loo-fid")
class LOOFIDReward(Reward):
    """Leave-One-Out FID reward (see the module docstring). Needs batches of at least 2 images.

    Args:
        feature_extractor: ``"pooled"`` (weight-free default), ``"inception"`` (the standard FID
            Inception of torch-fidelity, 2048-d: `vargym.rewards.inception`), or a callable
            ``images [N, 3, H, W] -> [N, D]`` (an ``nn.Module`` is registered and moves with the reward).
        reference: ``(mu [D], sigma [D, D])``, a path to an ``.npz`` with ``mu``/``sigma``, or None.
        ema_decay: weight of the old statistics in each EMA update, in [0, 1).
        inception_weights_path: local FID Inception weights for ``"inception"`` (torch-fidelity's file).
    """

    _STATE = ("ref_mean", "ref_sqrt", "ref_trace", "ema_mean", "ema_second")

    def __init__(
        self,
        feature_extractor: str | Callable[[torch.Tensor], torch.Tensor] = "pooled",
        reference: tuple[torch.Tensor, torch.Tensor] | str | os.PathLike | None = None,
        ema_decay: float = 0.9,
        inception_weights_path: str | os.PathLike | None = None,
    ) -> None:
        super().__init__(name="loo-fid")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        self.ema_decay = float(ema_decay)
        if feature_extractor == "pooled":
            self.features: Callable = pooled_features
        elif feature_extractor == "inception":
            from vargym.rewards.inception import fid_inception

            self.features = fid_inception(inception_weights_path)
        elif callable(feature_extractor):
            self.features = feature_extractor
        else:
            raise ValueError(
                f"feature_extractor must be 'pooled', 'inception' or a callable, got {feature_extractor!r}"
            )
        for name in self._STATE:
            self.register_buffer(name, torch.zeros(0, dtype=torch.float64))
        if reference is not None:
            self.set_reference(*self._read_reference(reference))

    @staticmethod
    def _read_reference(reference) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(reference, (str, os.PathLike)):
            import numpy as np

            with np.load(reference) as data:
                return torch.from_numpy(data["mu"]), torch.from_numpy(data["sigma"])
        mu, sigma = reference
        return torch.as_tensor(mu), torch.as_tensor(sigma)

    def set_reference(self, mu: torch.Tensor, sigma: torch.Tensor) -> None:
        """Set the reference statistics ``mu [D]``, ``sigma [D, D]`` (precomputes ``sqrt(sigma)``)."""
        if mu.dim() != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
            raise ValueError(
                f"reference must be mu [D] and sigma [D, D], got {tuple(mu.shape)}, {tuple(sigma.shape)}"
            )
        device = self.ref_mean.device
        sigma = sigma.to(device, torch.float64)
        self.ref_mean = mu.to(device, torch.float64)
        self.ref_sqrt = sqrtm_psd(sigma)
        self.ref_trace = sigma.diagonal().sum()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in self._STATE:  # lazily sized buffers: take the saved shapes before copying
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=self.ref_mean.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        batch = images.shape[0]
        if batch < 2:
            raise ValueError(f"loo-fid needs at least 2 images per call, got {batch}")
        phi = self.features(images).to(self.ref_mean.device, torch.float64)  # [B, D]
        if phi.dim() != 2 or phi.shape[0] != batch:
            raise ValueError(f"feature extractor returned shape {tuple(phi.shape)}, expected [{batch}, D]")
        if self.ref_mean.numel() == 0:
            self.set_reference(phi.mean(0), torch.cov(phi.T, correction=0).reshape(phi.shape[1], -1))
        if self.ref_mean.shape[0] != phi.shape[1]:
            raise ValueError(f"features are {phi.shape[1]}-d but the reference is {self.ref_mean.shape[0]}-d")
        outer = phi[:, :, None] * phi[:, None, :]  # [B, D, D]
        mean_all, second_all = phi.mean(0), outer.mean(0)  # [D], [D, D]
        mean_loo = (batch * mean_all - phi) / (batch - 1)  # [B, D]
        second_loo = (batch * second_all - outer) / (batch - 1)  # [B, D, D]
        if self.ema_mean.numel() > 0:
            d = self.ema_decay
            mean_all, second_all = (
                d * self.ema_mean + (1 - d) * mean_all,
                d * self.ema_second + (1 - d) * second_all,
            )
            mean_loo, second_loo = (
                d * self.ema_mean + (1 - d) * mean_loo,
                d * self.ema_second + (1 - d) * second_loo,
            )

        def fid(mean: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
            sigma = second - torch.outer(mean, mean)
            return frechet_distance(mean, sigma, self.ref_mean, self.ref_sqrt, self.ref_trace)

        fid_all = fid(mean_all, second_all)
        rewards = torch.stack([fid(mean_loo[i], second_loo[i]) for i in range(batch)]) - fid_all  # [B]
        self.ema_mean, self.ema_second = mean_all, second_all
        return rewards.float()
