"""The VAR family (next-scale prediction): the multi-scale VQ-VAE, the VAR transformer with the official key
names, its KV-cache sampler, presets, official checkpoint loading, and `VARGenerator`, its `Generator`.

Registered as ``"var"`` in `vargym.models.registry`; its glue functions live in `vargym.models.var.generator`.
"""

from vargym.models.var.generator import VARGenerator
from vargym.models.var.loading import (
    load_checkpoint,
    load_model,
    load_official,
    load_var_pretrained,
    save_checkpoint,
)
from vargym.models.var.presets import OFFICIAL_VQVAE, PRESETS, RELEASED_PRESETS, from_official_kwargs
from vargym.models.var.sampling import ScaleSampler, filter_logits
from vargym.models.var.transformer import VAR, KVCache, VARConfig
from vargym.models.var.vqvae import VQVAE, VQVAEConfig

__all__ = [
    "OFFICIAL_VQVAE", "PRESETS", "RELEASED_PRESETS", "VAR", "VQVAE", "KVCache", "ScaleSampler", "VARConfig",
    "VARGenerator", "VQVAEConfig", "filter_logits", "from_official_kwargs", "load_checkpoint", "load_model",
    "load_official", "load_var_pretrained", "save_checkpoint",
]
