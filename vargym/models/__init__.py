"""Models: the multi-scale VQ-VAE, the VAR transformer, presets and checkpoint loading."""

from vargym.models.loading import load_checkpoint, load_model, load_official, load_pretrained, save_checkpoint
from vargym.models.presets import PRESETS, build_preset, from_official_kwargs, preset_configs
from vargym.models.sampling import ScaleSampler, filter_logits
from vargym.models.var import VAR, VARConfig
from vargym.models.vqvae import VQVAE, VQVAEConfig

__all__ = [
    "PRESETS", "VAR", "VARConfig", "VQVAE", "VQVAEConfig", "ScaleSampler", "build_preset", "filter_logits",
    "from_official_kwargs", "load_checkpoint", "load_model", "load_official", "load_pretrained", "preset_configs",
    "save_checkpoint",
]
