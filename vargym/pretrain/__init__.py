"""Pretraining a generator family from scratch (today: the VAR family's VQ-VAE, decoder and transformer, and
the tiny classifier that `vargym eval` uses), as ``vargym pretrain`` runs it.

Example:
    >>> from vargym.pretrain import PretrainConfig, run_pretrain
    >>> run_pretrain(PretrainConfig(out="runs/pretrain", vqvae_steps=100, var_steps=100))

Names load lazily, so ``vargym pretrain --help`` stays free of torch.
"""

from __future__ import annotations

from vargym.lazy import lazy_getattr

_LAZY = {
    "PretrainConfig": "vargym.pretrain.config",
    "run_pretrain": "vargym.pretrain.stages",
    "rich_progress": "vargym.pretrain.stages",
}

__all__ = sorted(_LAZY)

__getattr__ = lazy_getattr("vargym.pretrain", _LAZY)
