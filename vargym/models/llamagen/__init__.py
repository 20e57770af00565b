"""The LlamaGen family (next-token prediction): the VQ tokenizer, the class-conditional GPT with the official
key names (c2i and t2i), its KV-cache sampler, presets, official checkpoint loading, `LlamaGenGenerator` (class
labels) and `LlamaGenTextGenerator` (prompts through a text encoder).

Registered as ``"llamagen"`` in `vargym.models.registry`; its glue functions live in
`vargym.models.llamagen.generator`.
"""

from vargym.models.llamagen.generator import LlamaGenGenerator, LlamaGenTextGenerator
from vargym.models.llamagen.loading import (
    load_llamagen_checkpoint,
    load_llamagen_official,
    load_llamagen_pretrained,
    save_llamagen_checkpoint,
)
from vargym.models.llamagen.presets import LLAMAGEN_PRESETS, llamagen_from_official_kwargs
from vargym.models.llamagen.transformer import LlamaGen, LlamaGenConfig, TokenSampler
from vargym.models.llamagen.vq import LlamaGenVQ, LlamaGenVQConfig

__all__ = [
    "LLAMAGEN_PRESETS", "LlamaGen", "LlamaGenConfig", "LlamaGenGenerator", "LlamaGenTextGenerator", "LlamaGenVQ", "LlamaGenVQConfig",
    "TokenSampler", "llamagen_from_official_kwargs", "load_llamagen_checkpoint", "load_llamagen_official",
    "load_llamagen_pretrained", "save_llamagen_checkpoint",
]
