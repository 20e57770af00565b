"""Models: the generator interface and the model families, each a registered subpackage.

Shared pieces sit here: `Generator` and its small types (`vargym.models.generator`), conditions
(`vargym.models.conditions`), the family registry (`vargym.models.registry`), the one loading entry point
(`load_generator` / `as_generator`, `vargym.models.families`), presets of every family
(`vargym.models.presets`), attention, LoRA and model files. The families: `vargym.models.var` (VAR:
multi-scale VQ-VAE + next-scale transformer) and `vargym.models.llamagen` (LlamaGen: VQ tokenizer + next-token
GPT). Layers above this package use only the interface and the entry points; the family classes are
re-exported here for users.
"""

from vargym.models.conditions import (
    ClassConditionSource,
    ConditionField,
    ConditionSource,
    PromptCondition,
    PromptSource,
    PromptTable,
    TextField,
)
from vargym.models.families import (
    as_generator,
    load_generator,
    load_pretrained,
    model_names,
    released_weight_files,
    shipped_models,
    training_defaults,
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
from vargym.models.llamagen import (
    LLAMAGEN_PRESETS,
    LlamaGen,
    LlamaGenConfig,
    LlamaGenGenerator,
    LlamaGenTextGenerator,
    LlamaGenVQ,
    LlamaGenVQConfig,
    TokenSampler,
    llamagen_from_official_kwargs,
    load_llamagen_checkpoint,
    load_llamagen_official,
)
from vargym.models.lora import LoRAConfig, lora_disabled, merge_lora
from vargym.models.presets import build_preset, preset_configs, preset_names
from vargym.models.registry import Family, families, get_family, register_family
from vargym.models.text import T5TextEncoder, TextEncoder, clean_caption, load_text_encoder
from vargym.models.var import (
    PRESETS,
    VAR,
    VQVAE,
    ScaleSampler,
    VARConfig,
    VARGenerator,
    VQVAEConfig,
    filter_logits,
    from_official_kwargs,
    load_checkpoint,
    load_model,
    load_official,
    save_checkpoint,
)

__all__ = [
    "LLAMAGEN_PRESETS", "PRESETS", "VAR", "VQVAE", "ClassCondition", "ClassConditionSource", "Condition",
    "ConditionField", "ConditionSource", "Family", "Generator", "LlamaGen", "LlamaGenConfig", "LlamaGenGenerator",
    "LlamaGenTextGenerator", "PromptCondition", "PromptSource", "PromptTable", "T5TextEncoder", "TextEncoder",
    "TextField", "load_text_encoder",
    "LlamaGenVQ", "LlamaGenVQConfig", "LoRAConfig", "RLForward", "SamplingConfig", "ScaleSampler", "StepSampler",
    "TokenLayout", "TokenSampler", "VARConfig", "VARGenerator", "VQVAEConfig", "as_generator", "build_preset",
    "clean_caption",
    "condition_from_batch", "families", "filter_logits", "from_official_kwargs", "get_family",
    "llamagen_from_official_kwargs", "load_checkpoint", "load_generator", "load_llamagen_checkpoint",
    "load_llamagen_official", "load_model", "load_official", "load_pretrained", "lora_disabled", "merge_lora",
    "model_names", "preset_configs", "preset_names", "register_family", "released_weight_files", "save_checkpoint",
    "shipped_models", "training_defaults",
]

from vargym.moved import alias_moved_modules  # noqa: E402 -- after the package's own names

alias_moved_modules({
    "vargym.models.vqvae": "vargym.models.var.vqvae",
    "vargym.models.quantizer": "vargym.models.var.quantizer",
    "vargym.models.sampling": "vargym.models.var.sampling",
    "vargym.models.loading": "vargym.models.var.loading",
    "vargym.models.var_generator": "vargym.models.var.generator",
    "vargym.models.llamagen_vq": "vargym.models.llamagen.vq",
    "vargym.models.llamagen_presets": "vargym.models.llamagen.presets",
    "vargym.models.llamagen_loading": "vargym.models.llamagen.loading",
    "vargym.models.llamagen_generator": "vargym.models.llamagen.generator",
    "vargym.models.pretrain": "vargym.pretrain",
})
