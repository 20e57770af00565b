"""Models: the generator interface, the two families (VAR: multi-scale VQ-VAE + next-scale transformer;
LlamaGen: VQ tokenizer + next-token GPT), presets and loading.

Layers above this package use only the interface (`Generator`, `TokenLayout`, `SamplingConfig`,
`ClassCondition`) and `as_generator` / `load_generator`; the family classes are for users and loaders.
"""

from vargym.models.conditions import ClassConditionSource, ConditionField, ConditionSource
from vargym.models.families import (
    as_generator,
    load_generator,
    released_weight_files,
    shipped_models,
)
from vargym.models.generator import (
    ClassCondition,
    Condition,
    Generator,
    RLForward,
    SamplingConfig,
    StepSampler,
    TokenLayout,
    condition_from_batch,
)
from vargym.models.llamagen import LlamaGen, LlamaGenConfig, TokenSampler
from vargym.models.llamagen_generator import LlamaGenGenerator
from vargym.models.llamagen_loading import load_llamagen_checkpoint, load_llamagen_official
from vargym.models.llamagen_presets import LLAMAGEN_PRESETS, llamagen_from_official_kwargs
from vargym.models.llamagen_vq import LlamaGenVQ, LlamaGenVQConfig
from vargym.models.loading import load_checkpoint, load_model, load_official, load_pretrained, save_checkpoint
from vargym.models.lora import LoRAConfig, lora_disabled, merge_lora
from vargym.models.presets import PRESETS, build_preset, from_official_kwargs, preset_configs, preset_names
from vargym.models.sampling import ScaleSampler, filter_logits
from vargym.models.var import VAR, VARConfig
from vargym.models.var_generator import VARGenerator
from vargym.models.vqvae import VQVAE, VQVAEConfig

__all__ = [
    "LLAMAGEN_PRESETS", "LlamaGen", "LlamaGenConfig", "LlamaGenGenerator", "LlamaGenVQ", "LlamaGenVQConfig",
    "TokenSampler", "llamagen_from_official_kwargs", "load_llamagen_checkpoint", "load_llamagen_official",
    "preset_names", "LoRAConfig", "PRESETS", "VAR", "VARConfig", "VARGenerator", "VQVAE", "VQVAEConfig", "ClassCondition",
    "ClassConditionSource", "Condition", "ConditionField", "ConditionSource", "Generator", "RLForward", "SamplingConfig", "ScaleSampler", "StepSampler", "TokenLayout",
    "as_generator", "build_preset", "condition_from_batch", "filter_logits", "from_official_kwargs",
    "load_checkpoint", "load_generator", "load_model", "lora_disabled", "merge_lora", "load_official", "load_pretrained", "preset_configs",
    "released_weight_files", "save_checkpoint", "shipped_models",
]
