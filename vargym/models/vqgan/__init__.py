"""The taming-transformers family (Esser et al. 2021, next-token prediction): the VQGAN tokenizer, the
class-conditional minGPT with the official key names, its KV-cache sampler (no classifier-free guidance),
presets, official checkpoint loading and `VQGANGenerator`.

Registered as ``"vqgan"`` in `vargym.models.registry`; its glue functions live in
`vargym.models.vqgan.generator`.
"""

from vargym.models.vqgan.generator import VQGANGenerator
from vargym.models.vqgan.loading import (
    load_vqgan_checkpoint,
    load_vqgan_official,
    load_vqgan_pretrained,
    read_project_yaml,
    save_vqgan_checkpoint,
)
from vargym.models.vqgan.presets import VQGAN_PRESETS, build_vqgan
from vargym.models.vqgan.transformer import MinGPT, MinGPTConfig, MinGPTSampler
from vargym.models.vqgan.vq import VQGAN, VQGANConfig

__all__ = [
    "VQGAN", "VQGAN_PRESETS", "MinGPT", "MinGPTConfig", "MinGPTSampler", "VQGANConfig", "VQGANGenerator",
    "build_vqgan", "load_vqgan_checkpoint", "load_vqgan_official", "load_vqgan_pretrained", "read_project_yaml",
    "save_vqgan_checkpoint",
]
